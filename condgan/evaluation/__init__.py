"""Scoring classifier and the collapse / quality metrics of DESIGN.md."""
