"""The Dagster instance the command line records its runs in: $DAGSTER_HOME, else `.dagster_home` in the
project, created with the instance settings of the `dagster/dagster.yaml` beside the settings file (for
configs/pipeline.yaml, configs/dagster/dagster.yaml), else of the project's configs/dagster/dagster.yaml."""

from __future__ import annotations

import os
import shutil
import socket
import sys
from pathlib import Path

from podcast_assets.cli.locking import holding
from podcast_assets.core.config import PipelineConfig
from podcast_assets.core.errors import ConfigError
from podcast_assets.core.processes import pid_alive

ENV_VAR = "PODCAST_ASSETS_DAGSTER_ENV"


def project_root(config: PipelineConfig) -> Path:
    if config.source is not None and config.source.parent.name == "configs":
        return config.source.parent.parent.resolve()
    return Path.cwd()


def instance_settings(config: PipelineConfig) -> tuple[Path | None, list[Path]]:
    """The dagster.yaml a new Dagster home gets, and every place looked in: `dagster/dagster.yaml` beside the
    settings file (so the instance settings travel with a config kept outside configs/), then
    configs/dagster/dagster.yaml of the project root (or the cwd), then of the source tree this package was
    installed from. With PODCAST_ASSETS_DAGSTER_ENV=<env>, `dagster/<env>/dagster.yaml` in each."""
    env = os.environ.get(ENV_VAR, "local")
    rel = Path("dagster.yaml" if env == "local" else f"{env}/dagster.yaml")
    folders = [config.source.parent / "dagster"] if config.source is not None else []
    source_tree = Path(__file__).resolve().parents[2]
    folders += [project_root(config) / "configs" / "dagster", source_tree / "configs" / "dagster"]
    candidates = list(dict.fromkeys(folder.resolve() / rel for folder in folders))
    return next((c for c in candidates if c.is_file()), None), candidates


def dagster_instance(config: PipelineConfig):
    """The persistent Dagster instance at $DAGSTER_HOME, else at `.dagster_home` beside configs/ (created if
    missing). A home without a dagster.yaml gets the one `instance_settings` finds (pool limits, run
    monitoring), and the command says which; when there is none it says what the home goes without."""
    import dagster as dg

    home = Path(os.environ.get("DAGSTER_HOME") or project_root(config) / ".dagster_home")
    home = home.expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    template, looked_in = instance_settings(config)
    env = os.environ.get(ENV_VAR, "local")
    if env != "local" and template is None:
        raise ConfigError(
            f"no Dagster instance settings for {ENV_VAR}={env}", path=looked_in[0],
            fix=f"put a dagster.yaml at one of: {', '.join(map(str, looked_in))}; or unset {ENV_VAR}",
        )  # fmt: skip
    os.environ["DAGSTER_HOME"] = str(home)
    # a new home's storage is made (its schema migrated) by the first instance: one process at a time
    with holding(home, "the Dagster home", wait=True):
        if not (home / "dagster.yaml").exists():
            if template is not None:
                shutil.copyfile(template, home / "dagster.yaml")
                print(f"Dagster instance at {home}: instance settings installed from {template}")
            else:
                print(
                    f"warning: the Dagster instance at {home} has no dagster.yaml (none at "
                    f"{', '.join(map(str, looked_in))}): no pool limits, no run monitoring; put one beside your "
                    "settings file as dagster/dagster.yaml",
                    file=sys.stderr,
                )
        instance = dg.DagsterInstance.get()
        instance.get_runs(limit=1)
        instance.get_dynamic_partitions("training_pairs")
    return instance


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


PID_TAG = "podcast_assets/pid"
HOST_TAG = "podcast_assets/host"


def launched_tags() -> dict[str, str]:
    """Tags of every run this process executes: who launched it, and which process on which host, so a later
    command can tell a run whose process was killed from one still going."""
    return {"launched_by": "podcast-assets", PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


def recover_dead_runs(instance) -> list[str]:
    """Mark failed the runs a killed `podcast-assets` process left STARTED on this host, and free the pool
    slots they held (without a daemon nothing else would, and the next step in the same pool would wait for
    ever). Runs of live processes and of other hosts are left alone. Returns the run ids recovered."""
    import dagster as dg

    records = instance.get_run_records(
        filters=dg.RunsFilter(
            statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING],
            tags={"launched_by": "podcast-assets", HOST_TAG: socket.gethostname()},
        )
    )
    recovered = []
    for record in records:
        run = record.dagster_run
        pid = run.tags.get(PID_TAG, "")
        if not pid.isdigit() or int(pid) == os.getpid() or pid_alive(int(pid)):
            continue
        instance.report_run_failed(run, message=f"the podcast-assets process running it (pid {pid}) is gone: killed or crashed")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        recovered.append(run.run_id)
    return recovered
