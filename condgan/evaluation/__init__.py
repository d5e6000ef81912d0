"""Scoring classifier and the collapse / quality metrics (docs/design.md, docs/metrics.md)."""
