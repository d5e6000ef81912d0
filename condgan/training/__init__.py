"""Training loop, checkpoints, summaries and the command-line entry points.

This is the application layer: importing it quiets TensorFlow's C++ start-up
logging (CUDA probing, oneDNN notices) unless TF_CPP_MIN_LOG_LEVEL is set.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
