"""Alias of `condgan._cli` (the absl entry glue), kept for code that imports it from here."""

from condgan._cli import run  # noqa: F401
