"""Labelling at scale with a calibrated oracle, and the stratified train/validation/test split of its labels.

`label_at_scale` refuses to start unless the oracle (model and prompt version) passed a calibration round and a
fresh round after it (calibration.may_label_at_scale). It types every segment of every episode, pair by pair; the
LLM client's cache makes a re-run after a crash or a spent budget resume where it stopped, paying nothing for what
it had. `split` then assigns each labelled segment to train, validation or test, type by type (seeded), so each part
keeps the types' proportions: a rare type is not all in one part.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Literal

from pydantic import Field

from podcast_assets.core.analysis.evidence import SegmentEvidence
from podcast_assets.core.analysis.models import SegmentType
from podcast_assets.core.errors import PodcastAssetsError
from podcast_assets.core.ingest.models import DocumentGraph
from podcast_assets.core.llm import UsageTotals
from podcast_assets.core.oracle.calibration import CalibrationReport, Typer, may_label_at_scale, path_part
from podcast_assets.core.records import Record

Part = Literal["train", "validation", "test"]
SHARES: dict[Part, float] = {"validation": 0.1, "test": 0.1}
"""Shares held out per type; the rest trains (80/10/10)."""


class OracleLabel(Record):
    pair_id: str
    segment_id: str
    start: float
    end: float
    text: str
    type: SegmentType
    confidence: float
    split: Part


class OracleLabels(Record):
    task: Literal["segment_typing"] = "segment_typing"
    provider: str
    model: str
    prompt_version: str
    calibrated: str = Field(description="Why this oracle may label at scale: the rounds it passed.")
    created_at: str
    seed: int
    pairs: list[str] = Field(description="The pairs whose segments were labelled.")
    labels: list[OracleLabel]
    parts: dict[str, dict[str, int]] = Field(description="{part: {type: segments}}.")
    usage: UsageTotals


def labels_path(identity: Mapping[str, str]) -> str:
    """Where the oracle (provider, model, prompt_version) keeps its labels in the artifact store."""
    name = f"{path_part(identity['provider'])}-{path_part(identity['model'])}"
    return f"oracle/segment_typing/labels/{path_part(identity['prompt_version'])}/{name}.json"


def split(keys_and_types: Sequence[tuple[str, str]], *, seed: int) -> dict[str, Part]:
    """{key: part}: per type, the seeded shuffle's first round(10%) go to test, the next to validation."""
    rng = random.Random(seed)
    by_type: dict[str, list[str]] = defaultdict(list)
    for key, kind in keys_and_types:
        by_type[kind].append(key)
    parts: dict[str, Part] = {}
    for kind in sorted(by_type):
        keys = sorted(by_type[kind])
        rng.shuffle(keys)
        held = {part: int(len(keys) * share + 0.5) for part, share in SHARES.items()}
        cut_test, cut_val = held["test"], held["test"] + held["validation"]
        for i, key in enumerate(keys):
            parts[key] = "test" if i < cut_test else "validation" if i < cut_val else "train"
    return parts


def label_at_scale(
    reports: Sequence[CalibrationReport],
    episodes: Callable[[], Mapping[str, tuple[Sequence[SegmentEvidence], DocumentGraph]]],
    oracle: Typer,
    *,
    identity: Mapping[str, str],
    seed: int,
    now: str,
    progress=lambda message: None,
) -> OracleLabels:
    """Every segment of the episodes `episodes()` loads ({pair_id: (evidence, paper)}) typed by `oracle`, split
    80/10/10 by type. Refuses, before loading them or making any call, unless the oracle may label at scale."""
    allowed, why = may_label_at_scale(reports)
    if not allowed:
        raise PodcastAssetsError(
            f"the oracle {identity['provider']}:{identity['model']} with {identity['prompt_version']} may not label "
            f"at scale: {why}",
            fix="calibrate it (`podcast-assets oracle calibrate`, then `--fresh` with another seed) until both pass",
        )
    loaded = episodes()
    made, records = [], []
    for n, (pair_id, (evidence, graph)) in enumerate(sorted(loaded.items()), start=1):
        result = oracle(evidence, graph)
        records += result.records
        made += [(pair_id, ev, label) for ev, label in zip(evidence, result.labels, strict=True)]
        progress(f"{pair_id}: {len(evidence)} segments labelled ({n} of {len(loaded)} pairs)")
    parts = split([(f"{p}/{ev.id}", label.type) for p, ev, label in made], seed=seed)
    labels = [OracleLabel(pair_id=p, segment_id=ev.id, start=ev.start, end=ev.end, text=ev.text, type=label.type,
                          confidence=label.confidence, split=parts[f"{p}/{ev.id}"]) for p, ev, label in made]  # fmt: skip
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for label in labels:
        counts[label.split][label.type] += 1
    return OracleLabels(calibrated=why, created_at=now, seed=seed, pairs=sorted(loaded), labels=labels, usage=UsageTotals.of(records),
                        parts={p: dict(sorted(c.items())) for p, c in sorted(counts.items())}, **identity)  # fmt: skip
