"""Dataset preparation: importers, the procedural default set, the text encoder build.

Application layer (CLIs): importing it quiets TensorFlow's C++ start-up logging
unless TF_CPP_MIN_LOG_LEVEL is set.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
