"""Crash sweep, in the style of Dagster's own recovery tests: `podcast-assets train` on the bundled pair is
killed with SIGKILL or SIGTERM at a stage boundary (during speech recognition, and once the transcript is
written, during analysis), then run again. Nothing finished is computed again, no partial artifact is
visible, and a run the kill left looking alive is marked failed. SIGTERM stops the whole command (exit 143)
and starts nothing more, even when it lands after a run's last step, where Dagster's handler used to swallow
it and `train` carried on. (Kills during a trial and during rendering have their own tests:
tests/test_cli.py and tests/core/test_video_render.py.)"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from tests.conftest import EXAMPLE_PAIRS, PROJECT_ROOT

BIN = Path(sys.executable).parent
EXAMPLE = EXAMPLE_PAIRS / "wheat-climate-risk-podcastfy"
BOUNDARIES = {
    # stage boundary -> the file whose appearance says the run has crossed it
    "asr": "training_pairs/wheat/document_graph.json",  # the paper is done, the recogniser is running
    "analysis": "training_pairs/wheat/transcription.json",  # the transcript is done, the analysis is running
}


def finished_files(artifacts: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime) of every finished cache entry and blob: what must never be computed again."""
    found = {}
    for folder in ("cache", "blobs"):
        for path in (artifacts / folder).rglob("*") if (artifacts / folder).is_dir() else ():
            if path.is_file() and not path.name.startswith("."):
                stat = path.stat()
                found[path.relative_to(artifacts).as_posix()] = (stat.st_ino, stat.st_mtime_ns)
    return found


def run_in_progress(project: Path) -> bool:
    """Whether the project's Dagster instance holds a run that has started and not ended (on a loaded machine
    the next stage's run may start a while after the stage before wrote its file: a kill in that gap kills no run)."""
    if not (project / "home" / "dagster.yaml").is_file():
        return False
    with dg.DagsterInstance.from_config(str(project / "home")) as instance:
        return bool(instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])))


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
@pytest.mark.parametrize("boundary", list(BOUNDARIES))
def test_a_run_killed_at_a_stage_boundary_resumes_without_recomputing(tmp_path, boundary, sig):
    shutil.copytree(EXAMPLE, tmp_path / "pairs" / "wheat")
    (tmp_path / "configs" / "dagster").mkdir(parents=True)
    shutil.copyfile(PROJECT_ROOT / "configs" / "dagster" / "dagster.yaml", tmp_path / "configs" / "dagster" / "dagster.yaml")
    (tmp_path / "configs" / "pipeline.yaml").write_text("pairs_dir: pairs\nstorage: {root: artifacts}\n")
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home"),
           "PODCAST_ASSETS_CONFIG": str(tmp_path / "configs" / "pipeline.yaml")}  # fmt: skip
    artifacts = tmp_path / "artifacts"
    command = [str(BIN / "podcast-assets"), "train", "--no-trials"]
    proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    marker = artifacts / BOUNDARIES[boundary]
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None and not (marker.is_file() and run_in_progress(tmp_path)):
        time.sleep(0.05)  # the file says the stage before is done; a started run, that the next one is under way
    assert proc.poll() is None, "the run ended before the boundary: nothing was killed"
    proc.send_signal(sig)
    proc.wait(timeout=120)
    with dg.DagsterInstance.from_config(str(tmp_path / "home")) as instance:
        at_kill = {r.run_id: r.status for r in instance.get_runs()}
    alive = [run_id for run_id, status in at_kill.items() if status == dg.DagsterRunStatus.STARTED]
    if sig == signal.SIGTERM:
        assert proc.returncode == 128 + signal.SIGTERM, "SIGTERM stops the whole command"
        assert len(at_kill) == 1, f"no run started after the signal ({at_kill})"
        assert not alive, "a stopped run is not left looking alive"
    else:
        assert len(alive) == 1 or boundary == "analysis", f"the kill landed in a run ({at_kill})"
    if boundary == "asr":  # the recogniser runs for seconds: the signal cuts a step, the run cannot have ended well
        assert len(at_kill) == 1 and dg.DagsterRunStatus.SUCCESS not in at_kill.values(), at_kill
    before = finished_files(artifacts)
    if boundary == "analysis":
        assert any(k.startswith("cache/transcriptions/") for k in before), "the transcript was cached before"

    rerun = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    after = finished_files(artifacts)
    assert {k: after.get(k) for k in before} == before, "a finished cache entry or blob was computed again"
    for path in artifacts.rglob("*.json"):  # every visible record is whole
        if not path.name.startswith("."):
            json.loads(path.read_bytes())
    with dg.DagsterInstance.from_config(str(tmp_path / "home")) as instance:
        runs = {r.run_id: r.status for r in instance.get_runs()}
    assert dg.DagsterRunStatus.STARTED not in runs.values(), "no run is left looking alive"
    dead = (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)
    assert all(runs[run_id] in dead for run_id in alive), f"the killed run is marked failed ({runs})"
    if alive:
        assert "left running by a killed process: marked failed" in rerun.stdout
