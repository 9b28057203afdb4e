"""The oracle's calibration: a stratified sample, agreement with the hand labels, a verdict that names the type the
oracle gets wrong, a fresh round that gates labelling at scale, and the type-by-type 80/10/10 split."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from podcast_assets.core.analysis.evidence import SegmentEvidence, SegmentLabel, TypingResult
from podcast_assets.core.config import OracleThresholds
from podcast_assets.core.errors import PodcastAssetsError
from podcast_assets.core.oracle import calibration as cal
from podcast_assets.core.oracle import labelling

LABELS = Path(__file__).resolve().parents[1] / "data"
BARS = OracleThresholds(pass_agreement=0.8, fail_agreement=0.6, min_class_recall=0.5, min_support=3)
TYPES = ["intro", "background", "methodology", "methodology", "key_finding", "methodology", "limitation", "conclusion"]


def episode(pair: str, types=TYPES, step: float = 20.0):
    evidence = [SegmentEvidence(id=f"s{i + 1:03d}", start=i * step, end=(i + 1) * step, text=f"{pair} words {i} {t}",
                                audio_duration=len(types) * step) for i, t in enumerate(types)]  # fmt: skip
    labels = [cal.HandLabel(start=i * step, end=(i + 1) * step, type=t) for i, t in enumerate(types)]
    return evidence, labels


def trusted(pairs=("a", "b", "c")):
    return [item for p in pairs for item in cal.trusted_segments(p, *episode(p))]


def test_every_hand_labels_file_of_the_repository_reads():
    files = cal.labelled_pairs(LABELS)
    assert len(files) >= 4
    for path in files.values():
        labels = cal.load_labels(path)
        assert labels == sorted(labels, key=lambda lb: lb.start) and all(lb.end > lb.start for lb in labels)


def test_a_malformed_labels_file_names_itself_and_the_fix(tmp_path):
    bad = tmp_path / "p.labels.yaml"
    bad.write_text("- {start: 0, end: 3, type: chitchat}\n")
    with pytest.raises(PodcastAssetsError, match="cannot be read") as err:
        cal.load_labels(bad)
    assert err.value.path == str(bad) and "intro" in err.value.fix


def test_a_segment_spanning_two_labels_is_a_mixed_edge_case_and_a_short_one_is_short():
    evidence = [SegmentEvidence(id="s001", start=0, end=30, text="x", audio_duration=60),
                SegmentEvidence(id="s002", start=30, end=38, text="y", audio_duration=60)]  # fmt: skip
    labels = [cal.HandLabel(start=0, end=16, type="intro"), cal.HandLabel(start=16, end=60, type="methodology")]
    first, second = cal.trusted_segments("p", evidence, labels)
    assert (first.label, first.label_share, first.edge) == ("intro", pytest.approx(16 / 30, abs=1e-3), ["mixed"])
    assert (second.label, second.edge) == ("methodology", ["short"])


def test_the_sample_spans_every_type_and_pair_is_seeded_and_a_fresh_one_is_disjoint():
    items = trusted()
    sample = cal.draw_sample(items, 12, seed=0)
    assert len(sample) == 12 and sample == cal.draw_sample(items, 12, seed=0)
    assert {s.label for s in sample} == set(TYPES), "rare types are in, not only the common methodology"
    assert {s.pair_id for s in sample} == {"a", "b", "c"}
    fresh = cal.draw_sample(items, 12, seed=1, exclude=[s.key for s in sample])
    assert len(fresh) == 12 and not {s.key for s in fresh} & {s.key for s in sample}
    assert len(cal.draw_sample(items, 100, seed=0)) == len(items), "all there are, when fewer than asked"


def test_edge_cases_get_their_quota_first():
    items = trusted()
    for item in items[:6]:
        item.edge = ["short"]
    sample = cal.draw_sample(items, 10, seed=3)
    assert sum(bool(s.edge) for s in sample) >= round(10 * cal.EDGE_SHARE)


def oracle_saying(wrong: dict[str, str] | None = None, calls: list | None = None, pairs: str = "abc"):
    """An oracle that reads the truth from the segment's text, and says `wrong[type]` instead for those types (on
    the segments of `pairs`)."""

    def typer(evidence, graph):
        if calls is not None:
            calls.append(len(evidence))
        truth = [(ev.text.split()[0], ev.text.split()[-1]) for ev in evidence]
        said = [(wrong or {}).get(t, t) if p in pairs else t for p, t in truth]
        return TypingResult(classifier="fake", labels=tuple(SegmentLabel(type=t, confidence=0.9) for t in said))

    return typer


def a_round(items, oracle, *, seed=0, round="calibration", exclude=(), now="2026-12-03T10:00:00.000000Z"):
    pairs = {i.pair_id for i in items}
    return cal.run_round(items, dict.fromkeys(pairs), dict.fromkeys(pairs, 160.0), oracle, size=20, seed=seed,
                         round=round, thresholds=BARS, exclude=exclude, now=now,
                         identity={"provider": "openai", "model": "m", "prompt_version": "segment_typing/v1"})  # fmt: skip


def test_an_oracle_that_mislabels_one_type_fails_and_the_verdict_names_it():
    report = a_round(trusted(), oracle_saying({"methodology": "key_finding"}))
    assert report.verdict == "FAIL"
    assert any(r.startswith("the oracle mislabels methodology") and "key_finding" in r for r in report.reasons)
    methodology = next(t for t in report.agreement.per_type if t.type == "methodology")
    assert methodology.recall == 0.0 and methodology.support >= BARS.min_support
    assert {d.trusted for d in report.agreement.disagreements} == {"methodology"}


def test_an_oracle_that_agrees_passes_and_one_in_between_asks_for_review():
    items = trusted()
    assert a_round(items, oracle_saying()).verdict == "PASS"
    every_type_once = {t: "tangent" for t in TYPES}
    one_pair_wrong = a_round(items, oracle_saying(every_type_once, pairs="a"))
    assert all(t.recall is None or t.recall >= 0.5 for t in one_pair_wrong.agreement.per_type if t.type != "tangent")
    assert one_pair_wrong.verdict == "REVIEW" and 0.6 <= one_pair_wrong.agreement.agreement < 0.8


def test_labelling_at_scale_waits_for_a_passed_calibration_and_a_passed_fresh_round():
    items = trusted()
    episodes = {p: (episode(p)[0], None) for p in "abc"}
    identity = {"provider": "openai", "model": "m", "prompt_version": "segment_typing/v1"}
    calls: list[int] = []

    def label(reports):
        return labelling.label_at_scale(reports, lambda: episodes, oracle_saying(calls=calls), identity=identity, seed=0,
                                        now="2026-12-03T12:00:00Z")  # fmt: skip

    failed = a_round(items, oracle_saying({"methodology": "key_finding"}), now="2026-12-03T10:00:00Z")
    passed = a_round(items, oracle_saying(), now="2026-12-03T10:05:00Z")
    _, taken = cal.fresh_exclusions([failed, passed])
    fresh = a_round(items, oracle_saying(), seed=1, round="fresh", exclude=taken, now="2026-12-03T10:10:00Z")
    assert not set(fresh.sample) & set(passed.sample)
    for reports, missing in (([], "not been calibrated"), ([failed], "says FAIL"), ([failed, passed], "no fresh round")):
        with pytest.raises(PodcastAssetsError, match=missing):
            label(reports)
    assert calls == [], "refused before any call"
    made = label([failed, passed, fresh])
    assert len(made.labels) == 3 * len(TYPES) and "both passed" in made.calibrated


def test_the_split_keeps_each_types_proportions():
    keys = [(f"p/s{i:03d}", "methodology" if i % 5 else "limitation") for i in range(200)]
    parts = labelling.split(keys, seed=0)
    assert parts == labelling.split(keys, seed=0)
    counts = Counter((kind, parts[key]) for key, kind in keys)
    assert counts["methodology", "test"] == counts["methodology", "validation"] == 16
    assert counts["limitation", "test"] == counts["limitation", "validation"] == 4
    assert counts["limitation", "train"] == 32


def test_the_review_pages_types_lay_over_the_hand_labels_and_a_bare_segment_is_not_trusted():
    hand = [cal.HandLabel(start=0, end=30, type="intro"), cal.HandLabel(start=30, end=90, type="methodology")]
    merged = cal.with_reviewed(hand, [(20.0, 40.0, "background")])
    assert [(lb.start, lb.end, lb.type) for lb in merged] == [
        (0, 20, "intro"), (20, 40, "background"), (40, 90, "methodology")
    ]
    evidence = [SegmentEvidence(id=f"s{i:03d}", start=i * 30.0, end=(i + 1) * 30.0, text="x", audio_duration=90)
                for i in range(3)]  # fmt: skip
    only_reviewed = cal.with_reviewed([], [(0.0, 25.0, "intro"), (65.0, 70.0, "limitation")])
    assert [(t.segment_id, t.label) for t in cal.trusted_segments("p", evidence, only_reviewed)] == [("s000", "intro")]
