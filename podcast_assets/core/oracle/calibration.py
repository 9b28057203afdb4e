"""Calibrating the oracle (an LLM segment typer: model and prompt version) against trusted labels, before it may
label at scale.

Trusted labels are hand labels, `<pair_id>.labels.yaml` in `oracle.labels_dir` (tests/data holds the four shared
pairs'): each stretch of a podcast with its type; the types reviewers give segments on the review page are laid
over them (`with_reviewed`), and a pair typed only there is trusted too. The project's own segmentation of the episode gives the items;
each segment takes the label covering most of its time (metrics.covering_label). A segment is an *edge case* when it is
short (under SHORT_SECONDS) or mixed (its label covers under MIXED_SHARE of it).

`draw_sample` is stratified and seeded: an EDGE_SHARE quota of edge cases first, then the types in turn until each
has `min_support` segments (the pairs in turn within a type), then the rest at random, so every type can be judged,
every pair is in, and the common types weigh as they do in the podcasts. The oracle labels the sample; `compare` counts agreement, per-type precision, recall and F1 and the
confusion; `decide` turns them into a verdict by the thresholds in configs/pipeline.yaml (`oracle:`):

- FAIL when agreement is under `fail_agreement`, or when a type with at least `min_support` trusted segments in the
  sample has recall under `min_class_recall` (the oracle mislabels that type; the reason names it);
- PASS when agreement is at least `pass_agreement` and no type fails;
- REVIEW otherwise: someone reads the disagreements the report lists before deciding.

A round is `calibration` (fix the prompt and repeat until it passes) or `fresh`: a sample drawn with another seed,
disjoint from the calibration sample (the calibration rounds are the prompt's train set, the fresh one its test).
`may_label_at_scale` allows bulk labelling with a model and prompt version only after its last calibration round
and a fresh round after it both passed.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, ValidationError

from podcast_assets.core.analysis.evidence import SegmentEvidence, TypingResult
from podcast_assets.core.analysis.models import SEGMENT_TYPES, SegmentType
from podcast_assets.core.config import OracleThresholds
from podcast_assets.core.errors import PodcastAssetsError
from podcast_assets.core.ingest.models import DocumentGraph
from podcast_assets.core.llm import UsageTotals
from podcast_assets.core.metrics import covering_label
from podcast_assets.core.records import Record
from podcast_assets.core.storage import LocalArtifactStore

SHORT_SECONDS = 12.0
"""A segment shorter than this is an edge case: little text to decide from."""
MIXED_SHARE = 0.7
"""A segment whose label covers less of its time than this is an edge case: it is two things."""
EDGE_SHARE = 0.2
"""Share of a sample given to edge cases first (when there are that many)."""
LABELS_SUFFIX = ".labels.yaml"

Round = Literal["calibration", "fresh"]
Verdict = Literal["PASS", "REVIEW", "FAIL"]


class HandLabel(Record):
    start: float = Field(ge=0)
    end: float = Field(ge=0)
    type: SegmentType
    note: str = ""


def load_labels(path: Path) -> list[HandLabel]:
    """A hand-labels file: a YAML list of {start, end, type, note}; a clear error names the file otherwise."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(raw, list) or not raw:
            raise ValueError("it is not a non-empty list of {start, end, type, note}")
        labels = [HandLabel.model_validate(item) for item in raw]
    except (OSError, yaml.YAMLError, ValueError, ValidationError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise PodcastAssetsError(
            f"the hand labels cannot be read: {detail}",
            path=path,
            fix=f"write one entry per stretch, e.g. '- {{start: 0.0, end: 4.1, type: intro}}'; types: {', '.join(SEGMENT_TYPES)}",
        ) from exc
    return sorted(labels, key=lambda lb: lb.start)


def labelled_pairs(labels_dir: Path) -> dict[str, Path]:
    """{pair_id: its labels file} in `labels_dir` (none when the folder does not exist)."""
    if not labels_dir.is_dir():
        return {}
    return {p.name.removesuffix(LABELS_SUFFIX): p for p in sorted(labels_dir.glob(f"*{LABELS_SUFFIX}"))}


def with_reviewed(hand: Sequence[HandLabel], reviewed: Sequence[tuple[float, float, str]]) -> list[HandLabel]:
    """The hand labels with the review page's typed stretches laid over them: for its time, a reviewed stretch
    replaces what the file says (the reviewer saw it last)."""
    pieces = []
    for label in hand:
        parts = [(label.start, label.end)]
        for r_start, r_end, _ in reviewed:
            parts = [cut for a, b in parts for cut in ((a, min(b, r_start)), (max(a, r_end), b)) if cut[1] - cut[0] > 1e-6]
        pieces += [label.model_copy(update={"start": a, "end": b}) for a, b in parts]
    pieces += [HandLabel(start=a, end=b, type=kind, note="review page") for a, b, kind in reviewed]  # type: ignore[arg-type]
    return sorted(pieces, key=lambda lb: lb.start)


class TrustedSegment(Record):
    pair_id: str
    segment_id: str
    start: float
    end: float
    text: str
    label: SegmentType
    label_share: float = Field(description="Share of the segment's time its label covers.")
    edge: list[Literal["short", "mixed"]] = Field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.pair_id}/{self.segment_id}"


def trusted_segments(
    pair_id: str, evidence: Sequence[SegmentEvidence], labels: Sequence[HandLabel]
) -> list[TrustedSegment]:
    """The episode's segments, each with the hand label covering most of its time and its edge-case tags. A segment
    the labels leave mostly bare (under half its time labelled: a pair typed on the review page here and there)
    is not trusted."""
    spans = [(lb.start, lb.end, lb.type) for lb in labels]
    found = []
    for ev in evidence:
        labelled = sum(max(0.0, min(b, ev.end) - max(a, ev.start)) for a, b, _ in spans)
        if not spans or labelled < 0.5 * (ev.end - ev.start):
            continue
        label, share = covering_label(ev.start, ev.end, spans)
        edge = [tag for tag, hit in (("short", ev.end - ev.start < SHORT_SECONDS), ("mixed", share < MIXED_SHARE)) if hit]
        found.append(TrustedSegment(pair_id=pair_id, segment_id=ev.id, start=ev.start, end=ev.end, text=ev.text,
                                    label=label, label_share=round(share, 4), edge=edge))  # fmt: skip
    return found


def _round_robin(items: Sequence[TrustedSegment], rng: random.Random, picked: Counter[str]) -> list[TrustedSegment]:
    """`items` ordered the types in turn; within a type, the segment of the pair picked least so far (`picked`,
    updated) comes next, ties broken by a seeded shuffle: rare types and every pair come early."""
    by_type: dict[str, list[TrustedSegment]] = defaultdict(list)
    for item in rng.sample(list(items), len(items)):
        by_type[item.label].append(item)
    queues = [by_type[t] for t in SEGMENT_TYPES if t in by_type]
    out = []
    while any(queues):
        for q in queues:
            if q:
                item = min(q, key=lambda i: picked[i.pair_id])
                q.remove(item)
                picked[item.pair_id] += 1
                out.append(item)
    return out


def draw_sample(
    items: Sequence[TrustedSegment], size: int, *, seed: int, floor: int = 3, exclude: Iterable[str] = ()
) -> list[TrustedSegment]:
    """A stratified sample of `size` items (all that remain when fewer), none of whose keys is in `exclude`, in
    episode order: edge cases first (EDGE_SHARE of it), then the types in turn until each has `floor` (so every type
    can be judged), then the rest at random (the types as common as they are). The same arguments give the same
    sample."""
    if size < 1:
        raise ValueError("a sample needs one item or more")
    excluded = set(exclude)
    pool = [item for item in items if item.key not in excluded]
    rng = random.Random(seed)
    picked: Counter[str] = Counter()
    chosen = _round_robin([item for item in pool if item.edge], rng, picked)[: round(size * EDGE_SHARE)]
    picked = Counter(item.pair_id for item in chosen)
    per_type = Counter(item.label for item in chosen)
    for item in _round_robin([item for item in pool if item not in chosen], rng, picked):
        if len(chosen) < size and per_type[item.label] < floor:
            chosen.append(item)
            per_type[item.label] += 1
    taken = {item.key for item in chosen}
    rest = [item for item in pool if item.key not in taken]
    chosen += rng.sample(rest, min(len(rest), size - len(chosen)))
    return sorted(chosen, key=lambda item: (item.pair_id, item.start))


class TypeAgreement(Record):
    type: str
    support: int = Field(description="Trusted segments of this type in the sample.")
    predicted: int = Field(description="Segments the oracle gave this type.")
    precision: float | None
    recall: float | None
    f1: float | None


class Disagreement(Record):
    key: str
    trusted: str
    oracle: str
    edge: list[str]
    text: str = Field(description="The segment's first words.")


class Agreement(Record):
    items: int
    agreement: float = Field(description="Share of the sampled segments the oracle labels as the trusted label.")
    seconds_agreement: float = Field(description="The same, weighted by the segments' durations.")
    macro_f1: float = Field(description="Mean F1 over the types present in the trusted labels of the sample.")
    per_type: list[TypeAgreement]
    confusion: dict[str, dict[str, int]] = Field(description="{trusted type: {oracle type: segments}}.")
    disagreements: list[Disagreement]


def compare(sample: Sequence[TrustedSegment], oracle: Sequence[str]) -> Agreement:
    """The oracle's labels (one per sampled segment, in order) against the trusted ones."""
    if len(sample) != len(oracle):
        raise ValueError(f"{len(oracle)} oracle labels for {len(sample)} segments")
    if not sample:
        raise ValueError("no segments to compare")
    confusion: dict[str, Counter[str]] = defaultdict(Counter)
    for item, said in zip(sample, oracle, strict=True):
        confusion[item.label][said] += 1
    predicted = Counter(oracle)
    per_type = []
    for kind in SEGMENT_TYPES:
        support, hits = sum(confusion[kind].values()), confusion[kind][kind]
        if not support and not predicted[kind]:
            continue
        precision = hits / predicted[kind] if predicted[kind] else None
        recall = hits / support if support else None
        f1 = 2 * precision * recall / (precision + recall) if precision and recall else (0.0 if support else None)
        per_type.append(TypeAgreement(type=kind, support=support, predicted=predicted[kind],
                                      precision=_round(precision), recall=_round(recall), f1=_round(f1)))  # fmt: skip
    right = [item.label == said for item, said in zip(sample, oracle, strict=True)]
    seconds = [item.end - item.start for item in sample]
    scored = [t.f1 for t in per_type if t.support and t.f1 is not None]
    return Agreement(
        items=len(sample),
        agreement=round(sum(right) / len(sample), 4),
        seconds_agreement=round(sum(s for s, r in zip(seconds, right, strict=True) if r) / max(sum(seconds), 1e-9), 4),
        macro_f1=round(sum(scored) / len(scored), 4) if scored else 0.0,
        per_type=per_type,
        confusion={t: dict(c) for t, c in confusion.items()},
        disagreements=[
            Disagreement(key=item.key, trusted=item.label, oracle=said, edge=list(item.edge),
                         text=" ".join(item.text.split()[:24]))  # fmt: skip
            for item, said, r in zip(sample, oracle, right, strict=True)
            if not r
        ],
    )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def decide(agreement: Agreement, thresholds: OracleThresholds) -> tuple[Verdict, list[str]]:
    """PASS, REVIEW or FAIL by the thresholds (module docstring), with the reasons, worst first."""
    reasons = []
    for t in agreement.per_type:
        if t.support >= thresholds.min_support and (t.recall or 0.0) < thresholds.min_class_recall:
            said = Counter({o: n for o, n in agreement.confusion.get(t.type, {}).items() if o != t.type})
            instead = ", ".join(f"{o} {n}x" for o, n in said.most_common(3))
            reasons.append(f"the oracle mislabels {t.type}: recall {t.recall or 0.0:.2f} on {t.support} trusted "
                           f"{t.type} segments (under {thresholds.min_class_recall:.2f}); it said {instead}")  # fmt: skip
    share = f"agreement {agreement.agreement:.1%} on {agreement.items} segments"
    if agreement.agreement < thresholds.fail_agreement:
        reasons.insert(0, f"{share}, under the fail bar {thresholds.fail_agreement:.0%}")
    if reasons:
        return "FAIL", reasons
    if agreement.agreement >= thresholds.pass_agreement:
        return "PASS", [f"{share}, at or above the pass bar {thresholds.pass_agreement:.0%}; every type's recall "
                        f"at or above {thresholds.min_class_recall:.2f}"]  # fmt: skip
    return "REVIEW", [f"{share}, between the fail bar {thresholds.fail_agreement:.0%} and the pass bar "
                      f"{thresholds.pass_agreement:.0%}: read the disagreements before deciding"]  # fmt: skip


class CalibrationReport(Record):
    task: Literal["segment_typing"]
    provider: str
    model: str
    prompt_version: str
    round: Round
    seed: int
    created_at: str
    sample: list[str] = Field(description="Keys (pair/segment) of the sampled segments.")
    strata: dict[str, int] = Field(description="Sampled segments per trusted type, per pair and per edge case.")
    excluded: int = Field(default=0, description="Segments left out because an earlier round sampled them.")
    agreement: Agreement
    thresholds: OracleThresholds
    verdict: Verdict
    reasons: list[str]
    usage: UsageTotals


def strata(sample: Sequence[TrustedSegment]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for item in sample:
        counts[f"type:{item.label}"] += 1
        counts[f"pair:{item.pair_id}"] += 1
        for tag in item.edge:
            counts[f"edge:{tag}"] += 1
    return dict(sorted(counts.items()))


def path_part(text: str) -> str:
    """`text` made safe as one part of a store path (a prompt version's "/" and a model's ":" become "-")."""
    return "".join(c if c.isalnum() or c in "-._" else "-" for c in text)


def reports_prefix(task: str, provider: str, model: str, prompt_version: str) -> str:
    return f"oracle/{task}/{path_part(prompt_version)}/{path_part(provider)}-{path_part(model)}"


def report_path(report: CalibrationReport) -> str:
    prefix = reports_prefix(report.task, report.provider, report.model, report.prompt_version)
    return f"{prefix}/{report.created_at.replace(':', '')}-{report.round}-seed{report.seed}.json"


def past_reports(store: LocalArtifactStore, task: str, provider: str, model: str, prompt_version: str) -> list[CalibrationReport]:
    """Every round so far of this oracle (task, model, prompt version), oldest first."""
    prefix = reports_prefix(task, provider, model, prompt_version)
    reports = [store.read_model(rel, CalibrationReport) for rel in store.list(prefix) if rel.endswith(".json")]
    return sorted(reports, key=lambda r: r.created_at)


def fresh_exclusions(reports: Sequence[CalibrationReport]) -> tuple[CalibrationReport, set[str]]:
    """For a fresh round: the calibration round it tests (the last one) and every key any round sampled."""
    calibrations = [r for r in reports if r.round == "calibration"]
    if not calibrations:
        raise PodcastAssetsError(
            "a fresh round tests a calibration round, and this oracle has none",
            fix="run `podcast-assets oracle calibrate` without --fresh first",
        )
    return calibrations[-1], {key for r in reports for key in r.sample}


def may_label_at_scale(reports: Sequence[CalibrationReport]) -> tuple[bool, str]:
    """Whether this oracle may label in bulk: its last calibration round passed, and a fresh round after it, with
    another seed, passed too. The reason says what is missing."""
    calibrations = [r for r in reports if r.round == "calibration"]
    if not calibrations:
        return False, "it has not been calibrated (`podcast-assets oracle calibrate`)"
    last = calibrations[-1]
    if last.verdict != "PASS":
        return False, f"its last calibration round ({last.created_at}, seed {last.seed}) says {last.verdict}: {last.reasons[0]}"
    fresh = [r for r in reports if r.round == "fresh" and r.created_at > last.created_at and r.seed != last.seed]
    if not fresh:
        return False, "it passed calibration but has no fresh round since (`podcast-assets oracle calibrate --fresh`)"
    if fresh[-1].verdict != "PASS":
        return False, f"its fresh round ({fresh[-1].created_at}, seed {fresh[-1].seed}) says {fresh[-1].verdict}: {fresh[-1].reasons[0]}"
    return True, f"calibration seed {last.seed} and fresh seed {fresh[-1].seed} both passed"


def by_pair(sample: Sequence[TrustedSegment]) -> Mapping[str, list[TrustedSegment]]:
    grouped: dict[str, list[TrustedSegment]] = defaultdict(list)
    for item in sample:
        grouped[item.pair_id].append(item)
    return grouped


Typer = Callable[[Sequence[SegmentEvidence], DocumentGraph], TypingResult]


def run_round(
    trusted: Sequence[TrustedSegment],
    graphs: Mapping[str, DocumentGraph],
    durations: Mapping[str, float],
    oracle: Typer,
    *,
    size: int,
    seed: int,
    round: Round,
    thresholds: OracleThresholds,
    exclude: Iterable[str] = (),
    identity: Mapping[str, str],
    now: str,
) -> CalibrationReport:
    """One calibration round: draw the sample, have `oracle` label it pair by pair (with each pair's paper), compare
    and decide. `identity` names the oracle (provider, model, prompt_version)."""
    excluded = set(exclude)
    sample = draw_sample(trusted, size, seed=seed, floor=thresholds.min_support, exclude=excluded)
    if not sample:
        raise PodcastAssetsError(
            f"no trusted segment is left to sample ({len(excluded)} are taken by earlier rounds)",
            fix="hand-label another pair, or calibrate again without --fresh",
        )
    said: dict[str, str] = {}
    records = []
    for pair_id, items in by_pair(sample).items():
        evidence = [SegmentEvidence(id=item.segment_id, start=item.start, end=item.end, text=item.text,
                                    audio_duration=durations[pair_id]) for item in items]  # fmt: skip
        result = oracle(evidence, graphs[pair_id])
        records += result.records
        said.update({item.key: label.type for item, label in zip(items, result.labels, strict=True)})
    agreement = compare(sample, [said[item.key] for item in sample])
    verdict, reasons = decide(agreement, thresholds)
    return CalibrationReport(task="segment_typing", round=round, seed=seed, created_at=now,
                             sample=[item.key for item in sample], strata=strata(sample),
                             excluded=len(excluded & {item.key for item in trusted}), agreement=agreement,
                             thresholds=thresholds, verdict=verdict, reasons=reasons,
                             usage=UsageTotals.of(records), **identity)  # fmt: skip
