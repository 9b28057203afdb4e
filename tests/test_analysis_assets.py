"""The whole chain, pairs to aggregated_profile, offline on the real pairs, driven as the daemon would:
the pairs sensor requests runs, the runs execute, the aggregate sensor requests the aggregation."""

from __future__ import annotations

import shutil

import dagster as dg
import pytest

from podcast_assets.core.analysis.models import SEGMENT_TYPES, AlignedSegments, StructureProfile, StyleProfile
from podcast_assets.core.analysis.profile_store import load_current
from podcast_assets.core.storage import LocalArtifactStore
from podcast_assets.definitions import build_definitions
from podcast_assets.defs.analysis import aligned_segments_path, structure_profile_path, style_profile_path
from podcast_assets.defs.jobs import PAIR_JOB_NAME
from podcast_assets.defs.sensors import aggregate_sensor, training_pairs_sensor
from tests.conftest import EXAMPLE_PAIRS, require_shared_pairs
from tests.dagster_helpers import make_config, tick


def run_requested(defs, instance, sensor, cursor=None):
    """One tick of `sensor`, then every run it requested, in process. Returns (cursor, {partition: result})."""
    result = tick(defs, instance, cursor, sensor=sensor)
    outcomes = {}
    for request in result.run_requests or []:
        job = defs.resolve_job_def(request.job_name or sensor.job_name)
        outcomes[request.partition_key] = job.execute_in_process(
            partition_key=request.partition_key, instance=instance, tags=request.tags, raise_on_error=False
        )
    return result.cursor, outcomes


def materialization_count(instance, asset: str, partition: str) -> int:
    return len(
        instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]), limit=100
        ).records
    )


@pytest.fixture(scope="module")
def chain(tmp_path_factory, artifact_root):
    shared = require_shared_pairs()
    pairs_dir = tmp_path_factory.mktemp("chain") / "pairs"
    for pair in shared:
        shutil.copytree(pair, pairs_dir / pair.name)
    defs = build_definitions(make_config(pairs_dir, artifact_root))
    with dg.instance_for_test() as instance:
        pair_cursor, first = run_requested(defs, instance, training_pairs_sensor)
        agg_cursor, first_agg = run_requested(defs, instance, aggregate_sensor)
        yield {
            "pairs_dir": pairs_dir,
            "defs": defs,
            "instance": instance,
            "store": LocalArtifactStore(artifact_root),
            "pair_ids": [p.name for p in shared],
            "first": first,
            "first_agg": first_agg,
            "cursors": (pair_cursor, agg_cursor),
        }


def test_every_real_pair_runs_the_whole_per_pair_chain_offline(chain):
    assert sorted(chain["first"]) == sorted(chain["pair_ids"])
    failed = {p: r.success for p, r in chain["first"].items() if not r.success}
    assert failed == {}
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
        [evaluation] = result.get_asset_check_evaluations()
        assert evaluation.passed, (pair_id, evaluation.description)


def test_the_aggregate_is_learned_once_from_all_pairs_and_versioned(chain):
    [result] = chain["first_agg"].values()
    assert result.success
    current = load_current(chain["store"])
    assert sorted(current.pairs_used) == sorted(chain["pair_ids"])
    assert len(current.canonical_sequence) >= 3
    assert chain["store"].exists(f"profiles/aggregated_v{current.version}.json")
    _, again = run_requested(chain["defs"], chain["instance"], aggregate_sensor, chain["cursors"][1])
    assert again == {}, "no profile changed, so no new aggregation"


def test_a_fifth_pair_reruns_only_its_partitions_and_the_aggregate(chain):
    defs, instance, store = chain["defs"], chain["instance"], chain["store"]
    before = {p: materialization_count(instance, "aligned_segments", p) for p in chain["pair_ids"]}
    version_before = load_current(store).version
    shutil.copytree(EXAMPLE_PAIRS / "wheat-climate-risk-podcastfy", chain["pairs_dir"] / "fifth-pair")
    _, fifth = run_requested(defs, instance, training_pairs_sensor, chain["cursors"][0])
    assert list(fifth) == ["fifth-pair"] and fifth["fifth-pair"].success
    _, aggregated = run_requested(defs, instance, aggregate_sensor, chain["cursors"][1])
    assert len(aggregated) == 1 and next(iter(aggregated.values())).success
    assert {p: materialization_count(instance, "aligned_segments", p) for p in chain["pair_ids"]} == before
    current = load_current(store)
    assert current.version == version_before + 1 and "fifth-pair" in current.pairs_used
    assert store.exists(f"profiles/aggregated_v{version_before}.json"), "older versions are kept"


def test_a_podcast_about_another_paper_fails_the_check_without_crashing(chain, tmp_path):
    pair_ids = chain["pair_ids"]
    if not {"wheat-climate-risk-podcastfy", "kd-survey-notebookllama-ollama"} <= set(pair_ids):
        pytest.skip("needs the wheat and kd-survey pairs in ../shared/data/pairs")
    mixed = chain["pairs_dir"] / "mismatched"
    mixed.mkdir()
    shutil.copy(chain["pairs_dir"] / "wheat-climate-risk-podcastfy" / "paper.pdf", mixed / "paper.pdf")
    shutil.copy(chain["pairs_dir"] / "kd-survey-notebookllama-ollama" / "podcast.mp3", mixed / "podcast.mp3")
    instance = chain["instance"]
    instance.add_dynamic_partitions("training_pairs", ["mismatched"])
    result = chain["defs"].resolve_job_def(PAIR_JOB_NAME).execute_in_process(
        partition_key="mismatched", instance=instance, raise_on_error=False
    )
    assert result.success, "a mismatched pair is flagged, not crashed"
    [evaluation] = result.get_asset_check_evaluations()
    assert not evaluation.passed
    assert "another paper" in evaluation.description
    [mat] = result.asset_materializations_for_node("aligned_segments")
    assert mat.metadata["podcast_matches_paper"].value is False
