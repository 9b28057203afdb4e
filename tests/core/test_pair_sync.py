from __future__ import annotations

from podcast_assets.core.ingest.pair_sync import STATE_DIR, load_state, parse_state, plan_sync, save_state
from podcast_assets.core.ingest.pairs import discover_pairs
from podcast_assets.core.storage import LocalArtifactStore
from tests.core.test_pairs import make_pair


def test_new_pairs_are_added_and_run_once(tmp_path):
    make_pair(tmp_path, "a")
    make_pair(tmp_path, "b")
    plan = plan_sync(discover_pairs(tmp_path).pairs, set(), {})
    assert plan.add_partitions == ["a", "b"]
    assert [r.pair_id for r in plan.runs] == ["a", "b"]
    again = plan_sync(discover_pairs(tmp_path).pairs, {"a", "b"}, plan.state)
    assert again.add_partitions == again.remove_partitions == [] and again.runs == []


def test_a_changed_pair_runs_again_under_a_new_run_key(tmp_path):
    folder = make_pair(tmp_path, "a")
    first = plan_sync(discover_pairs(tmp_path).pairs, set(), {})
    (folder / "podcast.mp3").write_bytes(b"re-recorded")
    second = plan_sync(discover_pairs(tmp_path).pairs, {"a"}, first.state)
    assert second.add_partitions == []
    assert len(second.runs) == 1 and second.runs[0].run_key != first.runs[0].run_key


def test_touching_a_file_without_changing_it_does_not_run_it(tmp_path):
    folder = make_pair(tmp_path, "a")
    first = plan_sync(discover_pairs(tmp_path).pairs, set(), {})
    import os

    os.utime(folder / "paper.pdf", ns=(1, 1))
    second = plan_sync(discover_pairs(tmp_path).pairs, {"a"}, first.state)
    assert second.runs == []


def test_removed_pairs_lose_their_partition_and_state(tmp_path):
    make_pair(tmp_path, "a")
    first = plan_sync(discover_pairs(tmp_path).pairs, {"a", "gone"}, {})
    assert first.remove_partitions == ["gone"]
    assert "gone" not in first.state


def test_runs_per_tick_are_capped_and_the_rest_deferred(tmp_path):
    for n in range(5):
        make_pair(tmp_path, f"p{n}")
    first = plan_sync(discover_pairs(tmp_path).pairs, set(), {}, max_runs=2)
    assert len(first.runs) == 2 and len(first.deferred) == 3
    assert len(first.add_partitions) == 5
    second = plan_sync(discover_pairs(tmp_path).pairs, set(first.add_partitions), first.state, max_runs=2)
    assert {r.pair_id for r in second.runs}.isdisjoint(r.pair_id for r in first.runs)


def test_a_garbled_or_unknown_state_is_treated_as_empty(tmp_path):
    make_pair(tmp_path, "a")
    store = LocalArtifactStore(tmp_path / "artifacts")
    assert parse_state("{not json") == {} and parse_state("[1, 2]") == {}
    assert load_state(store, "0123456789abcdef01234567") == {}, "a cursor naming a state that is gone"
    assert len(plan_sync(discover_pairs(tmp_path).pairs, set(), load_state(store, "{not json")).runs) == 1


def test_a_thousand_new_pairs_are_hashed_and_run_one_batch_a_tick_each_exactly_once(tmp_path):
    pairs_dir = tmp_path / "pairs"
    for n in range(1000):
        make_pair(pairs_dir, f"p{n:04d}")
    on_disk = discover_pairs(pairs_dir).pairs
    store = LocalArtifactStore(tmp_path / "artifacts")
    first = plan_sync(on_disk, set(), {}, max_runs=10)
    assert len(first.add_partitions) == 1000 and first.hashed == len(first.runs) == 10
    assert len(first.deferred) == 990 and len(first.state) == 10, "the rest wait, unhashed"
    cursor, requested, ticks = save_state(store, first), [r.pair_id for r in first.runs], 1
    assert len(cursor) <= 32, "the cursor names the state; it does not hold it"
    while True:
        plan = plan_sync(on_disk, set(on_disk), load_state(store, cursor), max_runs=10)
        assert plan.hashed <= 10 and plan.hashed == len(plan.runs)
        if not plan.runs:
            break
        requested += [r.pair_id for r in plan.runs]
        cursor, ticks = save_state(store, plan), ticks + 1
    assert sorted(requested) == sorted(on_disk) and len(set(requested)) == 1000 and ticks == 100
    assert plan.hashed == 0 and len(list(store.path(STATE_DIR).glob("*.json"))) <= 3, "old states are pruned"


def test_a_cursor_holding_the_state_itself_is_still_read(tmp_path):
    make_pair(tmp_path / "pairs", "a")
    on_disk = discover_pairs(tmp_path / "pairs").pairs
    first = plan_sync(on_disk, set(), {})
    store = LocalArtifactStore(tmp_path / "artifacts")
    assert plan_sync(on_disk, {"a"}, load_state(store, first.state_json())).runs == []


def test_inputs_the_instance_already_ran_are_not_run_again(tmp_path):
    """A pair run by `podcast-assets train` (same files) is recorded in the state, not requested again."""
    make_pair(tmp_path, "a")
    make_pair(tmp_path, "b")
    on_disk = discover_pairs(tmp_path).pairs
    asked = []

    def handled(pair_id, manifest):
        asked.append((pair_id, manifest))
        return pair_id == "a" and manifest == on_disk["a"].manifest_hash()

    plan = plan_sync(on_disk, {"a"}, {}, handled=handled)
    assert [r.pair_id for r in plan.runs] == ["b"]
    assert plan.state["a"]["hash"] == on_disk["a"].manifest_hash()
    again = plan_sync(on_disk, {"a", "b"}, plan.state, handled=handled)
    assert again.runs == [] and len(asked) == 2, "an unchanged pair is neither hashed nor looked up again"
