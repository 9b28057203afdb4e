"""SIGINT and SIGTERM stop the whole command line, also when a Dagster run's own handler caught the signal
(podcast_assets/cli/interrupts.py). The crash sweep (tests/test_crash_sweep.py) sends SIGTERM to a real
`podcast-assets train`; these pin the two ways a signal reaches a run, one at a time."""

from __future__ import annotations

import os
import signal

import dagster as dg
import pytest

from podcast_assets.cli.interrupts import Stopped, execute, raise_if_signalled, stop_on_signals


def test_a_signal_a_run_handler_swallowed_still_stops_the_command():
    with stop_on_signals():
        swallowed = []
        ours = signal.signal(signal.SIGTERM, lambda signum, _frame: swallowed.append(signum))  # as a run does
        os.kill(os.getpid(), signal.SIGTERM)
        signal.signal(signal.SIGTERM, ours)
        assert swallowed == [signal.SIGTERM]
        with pytest.raises(Stopped) as stop:
            raise_if_signalled()
        assert stop.value.exit_code == 143 and str(stop.value) == "SIGTERM"
        raise_if_signalled()  # seen once


def test_a_signal_during_a_step_fails_the_run_and_stops_before_the_next():
    @dg.op
    def interrupted_step():
        os.kill(os.getpid(), signal.SIGINT)

    @dg.job
    def one_step():
        interrupted_step()

    with stop_on_signals(), dg.DagsterInstance.ephemeral() as instance:
        with pytest.raises(Stopped) as stop:
            execute(one_step, instance=instance, raise_on_error=False)
        [run] = instance.get_runs()
        assert run.status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)
    assert stop.value.exit_code == 130


def test_outside_a_run_a_signal_stops_at_once_and_the_handlers_are_put_back():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Stopped), stop_on_signals():
        os.kill(os.getpid(), signal.SIGTERM)
        signal.pause()  # not reached: the handler raises first
    assert signal.getsignal(signal.SIGTERM) is before
