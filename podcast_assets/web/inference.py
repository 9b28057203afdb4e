"""The inference API on the review server (core/serving.py computes every answer):

    POST /api/type-segments   {"segments": [{"start", "end", "text"}], "pair"?: id, "typer"?: auto|cue|distilled,
                               "duration"?: the episode's seconds (default: the last segment's end)}
                              each segment's type, confidence and per-type scores; with `pair`, aligned to that
                              pair's paper first (as the pipeline aligns); `auto` (default): the distilled ONNX
                              typer where its card says it beat the cue typer, else the cue typer
    POST /api/judge           {"pair": id, "segments": [{"start", "end", "text", "speaker"?, "words"?}], "duration"?}
                              the offline rubric's engagement, clarity and accuracy (0-100), the quality loss,
                              the measured inputs and suggestions, for a transcript of a podcast of that paper

Both change nothing, so web/guard.py asks them for no page token (a script may call them); the Host check and the
body limit hold as for every route. Errors: 404 an unknown pair, no distilled typer or no profile yet; 422 the
request is not a transcript (empty, out of order, or a bad pair id), each saying what to send.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from podcast_assets.core.analysis.models import AlignedSegments
from podcast_assets.core.analysis.profile_store import load_current
from podcast_assets.core.errors import PairError
from podcast_assets.core.ingest.models import DocumentGraph
from podcast_assets.core.ingest.pairs import validate_pair_id
from podcast_assets.core.serving import (
    NO_PAPER,
    ServingError,
    Span,
    TyperChoice,
    judge,
    load_typer,
    type_spans,
)
from podcast_assets.core.storage import LocalArtifactStore, pair_record_path
from podcast_assets.core.training.losses import quality_loss

PATHS = ("/api/type-segments", "/api/judge")
MAX_SEGMENTS = 2000
MAX_TEXT = 20_000


class PostedWord(BaseModel):
    word: str = Field(max_length=200)
    start: float = Field(ge=0)
    end: float = Field(ge=0)


class PostedSegment(BaseModel):
    start: float = Field(ge=0, description="Seconds from the start of the episode.")
    end: float = Field(ge=0)
    text: str = Field(max_length=MAX_TEXT)
    speaker: str | None = Field(default=None, max_length=100)
    words: list[PostedWord] = Field(default_factory=list, description="Word timings, if a recogniser gave them.")

    def span(self) -> Span:
        return Span(start=self.start, end=self.end, text=self.text, speaker=self.speaker,
                    words=tuple((w.word, w.start, w.end) for w in self.words))  # fmt: skip


class TypeRequest(BaseModel):
    segments: list[PostedSegment] = Field(max_length=MAX_SEGMENTS)
    duration: float | None = Field(default=None, ge=0, description="Episode seconds (default: the last end).")
    pair: str | None = Field(default=None, description="Align to this pair's paper before typing.")
    typer: TyperChoice = "auto"


class JudgeRequest(BaseModel):
    pair: str = Field(description="The pair whose paper the podcast explains (its reference sets the targets).")
    segments: list[PostedSegment] = Field(max_length=MAX_SEGMENTS)
    duration: float | None = Field(default=None, ge=0, description="Episode seconds (default: the last end).")


def inference_router(artifacts: LocalArtifactStore) -> APIRouter:
    router = APIRouter()

    def record(pair_id: str, name: str, cls):
        try:
            validate_pair_id(pair_id)
        except PairError as exc:
            raise ServingError(exc.message, fix=exc.fix) from None
        rel = pair_record_path(pair_id, name)
        if not artifacts.exists(rel):
            raise ServingError(f"pair {pair_id!r} has no {name} ({artifacts.path(rel)})", missing=True,
                               fix="name a pair the pipeline has run (podcast-assets status lists them)")  # fmt: skip
        return artifacts.read_model(rel, cls)

    @router.post(PATHS[0])
    def type_segments(body: TypeRequest) -> dict[str, Any]:
        graph = record(body.pair, "document_graph", DocumentGraph) if body.pair else NO_PAPER
        typer, card = load_typer(artifacts, body.typer)
        spans = [s.span() for s in body.segments]
        typing = type_spans(spans, graph, typer, duration=body.duration)
        return {
            "typer": typing.classifier,
            "model_sha256": card.model_sha256 if card else None,
            "paper": body.pair,
            "segments": [
                {"start": s.start, "end": s.end, "type": label.type, "confidence": round(label.confidence, 4),
                 "scores": {t: round(v, 4) for t, v in label.scores.items()}}  # fmt: skip
                for s, label in zip(spans, typing.labels, strict=True)
            ],
        }

    @router.post(PATHS[1])
    def judge_transcript(body: JudgeRequest) -> dict[str, Any]:
        graph = record(body.pair, "document_graph", DocumentGraph)
        reference = record(body.pair, "aligned_segments", AlignedSegments)
        profile = load_current(artifacts)
        if profile is None:
            raise ServingError("no aggregated profile yet: the judge's targets are learned there", missing=True,
                               fix="run `podcast-assets train --no-trials` first")  # fmt: skip
        quality, segments = judge(body.pair, [s.span() for s in body.segments], graph,
                                  profile.style_variants["all"], reference, duration=body.duration)  # fmt: skip
        return {
            "judge": quality.method,
            "pair": body.pair,
            "engagement": quality.engagement,
            "clarity": quality.clarity,
            "accuracy": quality.accuracy,
            "quality_loss": round(quality_loss(quality.engagement, quality.clarity, quality.accuracy), 4),
            "notes": quality.notes,
            "suggestions": quality.suggestions,
            "segments": [{"start": s.start, "end": s.end, "type": s.type} for s in segments.segments],
        }

    return router
