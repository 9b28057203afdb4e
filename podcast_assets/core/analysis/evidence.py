"""What a segment typer sees and answers: the evidence about each segment, its label, the typing result.

Typers (the embedded `local_typer`, the LLM's `llm_typer`) all take the segments' evidence and the paper and
return one label per segment, so `analyse_pair` can use either.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from podcast_assets.core.analysis.models import SegmentType
from podcast_assets.core.ingest.models import DocumentGraph
from podcast_assets.core.llm import CallRecord


@dataclass(frozen=True)
class SegmentEvidence:
    """What a typer may use about one segment: its text, timing and alignment to the paper."""

    id: str
    start: float
    end: float
    text: str
    audio_duration: float
    atom_scores: tuple[tuple[str, float], ...] = ()
    """Primary atoms with their cosine, best first."""
    alignment_score: float = 0.0
    referenced_figures: tuple[str, ...] = ()


@dataclass(frozen=True)
class SegmentLabel:
    type: SegmentType
    confidence: float
    scores: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class TypingResult:
    """One label per segment, in order, and what any LLM calls cost."""

    classifier: str
    labels: tuple[SegmentLabel, ...]
    records: tuple[CallRecord, ...] = ()


Typer = Callable[[Sequence[SegmentEvidence], DocumentGraph], TypingResult]
