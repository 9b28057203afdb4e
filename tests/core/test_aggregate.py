from __future__ import annotations

import itertools

import pytest

from podcast_assets.core.analysis.aggregate import (
    aggregated_markdown,
    canonical_sequence,
    compress_runs,
    learn_aggregated_profile,
    source_fingerprint,
)
from podcast_assets.core.analysis.profile_store import (
    latest_matching,
    learn_or_reuse,
    load_current,
    next_version,
    save_version,
)
from podcast_assets.core.analysis.profiles import structure_profile, style_profile
from podcast_assets.core.analysis.selection import PairRecords, Selection
from podcast_assets.core.config import DepthTarget
from podcast_assets.core.errors import StorageError
from podcast_assets.core.storage import LocalArtifactStore
from tests.core.test_profiles import build_pair

DEPTHS = {
    "overview": DepthTarget(min_minutes=3, max_minutes=5, key_concepts=5),
    "standard": DepthTarget(min_minutes=10, max_minutes=15, key_concepts=10),
    "comprehensive": DepthTarget(min_minutes=45, key_concepts=28),
}
SHARED = ["intro", "background", "methodology", "key_finding", "conclusion"]
NOISY = [
    ["intro", "background", "tangent", "methodology", "key_finding", "conclusion"],  # insertion
    ["intro", "methodology", "key_finding", "conclusion"],  # deletion
    ["intro", "background", "methodology", "key_finding", "figure", "conclusion"],  # insertion
]
TEXT = {
    "intro": "Welcome to the deep dive. Today we look at a new paper on {c}.",
    "background": "Let's start with some background. People used {c} for years.",
    "methodology": "So how does it work? The key idea is that {c} is a kind of filter.",
    "key_finding": "Here is the big result. It is really important that {c} wins.",
    "figure": "In figure 2 you can see the curve drop.",
    "tangent": "Fun fact, I once tried this at home!",
    "conclusion": "That's it for today. Thanks for listening.",
}


def _pair(pair_id: str, sequence: list[str], scale: float, **style_kwargs) -> PairRecords:
    spec = [
        (
            kind,
            30 * scale * (i % 3 + 1),
            TEXT[kind].format(c=f"concept{i}"),
            {"key_concepts": [f"concept{i}"]},
        )
        for i, kind in enumerate(sequence)
    ]
    segments, transcription = build_pair(pair_id, spec)
    return PairRecords(
        segments, structure_profile(segments, transcription), style_profile(segments, transcription, **style_kwargs)
    )


def _selection(left_out: dict[str, str] | None = None) -> Selection:
    used = [
        _pair("a", NOISY[0], 1.0, speaker_gender="female", speakers=1),
        _pair("b", NOISY[1], 1.5, speaker_gender="male", speakers=2),
        _pair("c", NOISY[2], 2.0, speaker_gender="female", speakers=2),
    ]
    return Selection(used=used, left_out=left_out or {})


def _aggregate(version: int = 1, created_at: str = "2025-01-01T00:00:00+00:00", depths=DEPTHS, left_out=None):
    return learn_aggregated_profile(_selection(left_out), depths=depths, version=version, created_at=created_at)


def test_runs_are_compressed():
    assert compress_runs(["intro", "intro", "background", "intro"]) == ["intro", "background", "intro"]


def test_canonical_sequence_recovers_the_shared_order_that_no_input_has():
    canonical, distance = canonical_sequence(NOISY)
    assert canonical == SHARED
    assert all(canonical != s for s in NOISY)
    assert distance == pytest.approx(1.0)


def test_canonical_sequence_ignores_runs_and_input_order():
    stretched = [[t for t in s for _ in range(2)] for s in NOISY]
    for order in itertools.permutations(stretched):
        assert canonical_sequence(order)[0] == SHARED


def test_canonical_sequence_of_one_pair_is_that_pair():
    assert canonical_sequence([["intro", "intro", "conclusion"]]) == (["intro", "conclusion"], 0.0)


def test_aggregate_durations_ranges_and_phrases():
    profile = _aggregate()
    assert profile.pairs_used == ["a", "b", "c"]
    assert profile.canonical_sequence == SHARED
    assert "medoid" in profile.canonical_sequence_method
    assert sum(d.share for d in profile.duration_targets.values()) == pytest.approx(1.0)
    for target in profile.duration_targets.values():
        assert target.p25_seconds <= target.median_seconds <= target.p75_seconds
    assert profile.duration_targets["intro"].pairs_with_type == 3
    assert profile.duration_targets["tangent"].pairs_with_type == 1
    assert profile.duration_targets["background"].segments == 2
    wpm = profile.wpm_range
    assert wpm.min <= wpm.p25 <= wpm.median <= wpm.p75 <= wpm.max and wpm.min > 0
    assert profile.concepts_per_minute_range.max > 0
    intro = [p.phrase for p in profile.universal_phrases["intro"]]
    conclusion = [p.phrase for p in profile.universal_phrases["conclusion"]]
    assert "welcome to the deep" in intro and "welcome to the" not in intro  # shorter, same support: dropped
    assert "thanks for listening" in conclusion
    assert all(p.share >= 0.5 for phrases in profile.universal_phrases.values() for p in phrases)
    assert "fun fact" not in [p.phrase for ps in profile.universal_phrases.values() for p in ps]


def test_depth_plans_use_the_configured_ranges_and_concept_counts():
    structures = _selection().structures
    plans = _aggregate().depth_targets
    assert list(plans) == ["overview", "standard", "comprehensive"]
    for name, plan in plans.items():
        depth = DEPTHS[name]
        assert (plan.min_minutes, plan.max_minutes, plan.target_minutes) == (
            depth.min_minutes, depth.max_minutes, depth.target_minutes
        )
        assert plan.key_concepts == depth.key_concepts
        assert sum(plan.seconds_by_type.values()) == pytest.approx(plan.target_minutes * 60)
        assert set(SHARED) <= set(plan.segment_counts)
    small, mid, big = plans["overview"], plans["standard"], plans["comprehensive"]
    assert (small.target_minutes, mid.target_minutes, big.target_minutes) == (4, 12.5, 45)
    assert big.max_words is None and big.min_words == big.words
    ratio = big.target_minutes / small.target_minutes
    assert big.seconds_by_type["methodology"] == pytest.approx(ratio * small.seconds_by_type["methodology"])
    assert small.segment_count <= mid.segment_count < big.segment_count
    assert all(big.segment_counts[t] >= small.segment_counts[t] for t in small.segment_counts)
    wpm = sorted(s.words_per_minute for s in structures)[1]
    assert (small.min_words, small.words, small.max_words) == (round(wpm * 3), round(wpm * 4), round(wpm * 5))
    cpm = sorted(s.concepts_per_minute for s in structures)[1]
    assert big.learned_concepts == round(cpm * 45) and small.learned_concepts == round(cpm * 4)


def test_style_variants_by_gender_and_speaker_count():
    variants = _aggregate().style_variants
    assert set(variants) == {"all", "gender:female", "gender:male", "speakers:1", "speakers:2"}
    assert variants["all"].pairs == ["a", "b", "c"]
    assert variants["gender:female"].pairs == ["a", "c"]
    assert variants["speakers:2"].pairs == ["b", "c"]
    styles = _selection().styles
    assert variants["gender:female"].questions_per_minute == pytest.approx(
        (styles[0].questions_per_minute + styles[2].questions_per_minute) / 2
    )


def test_inconsistent_or_empty_inputs_are_refused():
    selection = _selection()
    selection.used[1] = PairRecords(selection.used[1].aligned, selection.used[1].structure, selection.used[0].style)
    with pytest.raises(ValueError):
        learn_aggregated_profile(selection, depths=DEPTHS, version=1, created_at="x")
    with pytest.raises(ValueError):
        learn_aggregated_profile(Selection(), depths=DEPTHS, version=1, created_at="x")


def test_the_pairs_left_out_are_named_with_their_reason():
    profile = _aggregate(left_out={"z": "the podcast does not match the paper: ...", "y": "not run yet"})
    assert profile.pairs_used == ["a", "b", "c"]
    assert profile.pairs_left_out == {"y": "not run yet", "z": "the podcast does not match the paper: ..."}
    assert "left out **z**: the podcast does not match" in aggregated_markdown(profile)


def test_fingerprint_tracks_inputs_not_time_or_order():
    selection = _selection()
    structures, styles = selection.structures, selection.styles
    first = _aggregate(created_at="2025-01-01T00:00:00+00:00")
    reordered = Selection(used=selection.used[::-1])
    again = learn_aggregated_profile(reordered, depths=DEPTHS, version=9, created_at="2026-01-01T00:00:00+00:00")
    assert again.source_fingerprint == first.source_fingerprint == source_fingerprint(structures, styles, {}, DEPTHS)
    assert source_fingerprint(structures[:2], styles[:2], {}, DEPTHS) != first.source_fingerprint
    assert source_fingerprint(structures, styles, {"d": "not run yet"}, DEPTHS) != first.source_fingerprint
    longer = {**DEPTHS, "overview": DepthTarget(min_minutes=3, max_minutes=6, key_concepts=5)}
    assert source_fingerprint(structures, styles, {}, longer) != first.source_fingerprint


def test_versions_are_written_once(tmp_path):
    store = LocalArtifactStore(tmp_path)
    assert next_version(store) == 1 and load_current(store) is None
    v1 = _aggregate(version=1)
    assert save_version(store, v1) == "profiles/aggregated_v1.json" and next_version(store) == 2
    before = store.read_bytes("profiles/aggregated_v1.json")
    with pytest.raises(StorageError, match="never overwritten"):
        save_version(store, v1.model_copy(update={"created_at": "later"}))
    assert store.read_bytes("profiles/aggregated_v1.json") == before
    assert [p.name for p in store.path("profiles").iterdir() if p.name.endswith(".tmp")] == []
    assert latest_matching(store, v1.source_fingerprint) == v1
    assert latest_matching(store, "0" * 64) is None


def test_current_is_always_the_version_learned_or_reused_last(tmp_path):
    """Going back to an earlier set of pairs reuses its version, and current.json follows it."""
    store = LocalArtifactStore(tmp_path)
    everything = _selection()
    fewer = Selection(used=everything.used[:2], left_out={"c": "its latest run failed at transcription"})
    first, reused = learn_or_reuse(store, everything, depths=DEPTHS, created_at="t1")
    assert (first.version, reused, load_current(store)) == (1, False, first)
    second, reused = learn_or_reuse(store, fewer, depths=DEPTHS, created_at="t2")
    assert (second.version, reused, load_current(store)) == (2, False, second)
    assert second.pairs_used == ["a", "b"] and second.pairs_left_out == {"c": "its latest run failed at transcription"}
    back, reused = learn_or_reuse(store, everything, depths=DEPTHS, created_at="t3")
    assert (back, reused) == (first, True)
    assert load_current(store) == first, "current.json is the version just reported, not the newest file"
    assert next_version(store) == 3


def test_aggregated_markdown_summarises_the_profile():
    text = aggregated_markdown(_aggregate())
    assert "v1" in text and "intro → background → methodology → key_finding → conclusion" in text
    assert "| comprehensive | 45+ (45) |" in text and "| overview | 3-5 (4) |" in text
    assert "gender:female" in text
