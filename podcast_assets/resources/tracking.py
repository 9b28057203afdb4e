"""The experiment tracker: MLflow's client on the project's SQLite store (default) or a tracking server
(configs/pipeline.yaml `tracking:`). Runs are found again by their key tag, so logging is idempotent; a tracker that
cannot be reached is reported, never allowed to fail the training it records."""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from podcast_assets.core.config import PipelineConfig
from podcast_assets.core.tracking import KEY_TAG, TrackedRun

PARENT_TAG = "mlflow.parentRunId"
KIND_TAG = "mlflow.experimentKind"  # the UI opens these runs as model training, not as a GenAI app's traces


@dataclass(frozen=True)
class Logged:
    """What a call to `log` did: the run id of every key, or why nothing was logged."""

    run_ids: dict[str, str]
    error: str | None = None


class TrackingResource(dg.ConfigurableResource):
    enabled: bool = True
    uri: str
    experiment: str
    artifact_root: str | None = None

    @classmethod
    def from_config(cls, config: PipelineConfig) -> TrackingResource:
        t = config.tracking
        local = config.storage.root / "mlflow"
        return cls(
            enabled=t.enabled,
            uri=t.uri or f"sqlite:///{local / 'mlflow.db'}",
            experiment=t.experiment,
            artifact_root=None if t.uri else (local / "artifacts").as_uri(),
        )

    def where(self, logged: Logged) -> str:
        """For a summary's metadata: where the runs went and how to see them, or why they were not logged."""
        if not self.enabled:
            return "not logged (tracking.enabled is false)"
        return f"not logged: {logged.error}" if logged.error else self.ui_command()

    def ui_command(self) -> str:
        """How to look at what was logged."""
        if self.uri.startswith(("http://", "https://")):
            return f"open {self.uri} (experiment {self.experiment})"
        return f"mlflow ui --backend-store-uri {self.uri}   (then open http://127.0.0.1:5000)"

    def log(self, runs: Sequence[TrackedRun], log=logging.getLogger(__name__).info) -> Logged:
        """Create the runs not logged before, update the others (metrics that changed, tags, artifacts), nest each
        under its parent; `runs` lists a parent before its children."""
        if not self.enabled or not runs:
            return Logged({})
        try:
            return Logged(self._log(runs, log))
        except Exception as exc:  # any failure of the tracker (unreachable server, locked store) is reported
            return Logged({}, error=f"{type(exc).__name__}: {exc}".splitlines()[0][:300])

    def _log(self, runs: Sequence[TrackedRun], log) -> dict[str, str]:
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.tracking import MlflowClient

        if self.uri.startswith("sqlite:///"):
            Path(self.uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        client = MlflowClient(tracking_uri=self.uri)
        experiment = client.get_experiment_by_name(self.experiment)
        experiment_id = (
            experiment.experiment_id if experiment else client.create_experiment(self.experiment, self.artifact_root)
        )
        if experiment is None or KIND_TAG not in experiment.tags:
            client.set_experiment_tag(experiment_id, KIND_TAG, "custom_model_development")
        ids: dict[str, str] = {}
        for run in runs:
            found = client.search_runs([experiment_id], filter_string=f"tags.`{KEY_TAG}` = '{run.key}'", max_results=1)
            tags = {KEY_TAG: run.key, **run.tags}
            if run.parent is not None:
                tags[PARENT_TAG] = ids[run.parent]
            if found:
                existing = found[0]
                run_id = existing.info.run_id
                params = {k: v for k, v in run.params.items() if k not in existing.data.params}
                metrics = {k: v for k, v in run.metrics.items() if existing.data.metrics.get(k) != v}
                changed = bool(params or metrics) or any(existing.data.tags.get(k) != v for k, v in tags.items())
            else:
                run_id = client.create_run(experiment_id, run_name=run.name, tags=tags).info.run_id
                params, metrics, changed = run.params, run.metrics, True
                log(f"MLflow: logged {run.name} (run {run_id})")
            ids[run.key] = run_id
            if not changed:
                continue
            step, now = int(run.metrics.get("trials_complete", 0)), int(time.time() * 1000)
            client.log_batch(
                run_id,
                metrics=[Metric(k, float(v), now, step) for k, v in metrics.items()],
                params=[Param(k, v) for k, v in params.items()],
                tags=[RunTag(k, v) for k, v in tags.items()],
            )
            if run.artifacts:
                with tempfile.TemporaryDirectory() as tmp:
                    for name, data in run.artifacts.items():
                        (Path(tmp) / name).write_bytes(data)
                    client.log_artifacts(run_id, tmp)
            client.set_terminated(run_id)
        return ids
