"""The one entry point of condgan's absl command-line tools.

A console script (`condgan-train`, ...) runs a generated wrapper as `__main__`,
so absl's `--help` would show neither the tool's usage text (the wrapper's
docstring) nor its flags (they belong to the tool's module, not to the main
one). `run` fixes both, for `python -m ...` as well.
"""

from __future__ import annotations

import sys
from typing import Callable

from absl import app, flags


def run(main: Callable[[list[str]], object], define_flags: Callable[[], None],
        module_name: str, doc: str | None) -> None:
    """Defines the tool's flags, makes `--help` show them and its usage, runs `main`.

    Args:
      main: the tool's `main(argv)` (raises `app.UsageError` on bad arguments).
      define_flags: defines the tool's absl flags (called once, here).
      module_name: `__name__` of the module whose `define_flags` defines the flags.
      doc: the tool's usage text (its module docstring).
    """
    define_flags()
    sys.modules["__main__"].__doc__ = doc
    for flag in flags.FLAGS.get_flags_for_module(module_name):
        flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)
    app.run(main)
