"""The review page's training panel: segments ready for training, the recogniser in use, the last fine-tuning run,
and a run started from the page (`podcast-assets asr finetune` in a process of its own, so the page stays
responsive and a closed page does not stop it) with its progress and log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from podcast_assets.core.asr_training.pipeline import last_report, runs_dir
from podcast_assets.core.asr_training.registry import ModelRegistry
from podcast_assets.core.processes import pid_alive
from podcast_assets.core.review.store import ReviewStore

LOG_LINES = 40


class TrainingBusy(Exception):
    pass


@dataclass
class TrainingControl:
    storage_root: Path
    in_use: Callable[[], str]
    """The recogniser in use now (the configured model, or a fine-tuned one a swap installed)."""
    config_file: Path | None
    _process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def folder(self) -> Path:
        return self.storage_root / "asr"

    def _active(self) -> dict[str, Any] | None:
        file = self.folder / "active-run.json"
        return json.loads(file.read_text()) if file.is_file() else None

    def _alive(self, pid: int) -> bool:
        """A run this server started is waited for (an exited child is not alive); one started before it restarted
        is looked up by its process id."""
        if self._process is not None and self._process.pid == pid:
            return self._process.poll() is None
        return pid_alive(pid)

    def status(self, store: ReviewStore) -> dict[str, Any]:
        current = ModelRegistry(self.storage_root).current()
        in_use = self.in_use()
        last = last_report(self.storage_root)
        active = self._active()
        running = bool(active and self._alive(active["pid"]))
        progress = None
        if active:
            candidates = [
                p
                for p in runs_dir(self.storage_root).glob("*/progress.json")
                if p.stat().st_mtime >= active["started"]
            ]
            if candidates:
                progress = json.loads(max(candidates, key=lambda p: p.stat().st_mtime).read_text())
        log = Path(active["log"]).read_text(errors="replace").splitlines()[-LOG_LINES:] if active else []
        return {
            "ready_for_training": store.stats()["ready_for_training"],
            "current_model": in_use,
            "fine_tuned": bool(current) and in_use == current.path,
            "last_run": (
                {
                    k: last[k]
                    for k in (
                        "run",
                        "decision",
                        "wer_before",
                        "wer_after",
                        "swapped",
                        "best_epoch",
                        "seconds",
                    )
                }
                if last
                else None
            ),
            "running": running,
            "started_at": active["started_at"] if active else None,
            "progress": progress,
            "log": log,
        }

    def start(self) -> dict[str, Any]:
        """Start `podcast-assets asr finetune` in the background; TrainingBusy while one runs."""
        active = self._active()
        if active and self._alive(active["pid"]):
            raise TrainingBusy(
                f"a fine-tuning run is already going (process {active['pid']}, since {active['started_at']})"
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        now = datetime.now(UTC)
        log = self.folder / "logs" / f"finetune-{now.strftime('%Y%m%d-%H%M%S')}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-c", "from podcast_assets.cli import main; raise SystemExit(main())"]
        if self.config_file:
            command += ["--config", str(self.config_file)]
        with log.open("w") as out:
            self._process = process = subprocess.Popen(
                [*command, "asr", "finetune"], stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )  # fmt: skip
        record = {
            "pid": process.pid,
            "log": str(log),
            "started": now.timestamp() - 1,
            "started_at": now.isoformat(timespec="seconds"),
        }
        (self.folder / "active-run.json").write_text(json.dumps(record))
        return record
