from __future__ import annotations

from podcast_assets.core.ingest.pair_sync import plan_sync
from podcast_assets.core.ingest.pairs import discover_pairs
from tests.core.test_pairs import make_pair


def test_new_pairs_are_added_and_run_once(tmp_path):
    make_pair(tmp_path, "a")
    make_pair(tmp_path, "b")
    plan = plan_sync(discover_pairs(tmp_path).pairs, set(), None)
    assert plan.add_partitions == ["a", "b"]
    assert [r.pair_id for r in plan.runs] == ["a", "b"]
    again = plan_sync(discover_pairs(tmp_path).pairs, {"a", "b"}, plan.cursor())
    assert again.add_partitions == again.remove_partitions == [] and again.runs == []


def test_a_changed_pair_runs_again_under_a_new_run_key(tmp_path):
    folder = make_pair(tmp_path, "a")
    first = plan_sync(discover_pairs(tmp_path).pairs, set(), None)
    (folder / "podcast.mp3").write_bytes(b"re-recorded")
    second = plan_sync(discover_pairs(tmp_path).pairs, {"a"}, first.cursor())
    assert second.add_partitions == []
    assert len(second.runs) == 1 and second.runs[0].run_key != first.runs[0].run_key


def test_touching_a_file_without_changing_it_does_not_run_it(tmp_path):
    folder = make_pair(tmp_path, "a")
    first = plan_sync(discover_pairs(tmp_path).pairs, set(), None)
    import os

    os.utime(folder / "paper.pdf", ns=(1, 1))
    second = plan_sync(discover_pairs(tmp_path).pairs, {"a"}, first.cursor())
    assert second.runs == []


def test_removed_pairs_lose_their_partition_and_state(tmp_path):
    make_pair(tmp_path, "a")
    first = plan_sync(discover_pairs(tmp_path).pairs, {"a", "gone"}, None)
    assert first.remove_partitions == ["gone"]
    assert "gone" not in first.state


def test_runs_per_tick_are_capped_and_the_rest_deferred(tmp_path):
    for n in range(5):
        make_pair(tmp_path, f"p{n}")
    first = plan_sync(discover_pairs(tmp_path).pairs, set(), None, max_runs=2)
    assert len(first.runs) == 2 and len(first.deferred) == 3
    assert len(first.add_partitions) == 5
    second = plan_sync(discover_pairs(tmp_path).pairs, set(first.add_partitions), first.cursor(), max_runs=2)
    assert {r.pair_id for r in second.runs}.isdisjoint(r.pair_id for r in first.runs)


def test_a_garbled_cursor_is_treated_as_empty(tmp_path):
    make_pair(tmp_path, "a")
    assert len(plan_sync(discover_pairs(tmp_path).pairs, set(), "{not json").runs) == 1


def test_inputs_the_instance_already_ran_are_not_run_again(tmp_path):
    """A pair run by `podcast-assets train` (same files) is recorded in the state, not requested again."""
    make_pair(tmp_path, "a")
    make_pair(tmp_path, "b")
    on_disk = discover_pairs(tmp_path).pairs
    asked = []

    def handled(pair_id, manifest):
        asked.append((pair_id, manifest))
        return pair_id == "a" and manifest == on_disk["a"].manifest_hash()

    plan = plan_sync(on_disk, {"a"}, None, handled=handled)
    assert [r.pair_id for r in plan.runs] == ["b"]
    assert plan.state["a"]["hash"] == on_disk["a"].manifest_hash()
    again = plan_sync(on_disk, {"a", "b"}, plan.cursor(), handled=handled)
    assert again.runs == [] and len(asked) == 2, "an unchanged pair is neither hashed nor looked up again"
