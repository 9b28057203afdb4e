"""The training loop at the Dagster level, offline, on real pairs: trial_results per pair (written, spoken,
transcribed back, scored), a second materialization served from the cache, and the sensors closing the loop
(a complete trial is summarised; an unconverged summary requests the next trial for every pair; max_trials
stops it with the reason)."""

from __future__ import annotations

import shutil

import dagster as dg
import polars as pl
import pytest

from podcast_assets.core.analysis.models import SEGMENT_TYPES
from podcast_assets.core.ingest.audio import SAMPLE_RATE, decode_audio
from podcast_assets.core.storage import LocalArtifactStore
from podcast_assets.core.training.models import Script, TrialItem
from podcast_assets.core.training.session import item_path, load_session, session_dir
from podcast_assets.core.training.summary import TrainingReport
from podcast_assets.definitions import build_definitions
from podcast_assets.defs.jobs import VISUALS_JOB_NAME
from podcast_assets.defs.sensors import aggregate_sensor, training_pairs_sensor
from podcast_assets.defs.training import (
    SUMMARY_JOB_NAME,
    TRIAL_JOB_NAME,
    refinement_sensor,
    trial_complete_sensor,
)
from tests.conftest import training_pair_dirs
from tests.dagster_helpers import make_config, run_requested, seeded_artifacts, tick

LOSSES = ("duration", "coverage", "structure", "quality", "rouge", "total")


def _metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    [mat] = result.asset_materializations_for_node(asset)
    return {k: getattr(v, "value", v) for k, v in mat.metadata.items()}


@pytest.fixture(scope="module")
def loop(tmp_path_factory, ingested):
    """Two real pairs (one trains, one validates; the bundled pair alone without ../shared) taken through the
    pair runs and the aggregate by the sensors, then one trial of script_writer v1 on each pair."""
    session_config, _ = ingested
    root = tmp_path_factory.mktemp("training")
    pairs = sorted(training_pair_dirs(), key=lambda p: p.stat().st_size)[:2]
    for pair in pairs:
        shutil.copytree(pair, root / "pairs" / pair.name)
    artifacts = seeded_artifacts(root / "artifacts", session_config.storage.root)
    config = make_config(
        root / "pairs", artifacts, convergence={"max_trials": 2, "patience": 2, "min_improvement": 0.01},
        training={"validation_share": 0.5},
    )  # fmt: skip
    defs = build_definitions(config)
    with dg.instance_for_test() as instance:
        run_requested(defs, instance, training_pairs_sensor)
        run_requested(defs, instance, aggregate_sensor)
        job = defs.resolve_job_def(TRIAL_JOB_NAME)
        first = {
            p.name: job.execute_in_process(partition_key=p.name, instance=instance, raise_on_error=False)
            for p in pairs
        }
        yield {"defs": defs, "instance": instance, "store": LocalArtifactStore(artifacts), "first": first,
               "pair_ids": [p.name for p in pairs]}  # fmt: skip


def test_a_trial_writes_speaks_and_scores_every_pair(loop):
    store = loop["store"]
    session = load_session(store)
    assert sorted(session.split) == sorted(loop["pair_ids"])
    if len(loop["pair_ids"]) > 1:
        assert sorted(session.split.values()) == ["train", "validation"]
    for pair_id, result in loop["first"].items():
        assert result.success, pair_id
        meta = _metadata(result, "trial_results")
        assert (
            meta["trial_id"] == "t001" and meta["prompt_version"] == "script_writer/v1" and not meta["cached"]
        )
        assert meta["quality_method"] == "rubric"
        item = store.read_model(item_path(session, "t001", pair_id), TrialItem)
        assert all(0 <= getattr(item.losses, name) for name in LOSSES)
        assert meta["loss_total"] == item.losses.total
        script = store.read_model(item.script_path, Script)
        assert {s.type for s in script.segments} <= set(SEGMENT_TYPES)
        samples = decode_audio(store.path(item.audio_path))
        assert abs(len(samples) / SAMPLE_RATE - item.speech.audio_seconds) < 0.1, (
            "length measured from the file"
        )
        assert item.speech.round_trip_wer <= 0.35
        reference = item.details.reference_seconds
        assert abs(item.speech.audio_seconds - reference) / reference <= 0.25, (
            "length correction aims at the reference"
        )


def test_a_second_materialization_is_served_from_the_cache(loop):
    pair_id = loop["pair_ids"][0]
    blobs = sorted(p.name for p in loop["store"].path("blobs").rglob("*") if p.is_file())
    again = (
        loop["defs"]
        .resolve_job_def(TRIAL_JOB_NAME)
        .execute_in_process(partition_key=pair_id, instance=loop["instance"])
    )
    meta = _metadata(again, "trial_results")
    assert meta["cached"] is True
    assert meta["loss_total"] == _metadata(loop["first"][pair_id], "trial_results")["loss_total"]
    assert sorted(p.name for p in loop["store"].path("blobs").rglob("*") if p.is_file()) == blobs


def test_the_sensors_close_the_loop_until_max_trials(loop):
    defs, instance, store = loop["defs"], loop["instance"], loop["store"]
    summary = tick(defs, instance, sensor=trial_complete_sensor)
    [request] = summary.run_requests
    result = defs.resolve_job_def(SUMMARY_JOB_NAME).execute_in_process(instance=instance, tags=request.tags)
    assert _metadata(result, "training_summary")["converged"] is False

    refined = tick(defs, instance, sensor=refinement_sensor)
    assert sorted(r.partition_key for r in refined.run_requests) == sorted(loop["pair_ids"])
    session = load_session(store)
    assert session.current.trial_id == "t002" and session.current.reason.startswith("move:")
    assert session.current.prompt_version > 1
    for request in refined.run_requests:
        assert request.run_config["ops"]["trial_results"]["config"]["trial_id"] == "t002"
        run = defs.resolve_job_def(TRIAL_JOB_NAME).execute_in_process(
            partition_key=request.partition_key,
            instance=instance,
            run_config=request.run_config,
            tags=request.tags,
        )
        assert (
            run.success
            and _metadata(run, "trial_results")["prompt_version"]
            == f"script_writer/v{session.current.prompt_version}"
        )

    [request] = tick(defs, instance, sensor=trial_complete_sensor).run_requests
    result = defs.resolve_job_def(SUMMARY_JOB_NAME).execute_in_process(instance=instance, tags=request.tags)
    meta = _metadata(result, "training_summary")
    assert meta["converged"] is True and "max_trials=2" in meta["decision"]
    assert "train_loss" in meta
    stopped = tick(defs, instance, sensor=refinement_sensor)
    assert "max_trials=2" in load_session(store).stopped
    assert sorted(r.partition_key for r in stopped.run_requests) == sorted(loop["pair_ids"])
    assert {r.job_name for r in stopped.run_requests} == {VISUALS_JOB_NAME}, "the stop aligns the best podcasts"
    loop["visuals_requests"] = stopped.run_requests
    assert not tick(defs, instance, sensor=refinement_sensor).run_requests, "nothing more once stopped"

    base = session_dir(load_session(store))
    report = store.read_model(f"{base}/report.json", TrainingReport)
    assert [t.trial_id for t in report.trials] == ["t001", "t002"]
    assert report.decision.best_trial in {"t001", "t002"}
    table = pl.read_parquet(store.path(f"{base}/trials.parquet"))
    assert table.height == 2 * len(loop["pair_ids"]) and set(LOSSES) <= set(table.columns)
    assert store.path(f"{base}/loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    _assert_logged_to_mlflow(store, report, meta)


def _assert_logged_to_mlflow(store: LocalArtifactStore, report: TrainingReport, meta: dict) -> None:
    """Both summaries logged to the project's MLflow store: one session run, a run per trial nested under it with
    the report's losses, the best trial tagged, and the second summary updated the session's run (no duplicate)."""
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{store.path('mlflow/mlflow.db')}"
    assert meta["mlflow"].startswith(f"mlflow ui --backend-store-uri {uri}")
    client = MlflowClient(tracking_uri=uri)
    [experiment] = [e for e in client.search_experiments() if e.name == "podcast-assets"]
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    session_run = runs.pop(f"session {report.session_id}")
    assert session_run.info.run_id == meta["mlflow_run_id"]
    assert sorted(runs) == ["t001", "t002"]
    for row in report.trials:
        run = runs[row.trial_id]
        assert run.data.tags["mlflow.parentRunId"] == session_run.info.run_id
        assert run.data.metrics["total_loss"] == pytest.approx(row.loss.mean)
        assert run.data.params["prompt_version"] == f"script_writer/v{row.prompt_version}"
        assert run.data.tags["best"] == str(row.trial_id == report.decision.best_trial).lower()
    assert session_run.data.metrics["trials_complete"] == 2
    assert session_run.data.tags["best_trial"] == report.decision.best_trial
    history = client.get_metric_history(session_run.info.run_id, "trials_complete")
    assert [m.step for m in history] == [1, 2], "the session's run was updated after each trial, not made again"
    names = {a.path for a in client.list_artifacts(session_run.info.run_id)}
    assert {"loss_curve.png", "report.md"} <= names


def test_after_training_the_best_trials_podcast_is_aligned_and_sync_checked(loop):
    """Runs after the loop converged (module order): the pair's visuals cover the best trial's podcast too."""
    from podcast_assets.core.video.models import SyncReport, VisualAlignment
    from podcast_assets.core.video.sources import alignment_path, sync_report_path

    defs, instance, store = loop["defs"], loop["instance"], loop["store"]
    session = load_session(store)
    best = store.read_model(f"{session_dir(session)}/report.json", TrainingReport).decision.best_trial
    pair_id = loop["pair_ids"][0]
    [request] = [r for r in loop["visuals_requests"] if r.partition_key == pair_id]
    result = defs.resolve_job_def(request.job_name).execute_in_process(
        partition_key=pair_id, instance=instance, tags=request.tags
    )
    scores = _metadata(result, "sync_qa")["sync_scores"]
    assert set(scores) == {"reference", best}
    generated = store.read_model(alignment_path(pair_id, best), VisualAlignment)
    item = store.read_model(item_path(session, best, pair_id), TrialItem)
    assert generated.source == best and generated.timing == "words" and generated.cues
    assert abs(generated.duration - item.speech.audio_seconds) < 1.0, "timed on the generated audio"
    report = store.read_model(sync_report_path(pair_id, best), SyncReport)
    assert report.sync_score == scores[best] and 0 <= report.sync_score <= 100
    print(f"\n{pair_id}: sync score reference {scores['reference']:.1f}, {best} (generated) {scores[best]:.1f}")
