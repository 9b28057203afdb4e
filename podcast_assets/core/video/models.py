"""Records of the video stage: the visuals on the audio timeline and the measured audio-visual sync."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from podcast_assets.core.records import Record

CueKind = Literal["figure", "quote_card", "title_card"]
Motion = Literal["ken_burns", "slow_pan", "none"]
Timing = Literal["words", "segments"]
Severity = Literal["low", "medium", "high"]


class VisualCue(Record):
    """One visual on screen from `start` to `end` (seconds of the podcast audio)."""

    kind: CueKind
    figure_id: str | None = Field(
        default=None, description="The document graph's figure id, for kind 'figure'."
    )
    text: str = Field(
        default="", description="The quote (quote_card), the concept (title_card) or the caption."
    )
    points: list[str] = Field(
        default_factory=list,
        description="A title card's bullet points: what its segment says (its sentences naming key concepts or "
        "numbers, shortened).",
    )
    start: float = Field(ge=0)
    end: float = Field(ge=0)
    motion: Motion = "none"
    segment_id: str | None = Field(
        default=None, description="The aligned segment it belongs to; None: opening."
    )
    reason: str = Field(description="Why this visual, and why it starts when it does.")
    page: int | None = Field(
        default=None,
        description="The paper page it comes from (the figure's, or the segment's first atom's).",
    )

    @property
    def duration(self) -> float:
        return self.end - self.start


class SegmentSpan(Record):
    """When an aligned segment is spoken: the audio facts the cues are measured against."""

    id: str
    start: float = Field(ge=0)
    end: float = Field(ge=0)
    type: str


class VisualAlignment(Record):
    pair_id: str
    aligner: str = Field(default="", description="The rules' version (alignment.ALIGNER) that made it.")
    source: str = Field(default="reference", description="'reference', or the trial whose generated podcast it is.")
    duration: float = Field(ge=0, description="Audio seconds the cues cover.")
    cues: list[VisualCue] = Field(description="In time order, not overlapping, within [0, duration].")
    timing: Timing = Field(
        description="'words': cues start at the word that mentions them; 'segments': no word timestamps, cues "
        "start at their segment's start."
    )
    segments: list[SegmentSpan] = Field(default_factory=list, description="The aligned segments' spans.")
    figure_numbers: dict[int, str] = Field(
        default_factory=dict, description="Figure id by figure number in the paper, to find spoken mentions."
    )
    warnings: list[str] = Field(default_factory=list)


class DesyncPoint(Record):
    time: float = Field(ge=0, description="Where in the audio (seconds).")
    kind: Literal["figure_late_or_missing", "quote_not_spoken", "no_visual", "wrong_segment"]
    severity: Severity
    detail: str


class SyncReport(Record):
    """TimelineSyncQA: how well the visuals keep time with the audio. Formulas in core/video/sync.py."""

    pair_id: str
    aligner: str = Field(default="", description="The rules' version (alignment.ALIGNER) that made it.")
    source: str = Field(default="reference", description="'reference', or the trial whose generated podcast it is.")
    timing: Timing
    tolerance_s: float
    visual_coverage: float = Field(
        ge=0, le=1, description="Share of the audio showing a visual of the segment being spoken."
    )
    figure_mentions: int = Field(ge=0, description="Spoken figure mentions in the words ('figure 3', ...).")
    figure_timing_accuracy: float | None = Field(
        description="Share of spoken figure mentions with that figure on screen within tolerance; None: none."
    )
    quote_cards: int = Field(ge=0)
    quote_timing_accuracy: float | None = Field(
        description="Share of quote cards whose text is spoken inside their window; None: no quote card."
    )
    desync_points: list[DesyncPoint] = Field(default_factory=list)
    segments_without_visuals: list[str] = Field(
        default_factory=list, description="Segments less than half of whose time shows one of their visuals."
    )
    sync_score: float = Field(ge=0, le=100)
    passed: bool
    threshold: float
    warnings: list[str] = Field(default_factory=list)


class RenderReport(Record):
    """A rendered video, as probed after writing (not as requested)."""

    pair_id: str
    source: str = Field(description="'reference' or the trial id whose generated podcast it shows.")
    path: str = Field(description="Artifact-store path of the MP4.")
    key: str = Field(description="Content address of the alignment, audio and settings it was rendered from.")
    width: int
    height: int
    fps: float
    video_seconds: float
    audio_seconds: float
    frames: int
    size_bytes: int
    render_seconds: float = Field(description="Wall time of the render; 0 when served from the cache.")
    cues: dict[str, int] = Field(description="Visuals shown, by kind.")
    warnings: list[str] = Field(default_factory=list)
