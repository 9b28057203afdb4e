"""The pairs sensor, evaluated tick by tick against a real (temporary) Dagster instance."""

from __future__ import annotations

import shutil

import dagster as dg
import pytest

from podcast_assets.definitions import build_definitions
from podcast_assets.defs.partitions import training_pairs
from podcast_assets.defs.sensors import training_pairs_sensor
from tests.core.test_pairs import make_pair
from tests.dagster_helpers import make_config, tick


@pytest.fixture
def world(tmp_path):
    pairs_dir = tmp_path / "pairs"
    pairs_dir.mkdir()
    defs = build_definitions(make_config(pairs_dir, tmp_path / "artifacts"))
    with dg.instance_for_test() as instance:
        yield pairs_dir, defs, instance


def partitions(instance):
    return sorted(instance.get_dynamic_partitions(training_pairs.name))


def test_the_sensor_runs_by_default():
    assert training_pairs_sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_new_pairs_get_a_partition_and_one_run_in_the_same_tick(world):
    pairs_dir, defs, instance = world
    make_pair(pairs_dir, "alpha")
    make_pair(pairs_dir, "beta")
    result = tick(defs, instance)
    assert partitions(instance) == ["alpha", "beta"]
    assert sorted(r.partition_key for r in result.run_requests) == ["alpha", "beta"]
    assert all(r.run_key.startswith(f"{r.partition_key}:") for r in result.run_requests)
    assert all(r.job_name in (None, "pair_pipeline") for r in result.run_requests)

    again = tick(defs, instance, result.cursor)
    assert again.run_requests == []
    assert not again.dynamic_partitions_requests


def test_a_changed_pair_is_run_again_and_a_removed_one_loses_its_partition(world):
    pairs_dir, defs, instance = world
    make_pair(pairs_dir, "alpha")
    make_pair(pairs_dir, "beta")
    first = tick(defs, instance)
    (pairs_dir / "alpha" / "podcast.mp3").write_bytes(b"a new recording")
    shutil.rmtree(pairs_dir / "beta")
    second = tick(defs, instance, first.cursor)
    assert [r.partition_key for r in second.run_requests] == ["alpha"]
    old_key = next(r.run_key for r in first.run_requests if r.partition_key == "alpha")
    assert second.run_requests[0].run_key != old_key
    assert partitions(instance) == ["alpha"]


def test_badly_named_folders_are_skipped_without_creating_partitions(world):
    pairs_dir, defs, instance = world
    make_pair(pairs_dir, "ok")
    make_pair(pairs_dir, "Has Spaces")
    result = tick(defs, instance)
    assert partitions(instance) == ["ok"]
    assert [r.partition_key for r in result.run_requests] == ["ok"]


def test_a_pair_registered_by_the_cli_is_still_run_by_the_sensor(world):
    pairs_dir, defs, instance = world
    make_pair(pairs_dir, "alpha")
    instance.add_dynamic_partitions(training_pairs.name, ["alpha"])
    result = tick(defs, instance)
    assert not result.dynamic_partitions_requests
    assert [r.partition_key for r in result.run_requests] == ["alpha"]


def test_a_thousand_new_pairs_are_registered_in_one_tick_and_launched_in_batches(world):
    pairs_dir, defs, instance = world
    for n in range(1000):
        make_pair(pairs_dir, f"p{n:04d}")
    first = tick(defs, instance)
    assert len(partitions(instance)) == 1000, "every pair registered in the first tick"
    assert len(first.run_requests) == 10 and len(first.cursor) <= 32
    second = tick(defs, instance, first.cursor)
    assert not second.dynamic_partitions_requests
    assert len(second.run_requests) == 10
    assert {r.partition_key for r in first.run_requests}.isdisjoint(r.partition_key for r in second.run_requests)


def test_no_pair_run_is_requested_while_the_queue_is_full(world, monkeypatch):
    from podcast_assets.defs import sensors

    pairs_dir, defs, instance = world
    for n in range(3):
        make_pair(pairs_dir, f"p{n}")
    monkeypatch.setattr(sensors, "pair_runs_in_flight", lambda instance, job: sensors.MAX_PAIR_RUNS_IN_FLIGHT)
    full = tick(defs, instance)
    assert full.run_requests == [] and len(partitions(instance)) == 3, "registered, but not launched yet"
    monkeypatch.setattr(sensors, "pair_runs_in_flight", lambda instance, job: sensors.MAX_PAIR_RUNS_IN_FLIGHT - 2)
    room = tick(defs, instance, full.cursor)
    assert [r.partition_key for r in room.run_requests] == ["p0", "p1"]
