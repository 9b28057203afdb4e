"""Helpers for Dagster-level tests: definitions built from a throw-away config, sensor ticks."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from podcast_assets.core.config import PipelineConfig, parse_config
from podcast_assets.defs.sensors import training_pairs_sensor


def make_config(pairs_dir: Path, artifacts: Path, **overrides: object) -> PipelineConfig:
    """Settings with the given pairs folder and artifact root (absolute paths are kept as they are)."""
    data = {"pairs_dir": str(pairs_dir), "storage": {"root": str(artifacts)}, **overrides}
    return parse_config(data, artifacts.parent / "configs" / "pipeline.yaml")


def tick(defs: dg.Definitions, instance: dg.DagsterInstance, cursor: str | None = None, sensor=training_pairs_sensor):
    """Evaluate one tick of `sensor` and apply its partition requests, as the daemon would."""
    with dg.build_sensor_context(
        instance=instance, instance_ref=instance.get_ref(), cursor=cursor, definitions=defs, resources=defs.resources
    ) as context:
        result = sensor.evaluate_tick(context)
    for request in result.dynamic_partitions_requests or []:
        if isinstance(request, dg.AddDynamicPartitionsRequest):
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        else:
            for key in request.partition_keys:
                instance.delete_dynamic_partition(request.partitions_def_name, key)
    return result


def seeded_artifacts(root: Path, session_root: Path) -> Path:
    """A fresh artifact root holding the session's caches and blobs (not its per-pair records or profiles), so
    a test's runs are served from the caches without seeing, or leaving, anything of another test's. Files are
    hard-linked where possible: the store replaces files by rename and never edits one in place."""
    import os
    import shutil

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    for folder in ("cache", "blobs"):
        if (session_root / folder).is_dir():
            shutil.copytree(session_root / folder, root / folder, dirs_exist_ok=True, copy_function=link)
    return root


def run_requested(defs: dg.Definitions, instance: dg.DagsterInstance, sensor, cursor: str | None = None):
    """One tick of `sensor`, then every run it requested, in process. Returns (tick result, {partition: run result})."""
    result = tick(defs, instance, cursor, sensor=sensor)
    outcomes = {}
    for request in result.run_requests or []:
        job = defs.resolve_job_def(request.job_name or sensor.job_name)
        outcomes[request.partition_key] = job.execute_in_process(
            partition_key=request.partition_key, instance=instance, tags=request.tags, raise_on_error=False
        )
    return result, outcomes
