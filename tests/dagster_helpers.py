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
    context = dg.build_sensor_context(
        instance=instance, instance_ref=instance.get_ref(), cursor=cursor, definitions=defs, resources=defs.resources
    )
    result = sensor.evaluate_tick(context)
    for request in result.dynamic_partitions_requests or []:
        if isinstance(request, dg.AddDynamicPartitionsRequest):
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        else:
            for key in request.partition_keys:
                instance.delete_dynamic_partition(request.partitions_def_name, key)
    return result
