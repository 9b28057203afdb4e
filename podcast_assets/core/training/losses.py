"""The seed's five training losses and their weighted total, as pure functions.

Each loss is 0 for a perfect podcast and 1 for the worst (duration alone may exceed 1: a podcast twice the
reference's length is 1.0 off, three times is 2.0). What each loss saw is returned beside it, so a reader
can check the number and a refiner can act on it.

- duration  = |generated - reference| / reference, in seconds of audio.
- coverage  = 1 - covered / concepts, over the paper's key concepts the depth asks for.
- structure = 1 - (0.6 x sequence similarity + 0.4 x distribution similarity), where
  sequence similarity = 1 - Levenshtein(run-compressed type sequences) / longer length, and
  distribution similarity = 1 - total variation distance between the two time-share distributions over
  the 11 segment types (TVD = half the sum of absolute share differences: the share of time that would
  have to change type to turn one podcast's mix into the other's).
- quality   = (300 - engagement - clarity - accuracy) / 300, each score out of 100.
- rouge     = 1 - mean(ROUGE-1 F, ROUGE-2 F, ROUGE-L F), rouge-score with the Porter stemmer.
- semantic  = 1 - the semantic similarity to the reference (similarity.py); always reported, in the total
  only where `loss_weights.semantic` is above 0 (an option, 0 by default: the seed's loss has five terms).
- total     = sum(weight x loss) / sum(weights). With the seed's weights (0.25/0.25/0.20/0.20/0.10, summing
  to 1) this is exactly the seed's weighted sum; weights configured to another sum are divided by it, so the
  total stays a weighted mean on the losses' own scale (doubling every weight changes nothing).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from typing import NamedTuple

from rouge_score import rouge_scorer

from podcast_assets.core.analysis.aggregate import compress_runs
from podcast_assets.core.analysis.models import SEGMENT_TYPES
from podcast_assets.core.config import LossWeights
from podcast_assets.core.metrics import edit_distance

SEQUENCE_WEIGHT = 0.6
"""The seed's share of the structure similarity given to the order of segment types ..."""
DISTRIBUTION_WEIGHT = 0.4
"""... and to how the time is spread over the types."""
LOSS_NAMES = ("duration", "coverage", "structure", "quality", "rouge")
"""The seed's five losses, in the order the seed lists them (the fields of LossWeights and Losses)."""
OPTIONAL_LOSSES = ("semantic",)
"""Losses in the total only when their configured weight is above 0."""


def duration_loss(generated_s: float, reference_s: float) -> float:
    """|generated - reference| / reference: how far the generated length misses the reference's, relative."""
    if not reference_s > 0:
        raise ValueError(f"the reference length must be positive, got {reference_s}")
    if generated_s < 0:
        raise ValueError(f"the generated length cannot be negative, got {generated_s}")
    return abs(generated_s - reference_s) / reference_s


def coverage_loss(covered: Collection[str], concepts: Sequence[str]) -> float:
    """1 - covered / len(concepts): the share of the asked-for key concepts the podcast misses.

    `covered` must be a subset of `concepts` (a concept nobody asked about covers nothing); duplicates in
    either count once."""
    asked = set(concepts)
    if not asked:
        raise ValueError("coverage needs at least one key concept (the paper has none)")
    unknown = set(covered) - asked
    if unknown:
        raise ValueError(f"covered concepts that were not asked for: {sorted(unknown)}")
    return 1.0 - len(set(covered)) / len(asked)


class StructureLoss(NamedTuple):
    loss: float
    sequence_similarity: float
    distribution_similarity: float
    reference_runs: list[str]
    generated_runs: list[str]


def sequence_similarity(reference_types: Sequence[str], generated_types: Sequence[str]) -> float:
    """1 - Levenshtein distance of the run-compressed sequences / the longer one's length (1 if both empty)."""
    ref, gen = compress_runs(reference_types), compress_runs(generated_types)
    longest = max(len(ref), len(gen))
    return 1.0 - edit_distance(ref, gen) / longest if longest else 1.0


def type_shares(types: Sequence[str], weights: Sequence[float] | None = None) -> dict[str, float]:
    """Share of each segment type, weighted by `weights` (e.g. seconds per segment; default 1 each)."""
    if weights is None:
        weights = [1.0] * len(types)
    if len(weights) != len(types):
        raise ValueError(f"{len(weights)} weights for {len(types)} segment types")
    totals = dict.fromkeys(SEGMENT_TYPES, 0.0)
    for t, w in zip(types, weights, strict=True):
        if t not in totals:
            raise ValueError(f"unknown segment type {t!r}")
        if w < 0:
            raise ValueError(f"negative weight {w} for {t!r}")
        totals[t] += w
    whole = math.fsum(totals.values())
    return {t: v / whole for t, v in totals.items() if v > 0} if whole > 0 else {}


def distribution_similarity(reference: Mapping[str, float], generated: Mapping[str, float]) -> float:
    """1 - total variation distance between two type distributions (each normalised to sum 1 here).

    1 when the time is spread over the types alike, 0 when the two podcasts share no type at all. An empty
    distribution (no segments) is similar only to another empty one."""
    p, q = _normalised(reference), _normalised(generated)
    if not p or not q:
        return 1.0 if not p and not q else 0.0
    return 1.0 - 0.5 * math.fsum(abs(p.get(t, 0.0) - q.get(t, 0.0)) for t in SEGMENT_TYPES)


def _normalised(shares: Mapping[str, float]) -> dict[str, float]:
    unknown = set(shares) - set(SEGMENT_TYPES)
    if unknown:
        raise ValueError(f"unknown segment types: {sorted(unknown)}")
    if any(v < 0 for v in shares.values()):
        raise ValueError("type shares cannot be negative")
    whole = math.fsum(shares.values())
    return {t: v / whole for t, v in shares.items() if v > 0} if whole > 0 else {}


def structure_loss(
    reference_types: Sequence[str],
    generated_types: Sequence[str],
    reference_shares: Mapping[str, float] | None = None,
    generated_shares: Mapping[str, float] | None = None,
) -> StructureLoss:
    """1 - (0.6 x sequence similarity + 0.4 x distribution similarity).

    The types are per segment in playback order (compressed here). The shares are each type's share of the
    time (seconds per type are fine too: they are normalised); without them, each segment counts once."""
    seq = sequence_similarity(reference_types, generated_types)
    dist = distribution_similarity(
        type_shares(reference_types) if reference_shares is None else reference_shares,
        type_shares(generated_types) if generated_shares is None else generated_shares,
    )
    loss = 1.0 - (SEQUENCE_WEIGHT * seq + DISTRIBUTION_WEIGHT * dist)
    return StructureLoss(
        loss=min(1.0, max(0.0, loss)),  # clamp float noise only: both similarities lie in [0, 1]
        sequence_similarity=seq,
        distribution_similarity=dist,
        reference_runs=compress_runs(reference_types),
        generated_runs=compress_runs(generated_types),
    )


def quality_loss(engagement: float, clarity: float, accuracy: float) -> float:
    """(300 - engagement - clarity - accuracy) / 300, each score out of 100."""
    for name, value in (("engagement", engagement), ("clarity", clarity), ("accuracy", accuracy)):
        if not 0 <= value <= 100:
            raise ValueError(f"{name} must be within 0-100, got {value}")
    return (300.0 - engagement - clarity - accuracy) / 300.0


class RougeLoss(NamedTuple):
    loss: float
    rouge_1: float
    rouge_2: float
    rouge_l: float


_SCORER = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
"""rouge-score's own tokeniser (lowercase alphanumeric words) and Porter stemmer; ROUGE-L over the whole
text as one sequence (not the sentence-split ROUGE-Lsum)."""


def rouge_loss(generated_text: str, reference_text: str) -> RougeLoss:
    """1 - mean of the ROUGE-1, ROUGE-2 and ROUGE-L F-measures of the generated text against the reference."""
    scores = _SCORER.score(target=reference_text, prediction=generated_text)
    r1, r2, rl = (scores[k].fmeasure for k in ("rouge1", "rouge2", "rougeL"))
    return RougeLoss(loss=1.0 - (r1 + r2 + rl) / 3.0, rouge_1=r1, rouge_2=r2, rouge_l=rl)


def semantic_loss(similarity: float) -> float:
    """1 - semantic similarity (a cosine clipped to [0, 1])."""
    return 1.0 - min(1.0, max(0.0, similarity))


def total_loss(losses: Mapping[str, float], weights: LossWeights) -> float:
    """sum(weight x loss) / sum(weights) over the five losses and any optional one weighted above 0 (see the
    module docstring for why divide)."""
    w = weights.model_dump()
    names = [*LOSS_NAMES, *(n for n in OPTIONAL_LOSSES if w[n] > 0)]
    missing = set(names) - set(losses)
    if missing:
        raise ValueError(f"missing losses: {sorted(missing)}")
    return math.fsum(w[name] * losses[name] for name in names) / math.fsum(w[n] for n in names)
