"""One writer at a time: an OS lock on a file (`flock`), held for as long as a command writes to an artifact root
or sets up a Dagster home. The kernel releases it when its holder exits, however it exits (a crash, kill -9), so
a dead holder never blocks anyone; the file also says who holds it (pid, command, host, since when), for the
message a second run gets."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from podcast_assets.core.errors import PodcastAssetsError

LOCK_NAME = ".podcast-assets.lock"
WAIT_NOTICE_SECONDS = 30.0
"""While waiting, the holder is named again this often."""


class LockHeld(PodcastAssetsError):
    """Another live process holds the lock."""


def holder_of(path: Path) -> str:
    """Who holds (or last held) the lock at `path`, in words."""
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "another process"
    return f"pid {info.get('pid')} on {info.get('host')} (`{info.get('command')}`, since {info.get('since')})"


@contextlib.contextmanager
def exclusive(
    folder: Path, *, command: str, what: str, wait: bool = False, say: Callable[[str], None] = print
) -> Iterator[None]:
    """Hold the lock of `folder` (its file LOCK_NAME) for the block. Held by another live process: refuse with
    LockHeld naming it, or with `wait`, say so and wait until it is free (naming the holder again every
    WAIT_NOTICE_SECONDS)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise LockHeld(
                    f"{what} ({folder}) is in use by {holder_of(path)}",
                    fix="wait for that run to finish (or stop it), or run again with --wait",
                ) from None
            _wait(fd, path, what, say)
        since = datetime.now(UTC).isoformat(timespec="seconds")
        info = {"pid": os.getpid(), "host": socket.gethostname(), "command": command, "since": since}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _wait(fd: int, path: Path, what: str, say: Callable[[str], None]) -> None:
    while True:
        say(f"waiting for {what}: in use by {holder_of(path)}")
        deadline = time.monotonic() + WAIT_NOTICE_SECONDS
        while time.monotonic() < deadline:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                time.sleep(0.2)
