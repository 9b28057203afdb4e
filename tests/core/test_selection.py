"""Which pairs the aggregate learns from: only pairs whose latest run finished and whose podcast matches."""

from __future__ import annotations

from podcast_assets.core.analysis.pair_check import podcast_matches_paper
from podcast_assets.core.analysis.selection import (
    PAIR_RECORDS,
    PairRecords,
    PairStanding,
    select_from_store,
    select_pairs,
)
from podcast_assets.core.errors import StorageError
from podcast_assets.core.storage import LocalArtifactStore, pair_record_path
from tests.core.test_aggregate import _pair

DONE = dict.fromkeys(PAIR_RECORDS, "materialized")


def standing(pair_id: str, **statuses) -> PairStanding:
    return PairStanding(pair_id, {**DONE, **statuses})


def records(pair_id: str, *, matches: bool = True) -> PairRecords:
    pair = _pair(pair_id, ["intro", "methodology", "conclusion"], 1.0)
    if not matches:
        pair.aligned.match = podcast_matches_paper(0.0, 0.05, 0.6)
    return pair


def reader(store: dict[str, PairRecords]):
    def read(pair_id: str) -> PairRecords:
        if pair_id not in store:
            raise StorageError("artifact not found", path=f"training_pairs/{pair_id}/style_profile.json")
        return store[pair_id]

    return read, lambda pair_id: read(pair_id).aligned


def test_only_finished_matching_pairs_are_used_and_every_other_pair_is_named_with_its_reason():
    on_disk = {p: records(p) for p in ["ok", "failed", "running", "old"]}
    on_disk["mismatch"] = records("mismatch", matches=False)
    read, read_aligned = reader(on_disk)
    selection = select_pairs(
        [
            standing("ok"),
            standing("failed", transcription="failed", aligned_segments="failed", structure_profile="failed",
                     style_profile="failed"),
            standing("running", structure_profile="in_progress", style_profile="in_progress"),
            standing("mismatch", structure_profile="failed", style_profile="failed"),
            standing("new", **dict.fromkeys(PAIR_RECORDS)),
            standing("unreadable"),
        ],
        read,
        read_aligned,
    )
    assert [p.structure.pair_id for p in selection.used] == ["ok"]
    reasons = selection.left_out
    assert sorted(reasons) == ["failed", "mismatch", "new", "running", "unreadable"]
    assert "latest run failed at transcription" in reasons["failed"]
    assert "in progress" in reasons["running"]
    assert reasons["mismatch"].startswith("the podcast does not match the paper: the podcast is probably about another")
    assert "not run yet" in reasons["new"]
    assert "cannot be read" in reasons["unreadable"] and "style_profile.json" in reasons["unreadable"]


def test_a_failed_latest_run_is_left_out_although_an_earlier_run_left_matching_files():
    read, read_aligned = reader({"p": records("p")})
    selection = select_pairs([standing("p", aligned_segments="failed", structure_profile="failed")], read, read_aligned)
    assert selection.used == [] and "latest run failed at aligned_segments" in selection.left_out["p"]


def test_a_pair_materialized_without_the_check_passing_is_still_left_out():
    read, read_aligned = reader({"p": records("p", matches=False)})
    selection = select_pairs([standing("p")], read, read_aligned)
    assert selection.used == [] and "does not match" in selection.left_out["p"]


def test_records_are_read_from_the_store_and_a_corrupt_one_leaves_only_its_pair_out(tmp_path):
    store = LocalArtifactStore(tmp_path)
    for pair_id in ("a", "b"):
        pair = records(pair_id)
        for name, record in (("aligned_segments", pair.aligned), ("structure_profile", pair.structure),
                             ("style_profile", pair.style)):
            store.write_model(pair_record_path(pair_id, name), record)
    store.write_bytes(pair_record_path("b", "style_profile"), b'{"truncated": ')
    selection = select_from_store([standing("a"), standing("b")], store)
    assert [p.style.pair_id for p in selection.used] == ["a"]
    assert "cannot be read" in selection.left_out["b"] and "style_profile.json" in selection.left_out["b"]
