"""Dataset preparation: importers, the procedural default set, the text encoder build.

Application layer (CLIs): importing it quiets TensorFlow's C++ start-up logging
unless TF_CPP_MIN_LOG_LEVEL is set or `--verbosity` asks for it (`condgan._cli`).

Installed, this package is `condgan.data_prep` (the wheel holds only `condgan`;
`condgan/data_prep` is a link to this folder in the repository); from the
repository's root it is also importable as `data_prep`.
"""

from condgan import _cli  # noqa: F401  (sets TF_CPP_MIN_LOG_LEVEL before TensorFlow loads)
