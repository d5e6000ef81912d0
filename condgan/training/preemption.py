"""Preemption: SIGTERM (and Ctrl-C) become "checkpoint now and stop".

A scheduler that preempts a job sends SIGTERM and, a grace period later,
SIGKILL. The training loop must then save what it has and exit 0, wherever it
is. Python runs signal handlers in the main thread between bytecodes, never in
the middle of a TensorFlow op, so a handler cannot break a step in two; what it
must not do is unwind a step's bookkeeping at a random point once there is
unsaved training state. Hence two modes, switched by the loop:

- `immediate` (the default: set-up, data pipeline start, the first trace of the
  step function): nothing would be lost by stopping, so the handler raises
  `Stopped` at once and set-up is abandoned.
- otherwise: the handler only records the request; the loop sees it at the next
  step boundary, checks the state is finite, checkpoints and returns normally.

In immediate mode `Stopped` is raised into whatever Python code the main thread
runs, TensorFlow's own included (tracing a `tf.function` or a tf.data function
runs much Python), and that code need not let it through as it is: when the
handler runs while pybind11 builds the Python exception of a failed C++ call
(tracing makes such calls as a matter of course, e.g. `Operation.get_attr` of an
absent attribute), pybind11 raises RuntimeError("... MISMATCH of original and
normalized active exception types ... REPLACED BY Stopped ...") instead (CI
saw that exit 1); autograph re-raises errors of converted code with its own
message; a handler run inside a `__del__` or weakref callback is only printed
("Exception ignored in ...") and lost. So whoever ends set-up on an exception
asks `stop_signum`: once the handler has raised, any exception that escapes
set-up is the stop, whatever it became (`stops_recognised` re-raises it as
`Stopped`); a lost one leaves the request recorded, and the loop honours it at
its first step boundary.

A second signal always raises KeyboardInterrupt (an impatient Ctrl-C Ctrl-C).

This module imports nothing heavy, so a CLI can install the handler before
TensorFlow is imported.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator, Sequence

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Stopped(BaseException):
    """Raised by the handler in immediate mode (a BaseException, like KeyboardInterrupt,
    so that `except Exception` clauses in libraries do not swallow it)."""

    def __init__(self, signum: int):
        super().__init__(f"stopped by {signal_name(signum)}")
        self.signum = signum


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class StopRequest:
    """The state shared by the signal handler and the training loop.

    Attributes:
      signum: the first signal received, or None.
      immediate: raise `Stopped` from the handler (True) or only record the
        request for the loop to honour at the next step boundary (False).
    """

    def __init__(self, immediate: bool = True):
        self.signum: int | None = None
        self.immediate = immediate

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def request(self, signum: int) -> None:
        """What the handler does; callable directly (tests, other front ends)."""
        if self.signum is not None:
            raise KeyboardInterrupt(f"second signal ({signal_name(signum)}): stopping at once")
        self.signum = signum
        if self.immediate:
            raise Stopped(signum)

    def __call__(self, signum, frame) -> None:  # the signal.signal handler
        self.request(signum)


def stop_signum(error: BaseException, stop: StopRequest | None) -> int | None:
    """The signal number if `error` is the stop, else None (an error of its own).

    `error` is the stop if it is a `Stopped`, or any other Exception raised while
    `stop` holds a request made in immediate mode, i.e. after the handler raised
    `Stopped` into the running code: TensorFlow may have turned it into that error
    (see the module's note). KeyboardInterrupt and SystemExit are never the stop.
    """
    if isinstance(error, Stopped):
        return error.signum
    if isinstance(error, Exception) and stop is not None and stop.requested and stop.immediate:
        return stop.signum
    return None


@contextlib.contextmanager
def stops_recognised(stop: StopRequest | None) -> Iterator[None]:
    """Re-raises an exception of the block that is the stop (`stop_signum`) as `Stopped`
    (chained to what TensorFlow made of it); other exceptions pass unchanged."""
    try:
        yield
    except Exception as e:
        signum = stop_signum(e, stop)
        if signum is None:
            raise
        raise Stopped(signum) from e


@contextlib.contextmanager
def stop_on_signals(stop: StopRequest | None = None,
                    signals: Sequence[int] = STOP_SIGNALS) -> Iterator[StopRequest]:
    """Routes `signals` to `stop` inside the block; restores the old handlers after.

    Off the main thread (where Python cannot install handlers) the request is
    yielded unconnected: only `stop.request` called by hand sets it.
    """
    stop = stop or StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {s: signal.signal(s, stop) for s in signals}
    try:
        yield stop
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
