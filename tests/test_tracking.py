"""The MLflow tracker on a real SQLite store: a run is found again by its key (logging twice makes one run, a changed
metric updates it), a disabled tracker writes nothing, an unreachable server is reported without raising, and a
tracking URI carrying credentials is refused at load."""

from __future__ import annotations

import socket
import time

import pytest

from podcast_assets.core.config import PipelineConfig, TrackingSettings, load_config
from podcast_assets.core.errors import ConfigError
from podcast_assets.core.tracking import TrackedRun
from podcast_assets.resources.tracking import TrackingResource


def _tracker(tmp_path, **overrides) -> TrackingResource:
    config = PipelineConfig(tracking=TrackingSettings(**overrides)).resolved(tmp_path)
    return TrackingResource.from_config(config)


def _runs(loss: float) -> list[TrackedRun]:
    return [
        TrackedRun(key="training/s1", name="session s1", params={"target_depth": "standard"},
                   metrics={"trials_complete": 1.0, "best_loss": loss}, artifacts={"report.md": b"# report\n"}),
        TrackedRun(key="training/s1/t001", name="t001", params={"prompt_version": "script_writer/v1"},
                   metrics={"total_loss": loss}, parent="training/s1"),
    ]  # fmt: skip


def test_logging_again_updates_the_runs_it_has(tmp_path):
    from mlflow.tracking import MlflowClient

    tracker = _tracker(tmp_path)
    first = tracker.log(_runs(0.30))
    assert first.error is None and set(first.run_ids) == {"training/s1", "training/s1/t001"}
    again = tracker.log(_runs(0.25))
    assert again.run_ids == first.run_ids
    client = MlflowClient(tracking_uri=tracker.uri)
    runs = client.search_runs([client.get_experiment_by_name("podcast-assets").experiment_id])
    assert len(runs) == 2
    trial = client.get_run(first.run_ids["training/s1/t001"])
    assert trial.data.metrics["total_loss"] == 0.25 and trial.data.params["prompt_version"] == "script_writer/v1"
    assert trial.data.tags["mlflow.parentRunId"] == first.run_ids["training/s1"]
    assert [a.path for a in client.list_artifacts(first.run_ids["training/s1"])] == ["report.md"]
    assert tracker.ui_command().startswith(f"mlflow ui --backend-store-uri sqlite:///{tmp_path}")


def test_a_disabled_tracker_writes_nothing(tmp_path):
    tracker = _tracker(tmp_path, enabled=False)
    assert tracker.log(_runs(0.3)).run_ids == {}
    assert not (tmp_path / ".artifacts" / "mlflow").exists()
    assert tracker.where(tracker.log(_runs(0.3))) == "not logged (tracking.enabled is false)"


def test_an_unreachable_tracking_server_is_reported_not_raised(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    tracker = _tracker(tmp_path, uri=f"http://127.0.0.1:{port}")
    started = time.monotonic()
    logged = tracker.log(_runs(0.3))
    assert logged.run_ids == {} and logged.error, "the failure is reported"
    assert tracker.where(logged).startswith("not logged: ")
    assert time.monotonic() - started < 60


def test_a_tracking_uri_with_credentials_is_refused(tmp_path):
    path = tmp_path / "configs" / "pipeline.yaml"
    path.parent.mkdir()
    path.write_text("version: 1\ntracking:\n  uri: https://alice:hunter2@mlflow.example.com\n")
    with pytest.raises(ConfigError, match="tracking.uri: must not carry credentials") as refused:
        load_config(path)
    assert "hunter2" not in str(refused.value), "the error does not repeat the secret"
