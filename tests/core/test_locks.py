"""The lock of one writer per folder, held by real processes: a second one is refused with the holder named, or
waits for it with `wait`; a holder killed with SIGKILL blocks nobody."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from podcast_assets.core.locks import LOCK_NAME, LockHeld, exclusive

HOLD = """
import sys, time
from pathlib import Path
from podcast_assets.core.locks import exclusive
with exclusive(Path(sys.argv[1]), command="podcast-assets train --max-trials 3", what="the artifact root"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def holder(folder: Path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_writer_is_refused_with_the_holder_named(tmp_path):
    proc = holder(tmp_path, 30)
    try:
        with pytest.raises(LockHeld) as refused, exclusive(tmp_path, command="me", what="the artifact root"):
            pytest.fail("the lock was given twice")
        message = str(refused.value)
        assert f"pid {proc.pid}" in message and "podcast-assets train --max-trials 3" in message, message
        assert str(tmp_path) in message and "--wait" in message
    finally:
        proc.kill()
        proc.wait()


def test_a_waiting_writer_goes_on_when_the_holder_is_done(tmp_path):
    proc = holder(tmp_path, 1.5)
    said: list[str] = []
    started = time.monotonic()
    with exclusive(tmp_path, command="me", what="the artifact root", wait=True, say=said.append):
        waited = time.monotonic() - started
        assert proc.poll() is not None, "the lock is given only once its holder let it go"
    proc.wait()
    assert waited > 0.5 and said and f"pid {proc.pid}" in said[0]
    assert f'"pid": {os.getpid()}' in (tmp_path / LOCK_NAME).read_text(), "the file names the new holder"


def test_a_killed_holder_blocks_nobody(tmp_path):
    proc = holder(tmp_path, 60)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with exclusive(tmp_path, command="me", what="the artifact root"):
        assert f'"pid": {os.getpid()}' in (tmp_path / LOCK_NAME).read_text()
