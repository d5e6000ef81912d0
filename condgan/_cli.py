"""Entry glue of condgan's absl command-line tools (condgan-*, data_prep), and their quiet logging.

Two jobs, shared by the CLIs of `condgan.training` and of `data_prep` (so that
`data_prep` depends on the library only, never on `condgan.training`):

1. Quiet by default. Importing this module, before TensorFlow is imported, sets
   `TF_CPP_MIN_LOG_LEVEL` so that TensorFlow's C++ start-up chatter (the
   cuFFT / cuDNN / cuBLAS "Unable to register factory" errors, the oneDNN
   notices) stays off (TF >= 2.18 writes some of them before its log reads the
   level: an import hook filters those, see `install_quiet_import_hook`); `run`
   then keeps absl's and TensorFlow's Python INFO
   lines off (absl would raise its verbosity to INFO after parsing flags). A
   tool's own lines (stages, progress, warnings that matter, output paths) are
   `print`s and are not affected. `--verbosity=N` / `-v N` asks for the logs:

   | --verbosity     | absl / Python logs | TF C++ logs (TF_CPP_MIN_LOG_LEVEL) |
   |-----------------|--------------------|------------------------------------|
   | not given       | absl WARNING, TF's | none (3)                           |
   |                 | Python logger ERROR|                                    |
   | -3 / -2         | FATAL / ERROR      | 3 / 2                              |
   | -1              | WARNING            | 1 (warnings and errors)            |
   | 0 (INFO), >= 1  | INFO / DEBUG       | 0 (everything)                     |

   A `TF_CPP_MIN_LOG_LEVEL` already in the environment is kept unless
   `--verbosity` is given. The level is read from `sys.argv` at import because
   TensorFlow reads it once, when it is loaded, long before absl parses flags.

2. `run`: a console script (`condgan-train`, ...) runs a generated wrapper as
   `__main__`, so absl's `--help` would show neither the tool's usage text (the
   wrapper's docstring) nor its flags (they belong to the tool's module). `run`
   fixes both, for `python -m ...` as well.

Import it (`from condgan import _cli`) before anything that imports TensorFlow;
`condgan.training` and `data_prep` do so in their `__init__`.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import logging as _py_logging
import os
import re
import sys
import tempfile
from typing import Callable, Iterator, Sequence

from absl import app, flags, logging

ENV_VAR = "TF_CPP_MIN_LOG_LEVEL"
# TF_CPP_MIN_LOG_LEVEL when --verbosity is not given: no C++ log line at all.
QUIET_TF_CPP_LEVEL = "3"


def argv_verbosity(argv: Sequence[str]) -> int | None:
    """The value of `--verbosity` / `-v` in `argv` as absl parses it, or None if absent.

    Accepts `--verbosity=N`, `--verbosity N`, `-v=N`, `-v N`, `--v=N`, and the
    level names absl accepts (debug, info, warning, error, fatal). The last
    occurrence wins; anything after a bare `--` is not a flag. An unparsable
    value gives None here (absl then reports it as a usage error).
    """
    found = None
    args = list(argv[1:])
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            break
        value = None
        for name in ("--verbosity", "-verbosity", "--v", "-v"):
            if arg == name:
                value = args[i + 1] if i + 1 < len(args) else None
                i += 1
                break
            if arg.startswith(name + "="):
                value = arg[len(name) + 1:]
                break
        if value is not None:
            parsed = _parse_level(value)
            if parsed is not None:
                found = parsed
        i += 1
    return found


def tf_cpp_level(verbosity: int) -> str:
    """TF_CPP_MIN_LOG_LEVEL for an absl verbosity (see the module's table)."""
    if verbosity >= 0:
        return "0"
    return str(min(3, -verbosity))


def configure_tf_cpp_logging(argv: Sequence[str] | None = None) -> None:
    """Sets TF_CPP_MIN_LOG_LEVEL from `--verbosity` in argv, else quiet unless already set."""
    verbosity = argv_verbosity(sys.argv if argv is None else argv)
    if verbosity is not None:
        os.environ[ENV_VAR] = tf_cpp_level(verbosity)
    else:
        os.environ.setdefault(ENV_VAR, QUIET_TF_CPP_LEVEL)


def _parse_level(value: str) -> int | None:
    names = {"debug": 1, "info": 0, "warning": -1, "warn": -1, "error": -2, "fatal": -3}
    value = value.strip().lower()
    if value in names:
        return names[value]
    try:
        return int(value)
    except ValueError:
        return None


configure_tf_cpp_logging()


# TensorFlow >= 2.18 logs its start-up notices (oneDNN, CUDA drivers, CPU features) through
# absl's C++ log before that log is initialised, which ignores TF_CPP_MIN_LOG_LEVEL; the
# import hook below (installed with the level, when this module is imported) drops them by
# their severity letter (absl's "I0000 00:00:..." prefix) as the level would.
_ABSL_UNINITIALISED = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
_ABSL_LINE = re.compile(r"^([IWEF])\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\] ")
_CPU_GUARD_TAIL = re.compile(r"^To enable the following instructions: .* rebuild TensorFlow with "
                             r"the appropriate compiler flags\.$")
_SEVERITY = {"I": 0, "W": 1, "E": 2, "F": 3}


def filter_startup_lines(lines: Sequence[str], level: int) -> list[str]:
    """The lines of TensorFlow's start-up output that TF_CPP_MIN_LOG_LEVEL=`level` keeps.

    absl-formatted lines below `level` go (FATAL ones always stay), and with them absl's
    "before InitializeLog" notice (level >= 1) and the continuation of a dropped CPU-feature
    notice; any other line stays, in order.
    """
    out, dropped_last = [], False
    for line in lines:
        match = _ABSL_LINE.match(line)
        if match:
            dropped_last = _SEVERITY[match.group(1)] < min(level, 3)
        elif line.rstrip("\n") == _ABSL_UNINITIALISED:
            dropped_last = level >= 1
        elif dropped_last and _CPU_GUARD_TAIL.match(line.rstrip("\n")):
            dropped_last = True
        else:
            dropped_last = False
        if not dropped_last:
            out.append(line)
    return out


def _tf_cpp_level() -> int:
    raw = os.environ.get(ENV_VAR, "0").strip()
    return int(raw) if raw.isdigit() else 0


@contextlib.contextmanager
def filtered_fd2(level: int) -> Iterator[None]:
    """Sends file descriptor 2 to a temporary file for the block; afterwards writes back to
    stderr the lines `filter_startup_lines` keeps at `level`, also when the block raises."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = filter_startup_lines(
                captured.read().decode("utf-8", errors="replace").splitlines(keepends=True), level)
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


class _FilteredLoader(importlib.abc.Loader):
    """The real loader of the tensorflow package, its module executed under `filtered_fd2`."""

    def __init__(self, loader, level: int):
        self._loader, self._level = loader, level

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        with filtered_fd2(self._level):
            self._loader.exec_module(module)

    def __getattr__(self, name):  # get_code, get_resource_reader, ...: the real loader's
        return getattr(self._loader, name)


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` once, as the other finders do, and wraps its loader: the import
    runs wherever the program first makes it (inside a CLI's own error handling, e.g. of a
    SIGTERM during set-up), with its C++ start-up output filtered."""

    def __init__(self, level: int):
        self.level = level

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        remove_quiet_import_hook()
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _FilteredLoader(spec.loader, self.level)
        return spec


def install_quiet_import_hook() -> bool:
    """Filters TensorFlow's start-up output by TF_CPP_MIN_LOG_LEVEL when it is imported.

    Does nothing (False) if TensorFlow is already imported or the level is 0.
    """
    level = _tf_cpp_level()
    if "tensorflow" in sys.modules or level <= 0:
        return False
    remove_quiet_import_hook()
    sys.meta_path.insert(0, _QuietTensorFlowImport(level))
    return True


def remove_quiet_import_hook() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _QuietTensorFlowImport)]


def quiet_python_logs() -> None:
    """Quiet Python logs unless --verbosity was given: absl at WARNING, TensorFlow's at ERROR.

    absl WARNING keeps the tools' own warnings (e.g. condgan-prepare's skipped
    files); TensorFlow's Python logger is held at ERROR because its warnings
    are internals a user cannot act on (e.g. one line per unrestored variable
    when a checkpoint is read partly). Call after absl has parsed the flags
    (inside `main`); `run` does.
    """
    if flags.FLAGS.is_parsed() and flags.FLAGS["verbosity"].present:
        return
    logging.set_verbosity(logging.WARNING)
    _py_logging.getLogger("tensorflow").setLevel(_py_logging.ERROR)


def run(main: Callable[[list[str]], object], define_flags: Callable[[], None],
        module_name: str, doc: str | None) -> None:
    """Defines the tool's flags, makes `--help` show them and its usage, runs `main` quietly.

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

    def quiet_main(argv):
        quiet_python_logs()
        return main(argv)

    app.run(quiet_main)


install_quiet_import_hook()
