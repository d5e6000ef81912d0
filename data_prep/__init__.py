"""Dataset preparation: importers, the procedural default set, the text encoder build.

Application layer (CLIs): importing it quiets TensorFlow's C++ start-up logging
unless TF_CPP_MIN_LOG_LEVEL is set or `--verbosity` asks for it (`condgan._cli`).

Installed, this package is `condgan.data_prep` (the wheel holds only `condgan`;
`condgan/data_prep` is a link to this folder in the repository); from the
repository's root it is also importable as `data_prep`.
"""

import sys

from condgan import _cli  # noqa: F401  (sets TF_CPP_MIN_LOG_LEVEL before TensorFlow loads)

if __name__ == "condgan.data_prep":
    # Transitional: prepare.py and importers.py still import `data_prep.<module>`
    # absolutely, a name that exists only in a source checkout. Until they use
    # relative imports, let that name mean this package. Remove this then.
    sys.modules.setdefault("data_prep", sys.modules[__name__])
