"""Training loop, checkpoints, summaries, inference helpers, benchmarks and the command-line
entry points.

This is the application layer (`condgan/__init__.py` says where the library ends): it
imports the library, and nothing outside it imports it (tests/test_import_graph.py).
Importing it quiets TensorFlow's C++ start-up logging (CUDA probing, oneDNN notices)
unless TF_CPP_MIN_LOG_LEVEL is set or `--verbosity` asks for it (`condgan._cli`).
"""

from condgan import _cli  # noqa: F401  (sets TF_CPP_MIN_LOG_LEVEL before TensorFlow loads)
