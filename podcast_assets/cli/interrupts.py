"""Ctrl-C and SIGTERM stop the whole command, not only the run under way.

Dagster's `execute_in_process` swaps its own handler in for SIGINT and SIGTERM while a run executes: a signal
during a step fails that run, and one that lands after the run's last step is only noted and then forgotten
when the run ends. Left alone, `podcast-assets train` would carry on with the next pair, the aggregate and the
trials. So the command line installs a handler of its own for both signals, and a wakeup pipe the interpreter
writes every caught signal's number to whichever handler is installed; `execute` runs a job, then reads the
pipe and stops if either signal came (`materialize` does the same for `dagster.materialize`). Finished work
is kept (it is cached), and the same command resumes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_pipe: dict[str, int] = {}


class Stopped(Exception):
    """The command was asked to stop by `signum`."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def _raise_stopped(signum: int, _frame) -> None:
    raise Stopped(signum)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within this block SIGINT and SIGTERM raise `Stopped`, at once outside a Dagster run and once the run
    returns inside one (see `execute`). Outside the main thread signals cannot be handled: nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    read, write = os.pipe()
    os.set_blocking(read, False)
    os.set_blocking(write, False)
    previous = {sig: signal.signal(sig, _raise_stopped) for sig in STOP_SIGNALS}
    previous_fd = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    _pipe["read"] = read
    try:
        yield
    finally:
        signal.set_wakeup_fd(previous_fd)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _pipe.clear()
        os.close(read)
        os.close(write)


def raise_if_signalled() -> None:
    """Raise `Stopped` if SIGINT or SIGTERM arrived since the last look (a Dagster run's handler may have
    swallowed it)."""
    if "read" not in _pipe:
        return
    caught = b""
    with contextlib.suppress(BlockingIOError):
        while chunk := os.read(_pipe["read"], 512):
            caught += chunk
    for signum in caught:
        if signum in STOP_SIGNALS:
            raise Stopped(signum)


def execute(job, **kwargs):
    """`job.execute_in_process(**kwargs)`, then stop if a signal came while it ran."""
    result = job.execute_in_process(**kwargs)
    raise_if_signalled()
    return result


def materialize(assets, **kwargs):
    """`dagster.materialize(assets, **kwargs)`, then stop if a signal came while it ran."""
    import dagster as dg

    result = dg.materialize(assets, **kwargs)
    raise_if_signalled()
    return result
