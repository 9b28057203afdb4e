"""What the inference API answers (web/inference.py serves it on the review app): the segment types of a posted
transcript, and the offline quality judgement of one, computed by the same functions the pipeline scores with.

- Typing: the spans are aligned to a pair's paper (or to no paper) as `analyse_pair` aligns its segments, then typed
  by the cue typer or by the newest distilled ONNX typer of the artifact store (`distilled_models`); `auto` takes the
  distilled one only where its card says it beat the cue typer leave-one-pair-out, as the offline default does.
- Judging: the transcript is segmented, aligned and typed against the pair's paper and scored by the offline rubric
  (core/training/rubric.py) against the learned style and the pair's reference segments, as a trial's item is.
A posted span without word timings has its words spread evenly over it: its pace is exact, its pauses are not.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from podcast_assets.core.analysis.alignment import analyse_pair, segment_evidence
from podcast_assets.core.analysis.evidence import TypingResult
from podcast_assets.core.analysis.local_typer import local_typer
from podcast_assets.core.analysis.models import AlignedSegments, StyleVariant
from podcast_assets.core.analysis.typer_export import TYPERS_PREFIX, OnnxTyper, TyperCard
from podcast_assets.core.errors import PodcastAssetsError, StorageError
from podcast_assets.core.ingest.models import DocumentGraph, TranscriptionResult, TranscriptSegment, Word
from podcast_assets.core.storage import LocalArtifactStore, sha256_bytes
from podcast_assets.core.training.models import QualityJudgement
from podcast_assets.core.training.rubric import quality_rubric

TyperChoice = Literal["auto", "cue", "distilled"]
NO_PAPER = DocumentGraph(pdf_sha256="", extractor_version="none", page_count=0, title="")
"""The paper a span is typed against when none is named: no atoms, so alignment evidence is 0."""


class ServingError(PodcastAssetsError):
    """A request the inference API cannot answer as asked (`missing`: what it names does not exist)."""

    def __init__(self, message: str, *, fix: str | None = None, missing: bool = False):
        super().__init__(message, fix=fix)
        self.missing = missing


@dataclass(frozen=True)
class Span:
    start: float
    end: float
    text: str
    speaker: str | None = None
    words: tuple[tuple[str, float, float], ...] = ()
    """(word, start, end) as a recogniser heard them; empty: spread evenly over the span."""


def check_spans(spans: Sequence[Span], duration: float | None = None) -> float:
    """The episode's length (`duration`, else the last span's end) once the spans are a transcript's, in order."""
    if not spans:
        raise ServingError("no segments posted", fix='post {"segments": [{"start": 0, "end": 12.5, "text": "..."}]}')
    last = 0.0
    for i, span in enumerate(spans):
        if not span.text.strip():
            raise ServingError(f"segment {i} has no text", fix="drop it, or give it the words spoken")
        if span.start < last or span.end <= span.start:
            raise ServingError(
                f"segment {i} runs {span.start:g}-{span.end:g} s, after one ending at {last:g} s",
                fix="post segments in time order, each ending after it starts and none overlapping",
            )
        last = span.end
    if duration is not None and duration < last:
        raise ServingError(f"duration {duration:g} s ends before the last segment ({last:g} s)",
                           fix="give the episode's whole length, or leave duration out")  # fmt: skip
    return last if duration is None else duration


def newest_typer(store: LocalArtifactStore) -> tuple[TyperCard, str] | None:
    """The newest stored distilled typer's card and its folder, or None before `distilled_models` ran."""
    found = []
    for rel in store.list(TYPERS_PREFIX):
        if rel.endswith("/card.json"):
            try:
                found.append((store.read_model(rel, TyperCard), rel.rsplit("/", 1)[0]))
            except StorageError:
                continue
    return max(found, key=lambda f: f[0].created_at, default=None)


def load_typer(store: LocalArtifactStore, choice: TyperChoice) -> tuple[OnnxTyper | None, TyperCard | None]:
    """(the ONNX typer and its card) for the request's choice, or (None, None) for the cue typer."""
    if choice == "cue":
        return None, None
    newest = newest_typer(store)
    if newest is None:
        if choice == "auto":
            return None, None
        raise ServingError(
            f"no distilled typer in {store.path(TYPERS_PREFIX)}",
            fix="materialize distilled_models (it needs two hand-labelled pairs), or ask for the cue typer",
            missing=True,
        )
    card, folder = newest
    if choice == "auto" and not card.beats_cue_typer:
        return None, None
    return OnnxTyper.load(store.read_bytes(f"{folder}/model.onnx"), card), card


def type_spans(
    spans: Sequence[Span], graph: DocumentGraph, typer: OnnxTyper | None, *, duration: float | None = None
) -> TypingResult:
    duration = check_spans(spans, duration)
    evidence = segment_evidence([(s.start, s.end, s.text) for s in spans], graph, duration=duration)
    return (typer or local_typer)(evidence, graph)


def transcript_of(spans: Sequence[Span], duration: float | None = None) -> TranscriptionResult:
    """The posted spans as a transcription (words spread evenly over a span that has no timings)."""
    duration = check_spans(spans, duration)
    segments = []
    for i, span in enumerate(spans):
        timed = span.words or _spread(span)
        words = [Word(word=w, start=a, end=b, probability=1.0) for w, a, b in timed]
        segments.append(TranscriptSegment(id=i, start=span.start, end=span.end, text=span.text.strip(), words=words,
                                          speaker=span.speaker))  # fmt: skip
    posted = json.dumps([[s.start, s.end, s.text, s.speaker, list(s.words)] for s in spans]).encode()
    return TranscriptionResult(audio_sha256=sha256_bytes(posted), provider="posted", model="posted", language="en",
                               duration=duration, segments=segments, mean_confidence=1.0,
                               processing_seconds=0.0)  # fmt: skip


def _spread(span: Span) -> tuple[tuple[str, float, float], ...]:
    words = span.text.split()
    step = (span.end - span.start) / len(words)
    return tuple((w, span.start + i * step, span.start + (i + 1) * step) for i, w in enumerate(words))


def judge(
    pair_id: str,
    spans: Sequence[Span],
    graph: DocumentGraph,
    style: StyleVariant,
    reference_segments: AlignedSegments,
    *,
    duration: float | None = None,
) -> tuple[QualityJudgement, AlignedSegments]:
    """The offline rubric's engagement, clarity and accuracy for the posted transcript of a podcast of
    `pair_id`'s paper, and the segments it was judged on."""
    heard = transcript_of(spans, duration)
    segments = analyse_pair(pair_id, heard, graph)
    quality = quality_rubric(script_text=heard.text, spoken=heard, spoken_segments=segments, graph=graph, style=style,
                             reference_segments=reference_segments)  # fmt: skip
    return quality, segments
