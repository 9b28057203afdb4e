"""The embedded segment typer: cue phrases, the paper sections a segment aligns to, and its position in the
episode. No network, no model weights; its knowledge (cues, base rates, section-title types) is data in
local_typer.yaml beside this file.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Sequence
from pathlib import Path

import yaml

from podcast_assets.core.analysis.evidence import SegmentEvidence, SegmentLabel, TypingResult
from podcast_assets.core.analysis.models import SEGMENT_TYPES
from podcast_assets.core.ingest.models import DocumentGraph
from podcast_assets.core.text import FIGURE_WORD, TABLE_WORD

LOCAL_TYPER = "local-cues-sections-position-v1"
"""The classifier name recorded on AlignedSegments (and part of aligned_segments' code version)."""

_KNOWLEDGE = yaml.safe_load((Path(__file__).with_name("local_typer.yaml")).read_text(encoding="utf-8"))


def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(text.replace("{FIGURE_WORD}", FIGURE_WORD).replace("{TABLE_WORD}", TABLE_WORD), re.IGNORECASE)


CUES: dict[str, tuple[tuple[re.Pattern[str], float], ...]] = {
    segment_type: tuple((_pattern(p), float(w)) for p, w in cues) for segment_type, cues in _KNOWLEDGE["cues"].items()
}
"""Cue phrases per type, with weights."""
BASE_RATES: dict[str, float] = _KNOWLEDGE["base_rates"]
"""Rough share of each type in explainer podcasts: the prior before any evidence."""
SECTION_TYPES: tuple[tuple[re.Pattern[str], dict[str, float]], ...] = tuple(
    (re.compile(p), types) for p, types in _KNOWLEDGE["section_types"]
)
"""Section-title patterns -> likely segment types of a stretch aligned with that section (first match wins)."""
ATOM_KIND_TYPES: dict[str, dict[str, float]] = _KNOWLEDGE["atom_kind_types"]

CUE_WEIGHT = 4.0
SECTION_WEIGHT = 2.0
POSITION_WEIGHT = 1.5
FIGURE_REFERENCE_WEIGHT = 1.5
TANGENT_WEIGHT = 1.5
SECTION_TRUST = 0.2
"""Best-atom cosine at which section evidence counts fully (less alignment, proportionally less trust)."""
EDGE_SECONDS = 20.0
"""Decay of the intro prior after the episode's start and of the conclusion prior before its end."""


def section_type_prior(title: str) -> dict[str, float]:
    """Segment types suggested by one section title ({} when the title says nothing known)."""
    clean = re.sub(r"^[\dIVXivx.\s]+(?=[A-Za-z])", "", title).lower()
    return next((types for pattern, types in SECTION_TYPES if pattern.search(clean)), {})


def _atom_types(graph: DocumentGraph) -> dict[str, dict[str, float]]:
    sections = {s.id: s for s in graph.sections}
    by_section: dict[str, dict[str, float]] = {}
    for section in graph.sections:
        chain = [section]
        while chain[0].parent_id in sections and len(chain) <= len(sections):
            chain.insert(0, sections[chain[0].parent_id])
        by_section[section.id] = next((p for s in chain if (p := section_type_prior(s.title))), {})
    return {a.id: ATOM_KIND_TYPES.get(a.kind) or by_section.get(a.section_id or "", {}) for a in graph.atoms}


def _section_evidence(seg: SegmentEvidence, atom_types: dict[str, dict[str, float]]) -> dict[str, float]:
    """The types of the sections holding the segment's primary atoms, weighted by cosine (sum <= 1)."""
    total = sum(score for _, score in seg.atom_scores)
    evidence: dict[str, float] = {}
    for atom_id, score in seg.atom_scores:
        for segment_type, share in atom_types.get(atom_id, {}).items():
            evidence[segment_type] = evidence.get(segment_type, 0.0) + share * score / total
    return evidence


def _gauss(x: float, mu: float, sigma: float) -> float:
    return math.exp(-0.5 * ((x - mu) / sigma) ** 2)


def position_prior(start: float, end: float, duration: float) -> dict[str, float]:
    """0-1 plausibility of each type from where the segment sits in the episode."""
    p = (start + end) / 2 / duration if duration > 0 else 0.5
    return {
        "intro": math.exp(-start / EDGE_SECONDS),
        "background": _gauss(p, 0.15, 0.15),
        "problem": _gauss(p, 0.2, 0.15),
        "methodology": _gauss(p, 0.45, 0.25),
        "key_finding": _gauss(p, 0.6, 0.25),
        "figure": 0.3,
        "implication": _gauss(p, 0.8, 0.15),
        "limitation": _gauss(p, 0.8, 0.15),
        "conclusion": math.exp(-max(0.0, duration - end) / EDGE_SECONDS),
        "tangent": 0.2,
        "transition": 0.2,
    }


def cue_scores(text: str) -> dict[str, float]:
    """0-1 cue evidence per type: weighted cue matches (each counted at most 3 times), per ~100 words."""
    scale = 1.0 + len(text.split()) / 100
    scores = {}
    for segment_type, cues in CUES.items():
        raw = sum(weight * min(3, len(pattern.findall(text))) for pattern, weight in cues)
        scores[segment_type] = 1.0 - math.exp(-raw / scale)
    return scores


def local_typer(segments: Sequence[SegmentEvidence], graph: DocumentGraph) -> TypingResult:
    """Type segments from cue phrases, the sections of the atoms they align to, and their position.

    logit(type) = log base rate + 4 x cues + 2 x section evidence + 1.5 x position prior (+ figure
    mentions for `figure`, weak alignment for `tangent`); the softmax gives type_scores.
    """
    atom_types = _atom_types(graph)
    typical = statistics.median(s.alignment_score for s in segments) if segments else 0.0
    labels = []
    for seg in segments:
        cues = cue_scores(seg.text)
        position = position_prior(seg.start, seg.end, seg.audio_duration)
        section = _section_evidence(seg, atom_types)
        trust = min(1.0, seg.alignment_score / SECTION_TRUST)
        logits = {
            t: math.log(BASE_RATES[t])
            + CUE_WEIGHT * cues[t]
            + SECTION_WEIGHT * trust * section.get(t, 0.0)
            + POSITION_WEIGHT * position[t]
            for t in SEGMENT_TYPES
        }
        logits["figure"] += FIGURE_REFERENCE_WEIGHT * bool(seg.referenced_figures)
        if typical > 0:
            logits["tangent"] += TANGENT_WEIGHT * max(0.0, 1.0 - seg.alignment_score / typical)
        top = max(logits.values())
        weights = {t: math.exp(v - top) for t, v in logits.items()}
        norm = sum(weights.values())
        scores = {t: round(w / norm, 4) for t, w in weights.items()}
        best = max(scores, key=lambda t: scores[t])
        label = SegmentLabel(type=best, confidence=scores[best], scores=scores)  # type: ignore[arg-type]
        labels.append(label)
    return TypingResult(classifier=LOCAL_TYPER, labels=tuple(labels))


