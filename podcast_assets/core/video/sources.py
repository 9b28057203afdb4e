"""What a video is made of: a podcast's audio, its transcript with word timestamps, its typed segments and the
paper. Either the pair's reference podcast, or the podcast a training trial generated for the pair; and the
rendered MP4 of one, cached by the content address of everything it is drawn from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from podcast_assets.core.analysis.alignment import analyse_and_type
from podcast_assets.core.analysis.models import AlignedSegments
from podcast_assets.core.config import ConvergenceSettings, VideoSettings
from podcast_assets.core.errors import VideoError
from podcast_assets.core.ingest.models import DocumentGraph, TranscriptionResult
from podcast_assets.core.storage import LocalArtifactStore, cache_key, pair_record_path, sha256_file
from podcast_assets.core.training.models import Script, TrialItem
from podcast_assets.core.training.session import item_path, load_session, session_failures, session_items
from podcast_assets.core.training.summary import build_report
from podcast_assets.core.video.alignment import ALIGNER
from podcast_assets.core.video.captions import Caption, transcript_captions, webvtt
from podcast_assets.core.video.models import RenderReport, VisualAlignment
from podcast_assets.core.video.render import RENDERER, Progress, render_video

REFERENCE = "reference"
RENDER_CACHE = "video_renders"


@dataclass
class VideoSource:
    pair_id: str
    label: str
    """'reference', or the trial id whose generated podcast this is."""
    audio: Path
    transcription: TranscriptionResult
    graph: DocumentGraph
    load_segments: Callable[[], AlignedSegments]
    turns: list[tuple[str, str]] | None = None
    """A generated podcast's script, (speaker, text) per segment: its captions show it, timed by the words heard
    back, with the speaker."""

    @cached_property
    def segments(self) -> AlignedSegments:
        """The typed segments, read or analysed only when asked (sync QA needs the words, not the types)."""
        return self.load_segments()

    @cached_property
    def captions(self) -> list[Caption]:
        return transcript_captions(self.transcription, self.turns)


def alignment_path(pair_id: str, label: str = REFERENCE) -> str:
    return pair_record_path(
        pair_id, "visual_alignment" if label == REFERENCE else f"visual_alignment.{label}"
    )


def stored_alignment(store: LocalArtifactStore, pair_id: str, label: str = REFERENCE) -> VisualAlignment | None:
    """The source's alignment as `visual_alignments` stored it, or None when there is none or it was made by
    other rules than this code's (`alignment.ALIGNER`): its cues are not what this code would show."""
    rel = alignment_path(pair_id, label)
    if not store.exists(rel):
        return None
    alignment = store.read_model(rel, VisualAlignment)
    return alignment if alignment.aligner == ALIGNER else None


def sync_report_path(pair_id: str, label: str = REFERENCE) -> str:
    return pair_record_path(pair_id, "sync_qa" if label == REFERENCE else f"sync_qa.{label}")


def reference_source(store: LocalArtifactStore, pair_id: str, audio: Path) -> VideoSource:
    """The pair's own podcast, as ingested and analysed."""
    return VideoSource(
        pair_id=pair_id,
        label=REFERENCE,
        audio=audio,
        transcription=store.read_model(pair_record_path(pair_id, "transcription"), TranscriptionResult),
        load_segments=lambda: store.read_model(
            pair_record_path(pair_id, "aligned_segments"), AlignedSegments
        ),
        graph=store.read_model(pair_record_path(pair_id, "document_graph"), DocumentGraph),
    )


def best_trial(store: LocalArtifactStore, convergence: ConvergenceSettings) -> str | None:
    """The current training session's best trial, or None before any trial is complete."""
    session = load_session(store)
    if session is None:
        return None
    report = build_report(
        session, session_items(store, session), session_failures(store, session), convergence
    )
    return report.decision.best_trial


def trial_source(store: LocalArtifactStore, pair_id: str, trial_id: str) -> VideoSource:
    """The podcast trial `trial_id` generated for the pair: its audio and the transcript it was scored on
    (the round trip), typed by the embedded analyser as the reference was."""
    session = load_session(store)
    if session is None:
        raise VideoError("there is no training session yet", fix="run `podcast-assets train` first")
    rel = item_path(session, trial_id, pair_id)
    if not store.exists(rel):
        known = ", ".join(t.trial_id for t in session.trials) or "none"
        raise VideoError(
            f"trial {trial_id} has no generated podcast for pair {pair_id} (trials: {known})",
            path=store.path(rel),
            fix="pick a trial that scored this pair (`podcast-assets trial <id>`)",
        )
    item = store.read_model(rel, TrialItem)
    transcript = store.cached_model("trial_transcripts", item.key, TranscriptionResult)
    if transcript is None or not store.exists(item.audio_path):
        raise VideoError(
            f"the audio or transcript of trial {trial_id} for pair {pair_id} is missing from the store",
            path=store.path(item.audio_path),
            fix=f"run the trial again: `dagster asset materialize --select trial_results --partition {pair_id}`",
        )
    graph = store.read_model(pair_record_path(pair_id, "document_graph"), DocumentGraph)
    return VideoSource(
        pair_id=pair_id,
        label=trial_id,
        audio=store.local(item.audio_path),
        transcription=transcript,
        load_segments=lambda: analyse_and_type(pair_id, transcript, graph),
        graph=graph,
        turns=[(seg.speaker, seg.text) for seg in store.read_model(item.script_path, Script).segments],
    )


def figure_files(store: LocalArtifactStore, graph: DocumentGraph) -> dict[str, Path]:
    return {f.id: store.local(f.image_path) for f in graph.figures if store.exists(f.image_path)}


def render_key(
    source: VideoSource, alignment: VisualAlignment, settings: VideoSettings, figures: dict[str, Path]
) -> str:
    """Content address of a rendered video: the renderer, the alignment, the audio's bytes, the figures' bytes
    (`figures`: figure_files), the render settings (not the sync settings) and the captions."""
    figure_hashes = sorted((fid, sha256_file(p) if p.is_file() else None) for fid, p in figures.items())
    render = settings.model_dump(exclude={"sync_tolerance_seconds", "sync_threshold"})
    return cache_key(
        RENDERER,
        alignment.model_dump_json(),
        sha256_file(source.audio),
        figure_hashes,
        render,
        source.graph.title,
        webvtt(source.captions),
    )


def render_source(
    store: LocalArtifactStore,
    source: VideoSource,
    alignment: VisualAlignment,
    settings: VideoSettings,
    *,
    progress: Progress | None = None,
) -> tuple[RenderReport, bool]:
    """The MP4 of `alignment` over the source's audio, in the store under its content address: (report, True)
    when rendered now, (report, False) when an earlier render of the same inputs is still whole."""
    figures = figure_files(store, source.graph)
    key = render_key(source, alignment, settings, figures)
    cached = store.cached_model(RENDER_CACHE, key, RenderReport)
    if cached is not None and store.exists(cached.path):
        store.local(cached.path)
        return cached, False
    rel = f"videos/{source.pair_id}/{source.label}-{key[:16]}.mp4"
    result = render_video(
        alignment, source.graph, figures, source.audio, store.path(rel), settings,
        captions=source.captions, progress=progress,
    )  # fmt: skip
    store.publish(rel)
    media = result.probe
    report = RenderReport(
        pair_id=source.pair_id,
        source=source.label,
        path=rel,
        key=key,
        width=media.width,
        height=media.height,
        fps=media.fps,
        video_seconds=media.video_seconds,
        audio_seconds=media.audio_seconds,
        frames=media.frames,
        size_bytes=media.size_bytes,
        render_seconds=result.seconds,
        cues=result.cues,
        warnings=result.warnings,
    )
    store.cache_model(RENDER_CACHE, key, report)
    return report, True
