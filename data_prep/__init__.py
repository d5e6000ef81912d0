"""Dataset preparation: importers, the procedural default set, the text encoder build.

Application layer (CLIs): importing it quiets TensorFlow's C++ start-up logging
unless TF_CPP_MIN_LOG_LEVEL is set or `--verbosity` asks for it (`condgan._cli`).

Its one import name is `condgan.data_prep`: setup.cfg maps that package to this
top-level folder (`package_dir`), in the wheel and in an editable install alike.
"""

from condgan import _cli  # noqa: F401  (sets TF_CPP_MIN_LOG_LEVEL before TensorFlow loads)
