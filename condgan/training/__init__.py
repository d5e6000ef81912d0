"""Training loop, checkpoints, summaries and the command-line entry points.

This is the application layer: importing it quiets TensorFlow's C++ start-up
logging (CUDA probing, oneDNN notices) unless TF_CPP_MIN_LOG_LEVEL is set or
`--verbosity` asks for it (`condgan._cli`).
"""

from condgan import _cli  # noqa: F401  (sets TF_CPP_MIN_LOG_LEVEL before TensorFlow loads)
