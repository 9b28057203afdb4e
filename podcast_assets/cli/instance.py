"""The Dagster instance the command line records its runs in: $DAGSTER_HOME, else `.dagster_home` in the
project, created with the instance settings of configs/dagster/dagster.yaml."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from podcast_assets.core.config import PipelineConfig


def project_root(config: PipelineConfig) -> Path:
    if config.source is not None and config.source.parent.name == "configs":
        return config.source.parent.parent.resolve()
    return Path.cwd()


def dagster_instance(config: PipelineConfig):
    """The persistent Dagster instance at $DAGSTER_HOME, else at `.dagster_home` beside configs/ (created if
    missing, with the instance settings of configs/dagster/dagster.yaml: pool limits, run monitoring)."""
    import dagster as dg

    root = project_root(config)
    home = Path(os.environ.get("DAGSTER_HOME") or root / ".dagster_home").expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    template = root / "configs" / "dagster" / "dagster.yaml"
    if template.is_file() and not (home / "dagster.yaml").exists():
        shutil.copyfile(template, home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return dg.DagsterInstance.get()


def register(config: PipelineConfig, add: list[str] = (), remove: list[str] = ()) -> str:
    """Add and remove `training_pairs` partitions in the instance; returns its DAGSTER_HOME."""
    from podcast_assets.defs.partitions import training_pairs

    instance = dagster_instance(config)
    existing = set(instance.get_dynamic_partitions(training_pairs.name))
    if new := [p for p in add if p not in existing]:
        instance.add_dynamic_partitions(training_pairs.name, new)
    for pair_id in remove:
        if pair_id in existing:
            instance.delete_dynamic_partition(training_pairs.name, pair_id)
    return os.environ["DAGSTER_HOME"]
