"""Which command holds which lock (core/locks.py): the artifact root for the commands that write training state
(train, pairs add / remove, review apply), an evaluation's own root, a generated episode's folder, and the Dagster
home while its instance is first set up. Read-only commands take none: sessions are read by id, and every
record is replaced whole."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

from podcast_assets.core.config import PipelineConfig
from podcast_assets.core.locks import exclusive


def command_line() -> str:
    """This process's command, as its user typed it (for the message a second run gets)."""
    return " ".join(["podcast-assets", *sys.argv[1:]])


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def holding(folder: Path, what: str, *, wait: bool = False) -> contextlib.AbstractContextManager[None]:
    """The lock of `folder` for this command: refused when another run holds it, or waited for with `wait`."""
    return exclusive(folder, command=command_line(), what=what, wait=wait, say=_say)


@contextlib.contextmanager
def artifact_root(config: PipelineConfig, *, wait: bool = False) -> Iterator[None]:
    """The artifact root (with S3 storage, its local mirror: the lock is this machine's), for one writer."""
    with holding(config.storage.root, "the artifact root", wait=wait):
        yield
