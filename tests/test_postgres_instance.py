"""The Dagster instance on a real Postgres server (configs/dagster/postgres/dagster.yaml): a pair run, the pairs
sensor and the aggregate sensor, with runs, events and partitions kept in Postgres. The server is
PostgreSQL 16 from the `pgserver` wheel, started here on 127.0.0.1."""

from __future__ import annotations

import shutil
import socket

import dagster as dg
import pytest
import yaml

from podcast_assets.core.analysis.profile_store import load_current
from podcast_assets.core.storage import LocalArtifactStore
from podcast_assets.definitions import build_definitions
from podcast_assets.defs.sensors import aggregate_sensor, training_pairs_sensor
from tests.conftest import PROJECT_ROOT, training_pair_dirs
from tests.dagster_helpers import make_config, run_requested, seeded_artifacts

POSTGRES_SETTINGS = PROJECT_ROOT / "configs" / "dagster" / "postgres" / "dagster.yaml"


@pytest.fixture(scope="module")
def postgres_url(tmp_path_factory):
    """A real PostgreSQL 16 listening on 127.0.0.1 at a free port: pgserver makes the cluster (it starts it on a
    Unix socket), then it is restarted on loopback TCP, as a networked database is reached."""
    pgserver = pytest.importorskip("pgserver", reason="pgserver is in the test extra: pip install -e '.[test]'")
    from pgserver._commands import pg_ctl

    server = pgserver.get_server(tmp_path_factory.mktemp("pgdata"), cleanup_mode=None)
    server.psql("CREATE DATABASE dagster;")
    pg_ctl(["-w", "stop"], pgdata=server.pgdata, user=server.system_user)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    pg_ctl(["-w", "-o", "-h 127.0.0.1", "-o", f"-p {port}", "-o", f"-k {server.pgdata}", "-l", str(server.log),
            "start"], pgdata=server.pgdata, user=server.system_user)  # fmt: skip
    # SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3; dagster-postgres ships psycopg2
    yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/dagster"
    pg_ctl(["-w", "stop"], pgdata=server.pgdata, user=server.system_user)


@pytest.fixture
def instance(postgres_url, tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(POSTGRES_SETTINGS, home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_PG_URL", postgres_url)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.wipe()
        yield instance


def test_the_instance_settings_load_on_postgres_with_a_run_queue(instance):
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
    assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
    settings = yaml.safe_load(POSTGRES_SETTINGS.read_text())
    assert settings["storage"]["postgres"]["postgres_url"] == {"env": "DAGSTER_PG_URL"}, "no password in a file"


def test_a_pair_run_and_both_sensors_keep_their_records_in_postgres(instance, ingested, tmp_path, postgres_url):
    session_config, _ = ingested
    pair = min(training_pair_dirs(), key=lambda p: p.stat().st_size)
    shutil.copytree(pair, tmp_path / "pairs" / pair.name)
    artifacts = seeded_artifacts(tmp_path / "artifacts", session_config.storage.root)
    defs = build_definitions(make_config(tmp_path / "pairs", artifacts))

    tick, runs = run_requested(defs, instance, training_pairs_sensor)
    assert list(runs) == [pair.name] and runs[pair.name].success
    assert instance.get_dynamic_partitions("training_pairs") == [pair.name]
    _, aggregated = run_requested(defs, instance, aggregate_sensor)
    assert [r.success for r in aggregated.values()] == [True]
    assert load_current(LocalArtifactStore(artifacts)).pairs_used == [pair.name]

    # what was recorded is in the Postgres database itself, read back by a second client
    import sqlalchemy

    engine = sqlalchemy.create_engine(postgres_url)
    with engine.connect() as db:
        runs_in_db = db.execute(sqlalchemy.text("select count(*) from runs")).scalar()
        partitions = db.execute(sqlalchemy.text("select partition from dynamic_partitions")).scalars().all()
        materialized = db.execute(
            sqlalchemy.text("select count(*) from event_logs where dagster_event_type = 'ASSET_MATERIALIZATION'")
        ).scalar()
    engine.dispose()
    assert runs_in_db == 2 and partitions == [pair.name]
    assert materialized >= 8, "the pair's assets and the aggregate"
    again = run_requested(defs, instance, training_pairs_sensor, cursor=tick.cursor)[1]
    assert again == {}, "the sensor's state survives in the store and the instance: nothing runs twice"


def test_the_aws_settings_load_with_the_ecs_run_launcher_as_the_readme_describes(postgres_url, tmp_path, monkeypatch):
    """configs/dagster/aws: Postgres storage, the run queue, S3 step logs, and runs as ECS tasks (2 vCPU, 8 GiB,
    the daemon's task definition, secrets tagged `dagster`, the project's settings passed on)."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(PROJECT_ROOT / "configs" / "dagster" / "aws" / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_PG_URL", postgres_url)
    monkeypatch.setenv("PODCAST_ASSETS_LOG_BUCKET", "logs-bucket")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        launcher = instance.run_launcher
        assert type(launcher).__name__ == "EcsRunLauncher"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.compute_log_manager).__name__ == "S3ComputeLogManager"
        assert launcher.container_name == "dagster" and launcher.use_current_ecs_task_config
        assert launcher.secrets_tags == ["dagster"] and not launcher.secrets and launcher.task_definition is None
        assert set(launcher.env_vars) == {"PODCAST_ASSETS_CONFIG", "PODCAST_ASSETS_DAGSTER_ENV"}
        assert launcher.run_resources == {"cpu": "2048", "memory": "8192"}
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 8
