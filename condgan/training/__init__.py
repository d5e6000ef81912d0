"""Training loop, checkpoints, summaries and the command-line entry points."""
