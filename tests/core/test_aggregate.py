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
from podcast_assets.core.analysis.models import StructureProfile, StyleProfile
from podcast_assets.core.analysis.profile_store import (
    latest_matching,
    load_current,
    next_version,
    save_aggregated,
)
from podcast_assets.core.analysis.profiles import structure_profile, style_profile
from podcast_assets.core.errors import StorageError
from podcast_assets.core.storage import LocalArtifactStore
from tests.core.test_profiles import build_pair

DEPTHS = {
    "overview": {"minutes": 3, "key_concepts": 5},
    "standard": {"minutes": 8, "key_concepts": 10},
    "comprehensive": {"minutes": 25, "key_concepts": 28},
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


def _pair(
    pair_id: str, sequence: list[str], scale: float, **style_kwargs
) -> tuple[StructureProfile, StyleProfile]:
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
    return structure_profile(segments, transcription), style_profile(segments, transcription, **style_kwargs)


def _profiles(**kwargs) -> tuple[list[StructureProfile], list[StyleProfile]]:
    pairs = [
        _pair("a", NOISY[0], 1.0, speaker_gender="female", speakers=1),
        _pair("b", NOISY[1], 1.5, speaker_gender="male", speakers=2),
        _pair("c", NOISY[2], 2.0, speaker_gender="female", speakers=2),
    ]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _aggregate(version: int = 1, created_at: str = "2025-01-01T00:00:00+00:00", depths=DEPTHS):
    structures, styles = _profiles()
    return learn_aggregated_profile(
        structures, styles, depth_targets=depths, version=version, created_at=created_at
    )


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


def test_depth_targets_scale_with_minutes():
    structures, _ = _profiles()
    plans = _aggregate().depth_targets
    assert list(plans) == ["overview", "standard", "comprehensive"]
    for name, plan in plans.items():
        assert plan.minutes == DEPTHS[name]["minutes"]
        assert sum(plan.seconds_by_type.values()) == pytest.approx(plan.minutes * 60)
        assert plan.configured_key_concepts == DEPTHS[name]["key_concepts"]
        assert set(SHARED) <= set(plan.segment_counts)
    small, mid, big = plans["overview"], plans["standard"], plans["comprehensive"]
    ratio = big.minutes / small.minutes
    assert big.seconds_by_type["methodology"] == pytest.approx(ratio * small.seconds_by_type["methodology"])
    assert small.segment_count <= mid.segment_count < big.segment_count
    assert all(big.segment_counts[t] >= small.segment_counts[t] for t in small.segment_counts)
    cpm = sorted(s.concepts_per_minute for s in structures)[1]
    assert big.concepts == round(cpm * 25) and small.concepts == round(cpm * 3)
    assert small.words < mid.words < big.words


def test_style_variants_by_gender_and_speaker_count():
    variants = _aggregate().style_variants
    assert set(variants) == {"all", "gender:female", "gender:male", "speakers:1", "speakers:2"}
    assert variants["all"].pairs == ["a", "b", "c"]
    assert variants["gender:female"].pairs == ["a", "c"]
    assert variants["speakers:2"].pairs == ["b", "c"]
    _, styles = _profiles()
    assert variants["gender:female"].questions_per_minute == pytest.approx(
        (styles[0].questions_per_minute + styles[2].questions_per_minute) / 2
    )


def test_mismatched_inputs_are_refused():
    structures, styles = _profiles()
    with pytest.raises(ValueError):
        learn_aggregated_profile(structures, styles[:2], depth_targets=DEPTHS, version=1, created_at="x")
    with pytest.raises(ValueError):
        learn_aggregated_profile([], [], depth_targets=DEPTHS, version=1, created_at="x")


def test_fingerprint_tracks_inputs_not_time_or_order():
    structures, styles = _profiles()
    first = _aggregate(created_at="2025-01-01T00:00:00+00:00")
    again = learn_aggregated_profile(
        structures[::-1],
        styles[::-1],
        depth_targets=DEPTHS,
        version=9,
        created_at="2026-01-01T00:00:00+00:00",
    )
    assert (
        again.source_fingerprint == first.source_fingerprint == source_fingerprint(structures, styles, DEPTHS)
    )
    assert source_fingerprint(structures[:2], styles[:2], DEPTHS) != first.source_fingerprint
    assert source_fingerprint(structures, styles, {"overview": {"minutes": 4}}) != first.source_fingerprint


def test_versions_are_written_once_and_current_follows(tmp_path):
    store = LocalArtifactStore(tmp_path)
    assert next_version(store) == 1 and load_current(store) is None
    v1 = _aggregate(version=next_version(store))
    assert save_aggregated(store, v1) == "profiles/aggregated_v1.json"
    assert load_current(store) == v1 and next_version(store) == 2

    structures, styles = _profiles()
    v2 = learn_aggregated_profile(
        structures[:2],
        styles[:2],
        depth_targets=DEPTHS,
        version=next_version(store),
        created_at="2025-02-01T00:00:00",
    )
    save_aggregated(store, v2)
    assert load_current(store) == v2 and next_version(store) == 3

    before = store.read_bytes("profiles/aggregated_v1.json")
    with pytest.raises(StorageError, match="never overwritten"):
        save_aggregated(store, v1.model_copy(update={"created_at": "later"}))
    assert store.read_bytes("profiles/aggregated_v1.json") == before
    assert load_current(store) == v2
    assert sorted(p.name for p in store.path("profiles").iterdir()) == [
        "aggregated_v1.json",
        "aggregated_v2.json",
        "current.json",
    ]

    unchanged = source_fingerprint(structures, styles, DEPTHS)
    assert latest_matching(store, unchanged) == v1
    assert latest_matching(store, v2.source_fingerprint) == v2
    assert latest_matching(store, "0" * 64) is None


def test_aggregated_markdown_summarises_the_profile():
    text = aggregated_markdown(_aggregate())
    assert "v1" in text and "intro → background → methodology → key_finding → conclusion" in text
    assert "| comprehensive | 25 |" in text
    assert "gender:female" in text
