"""The whole chain, pairs to aggregated_profile, offline on real pairs, driven as the daemon would: the pairs
sensor requests runs, the runs execute, the aggregate sensor requests the aggregation. Then, each in a world
of its own (pairs folder, artifact store and instance), what the aggregate may learn from."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from podcast_assets.core.analysis.models import (
    SEGMENT_TYPES,
    AggregatedProfile,
    AlignedSegments,
    StructureProfile,
    StyleProfile,
)
from podcast_assets.core.analysis.profile_store import CURRENT, load_current
from podcast_assets.core.ingest.pairs import pair_files
from podcast_assets.core.storage import LocalArtifactStore, pair_record_path
from podcast_assets.definitions import build_definitions
from podcast_assets.defs.analysis import aligned_segments_path, structure_profile_path, style_profile_path
from podcast_assets.defs.jobs import AGGREGATE_JOB_NAME, PAIR_JOB_NAME
from podcast_assets.defs.pair_state import MANIFEST_TAG
from podcast_assets.defs.sensors import aggregate_sensor, training_pairs_sensor
from tests.conftest import other_topic_pdf, training_pair_dirs
from tests.dagster_helpers import make_config, run_requested, seeded_artifacts, tick


def materialization_count(instance, asset: str, partition: str) -> int:
    return len(
        instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]), limit=100
        ).records
    )


def aggregate_metadata(result: dg.ExecuteInProcessResult) -> dict:
    [mat] = result.asset_materializations_for_node("aggregated_profile")
    return {k: getattr(v, "value", v) for k, v in mat.metadata.items()}


def assert_current_is_what_the_asset_reported(store: LocalArtifactStore, metadata: dict) -> AggregatedProfile:
    current = load_current(store)
    assert (current.version, current.pairs_used, current.pairs_left_out) == (
        metadata["version"], metadata["pairs_used"], metadata["pairs_left_out"]
    )
    return current


# --------------------------------------------------------------------------- the real pairs, through the sensors


@pytest.fixture(scope="module")
def chain(tmp_path_factory, ingested):
    """Every real pair run by the sensors in a world of its own; the tests below only read it."""
    session_config, _ = ingested
    root = tmp_path_factory.mktemp("chain")
    pairs_dir = root / "pairs"
    for pair in training_pair_dirs():
        shutil.copytree(pair, pairs_dir / pair.name)
    artifacts = seeded_artifacts(root / "artifacts", session_config.storage.root)
    defs = build_definitions(make_config(pairs_dir, artifacts))
    with dg.instance_for_test() as instance:
        pair_tick, first = run_requested(defs, instance, training_pairs_sensor)
        agg_tick, first_agg = run_requested(defs, instance, aggregate_sensor)
        yield {
            "defs": defs,
            "instance": instance,
            "store": LocalArtifactStore(artifacts),
            "pair_ids": sorted(p.name for p in training_pair_dirs()),
            "first": first,
            "first_agg": first_agg,
            "cursors": (pair_tick.cursor, agg_tick.cursor),
        }


def test_every_real_pair_runs_the_whole_per_pair_chain_offline(chain):
    assert sorted(chain["first"]) == chain["pair_ids"]
    assert {p: r.success for p, r in chain["first"].items()} == dict.fromkeys(chain["pair_ids"], True)
    store = chain["store"]
    for pair_id in chain["pair_ids"]:
        segments = store.read_model(aligned_segments_path(pair_id), AlignedSegments)
        assert len(segments.segments) >= 4, pair_id
        assert {s.type for s in segments.segments} <= set(SEGMENT_TYPES)
        linked = sum(bool(s.primary_atoms) for s in segments.segments)
        assert linked >= 0.75 * len(segments.segments), pair_id
        structure = store.read_model(structure_profile_path(pair_id), StructureProfile)
        assert structure.segment_count == len(segments.segments)
        assert 100 < structure.words_per_minute < 250, pair_id
        style = store.read_model(style_profile_path(pair_id), StyleProfile)
        assert style.mean_sentence_length > 3, pair_id


def test_the_real_pairs_pass_the_podcast_matches_paper_check(chain):
    for pair_id, result in chain["first"].items():
        [evaluation] = [e for e in result.get_asset_check_evaluations() if e.check_name == "podcast_matches_paper"]
        assert evaluation.passed, (pair_id, evaluation.description)


def test_the_aggregate_is_learned_once_from_all_pairs_and_current_is_what_it_reported(chain):
    [result] = chain["first_agg"].values()
    assert result.success
    current = assert_current_is_what_the_asset_reported(chain["store"], aggregate_metadata(result))
    assert current.pairs_used == chain["pair_ids"] and current.pairs_left_out == {}
    assert len(current.canonical_sequence) >= 3
    assert chain["store"].exists(f"profiles/aggregated_v{current.version}.json")
    again = tick(chain["defs"], chain["instance"], chain["cursors"][1], sensor=aggregate_sensor)
    assert not again.run_requests, "nothing changed, so no new aggregation"


# --------------------------------------------------------------------------- a world per test


@dataclass
class World:
    pairs_dir: Path
    store: LocalArtifactStore
    defs: dg.Definitions
    instance: dg.DagsterInstance

    def add(self, pair_id: str, source: Path | None = None, **files: Path | bytes) -> Path:
        """A pair folder copied from `source` (default: the first real pair), with files replaced as given."""
        folder = self.pairs_dir / pair_id
        shutil.copytree(source or training_pair_dirs()[0], folder)
        for name, content in files.items():
            target = folder / name.replace("_", ".")
            if isinstance(content, Path):
                shutil.copyfile(content, target)
            else:
                target.write_bytes(content)
        return folder

    def run(self, pair_id: str) -> dg.ExecuteInProcessResult:
        """The pair's job, as `podcast-assets train` runs it (in process, tagged with the inputs' manifest)."""
        if pair_id not in self.instance.get_dynamic_partitions("training_pairs"):
            self.instance.add_dynamic_partitions("training_pairs", [pair_id])
        manifest = pair_files(self.pairs_dir, pair_id).manifest_hash()
        return self.defs.resolve_job_def(PAIR_JOB_NAME).execute_in_process(
            partition_key=pair_id, instance=self.instance, raise_on_error=False, tags={MANIFEST_TAG: manifest}
        )

    def aggregate(self) -> dg.ExecuteInProcessResult:
        return self.defs.resolve_job_def(AGGREGATE_JOB_NAME).execute_in_process(instance=self.instance, raise_on_error=False)


@pytest.fixture
def world(tmp_path, ingested):
    session_config, _ = ingested
    artifacts = seeded_artifacts(tmp_path / "artifacts", session_config.storage.root)
    (tmp_path / "pairs").mkdir()
    with dg.instance_for_test() as instance:
        yield World(tmp_path / "pairs", LocalArtifactStore(artifacts), build_definitions(make_config(tmp_path / "pairs", artifacts)), instance)


def test_a_podcast_about_another_paper_is_blocked_and_left_out_of_the_aggregate(world, tmp_path):
    world.add("good")
    world.add("mismatched", paper_pdf=other_topic_pdf())
    assert world.run("good").success
    mismatched = world.run("mismatched")
    assert not mismatched.success, "the blocking check stops the pair's run"
    [evaluation] = mismatched.get_asset_check_evaluations()
    assert not evaluation.passed and "another paper" in evaluation.description
    stored = world.store.read_model(aligned_segments_path("mismatched"), AlignedSegments)
    assert not stored.match.passed and stored.match.description == evaluation.description, "recorded with the analysis"
    for record in ("structure_profile", "style_profile"):
        assert not world.store.exists(pair_record_path("mismatched", record)), "nothing downstream is written"
    assert materialization_count(world.instance, "structure_profiles", "mismatched") == 0

    aggregated = world.aggregate()
    assert aggregated.success
    meta = aggregate_metadata(aggregated)
    assert meta["pairs_used"] == ["good"]
    assert list(meta["pairs_left_out"]) == ["mismatched"]
    assert "does not match the paper" in meta["pairs_left_out"]["mismatched"]
    profile = assert_current_is_what_the_asset_reported(world.store, meta)
    assert profile.concepts_per_minute_range.min > 0, "the mismatched pair does not drag the rates down"


def test_a_pair_whose_latest_run_failed_contributes_nothing_although_its_old_files_remain(world):
    world.add("steady")
    world.add("broken-later")
    assert world.run("steady").success and world.run("broken-later").success
    assert aggregate_metadata(world.aggregate())["pairs_used"] == ["broken-later", "steady"]

    (world.pairs_dir / "broken-later" / "podcast.mp3").write_bytes(b"<html>404 not found</html>")
    assert not world.run("broken-later").success
    assert world.store.exists(structure_profile_path("broken-later")), "the earlier run's files are still there"
    meta = aggregate_metadata(world.aggregate())
    assert meta["pairs_used"] == ["steady"]
    assert "latest run failed at transcription" in meta["pairs_left_out"]["broken-later"]
    assert_current_is_what_the_asset_reported(world.store, meta)


def test_another_pairs_unreadable_record_leaves_only_that_pair_out(world):
    world.add("fine")
    world.add("corrupted")
    assert world.run("fine").success and world.run("corrupted").success
    world.store.write_bytes(style_profile_path("corrupted"), b'{"pair_id": "corrupted", "trunc')
    assert world.run("fine").success, "a pair's run never reads another pair's records"
    meta = aggregate_metadata(world.aggregate())
    assert meta["pairs_used"] == ["fine"] and "cannot be read" in meta["pairs_left_out"]["corrupted"]


def test_removing_a_pair_relearns_the_aggregate_and_adding_it_back_reuses_the_earlier_version(world):
    """Driven by the sensors, as under `dagster dev`: current.json and the asset's metadata agree throughout."""
    defs, instance, store = world.defs, world.instance, world.store
    world.add("alpha")
    world.add("beta")
    pair_tick, runs = run_requested(defs, instance, training_pairs_sensor)
    assert sorted(runs) == ["alpha", "beta"] and all(r.success for r in runs.values())
    _, aggregated = run_requested(defs, instance, aggregate_sensor)
    [first] = aggregated.values()
    assert first.success
    v1 = aggregate_metadata(first)
    assert v1["pairs_used"] == ["alpha", "beta"]
    assert_current_is_what_the_asset_reported(store, v1)

    saved = world.pairs_dir.parent / "beta-saved"
    shutil.move(world.pairs_dir / "beta", saved)
    pair_tick, runs = run_requested(defs, instance, training_pairs_sensor, pair_tick.cursor)
    assert runs == {} and instance.get_dynamic_partitions("training_pairs") == ["alpha"]
    _, aggregated = run_requested(defs, instance, aggregate_sensor)
    [second] = aggregated.values()
    v2 = aggregate_metadata(second)
    assert v2["pairs_used"] == ["alpha"] and v2["version"] == v1["version"] + 1
    assert_current_is_what_the_asset_reported(store, v2)

    shutil.move(saved, world.pairs_dir / "beta")
    pair_tick, runs = run_requested(defs, instance, training_pairs_sensor, pair_tick.cursor)
    assert runs == {}, "beta's files are unchanged and were run before: nothing is computed twice"
    assert sorted(instance.get_dynamic_partitions("training_pairs")) == ["alpha", "beta"]
    _, aggregated = run_requested(defs, instance, aggregate_sensor)
    [third] = aggregated.values()
    v3 = aggregate_metadata(third)
    assert (v3["version"], v3["new_version"], v3["pairs_used"]) == (v1["version"], False, ["alpha", "beta"])
    assert_current_is_what_the_asset_reported(store, v3)
    assert not run_requested(defs, instance, aggregate_sensor)[1], "up to date: no further aggregation"


def test_the_sensors_trust_what_train_already_ran(world):
    """The first `dagster dev` after `podcast-assets train` runs nothing again."""
    world.add("alpha")
    world.add("beta")
    assert world.run("alpha").success and world.run("beta").success
    assert world.aggregate().success
    pair_tick = tick(world.defs, world.instance)
    assert pair_tick.run_requests == [] and not pair_tick.dynamic_partitions_requests
    assert tick(world.defs, world.instance, sensor=aggregate_sensor).run_requests in (None, [])
    (world.pairs_dir / "beta" / "pair.yaml").write_text("speaker_gender: mixed\n")
    changed = tick(world.defs, world.instance, pair_tick.cursor)
    assert [r.partition_key for r in changed.run_requests] == ["beta"], "changed inputs run again"


def test_a_new_pair_reruns_only_its_partition_and_the_aggregate(world):
    world.add("alpha")
    world.add("beta")
    pair_tick, _ = run_requested(world.defs, world.instance, training_pairs_sensor)
    _, first = run_requested(world.defs, world.instance, aggregate_sensor)
    before = {p: materialization_count(world.instance, "aligned_segments", p) for p in ("alpha", "beta")}
    version = aggregate_metadata(next(iter(first.values())))["version"]
    world.add("gamma")
    _, runs = run_requested(world.defs, world.instance, training_pairs_sensor, pair_tick.cursor)
    assert list(runs) == ["gamma"] and runs["gamma"].success
    _, aggregated = run_requested(world.defs, world.instance, aggregate_sensor)
    meta = aggregate_metadata(next(iter(aggregated.values())))
    assert {p: materialization_count(world.instance, "aligned_segments", p) for p in ("alpha", "beta")} == before
    assert meta["version"] == version + 1 and meta["pairs_used"] == ["alpha", "beta", "gamma"]
    assert world.store.exists(f"profiles/aggregated_v{version}.json"), "older versions are kept"
    assert world.store.exists(CURRENT)
