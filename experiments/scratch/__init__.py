"""Probes and timings that reproduce numbers the docs quote (README.md here lists them)."""
