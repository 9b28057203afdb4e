"""Video stage: which visual to show when (visual_alignments), how well it keeps time with the audio (sync_qa,
with a check at the configured score), and the rendered MP4 (videos, on demand: not part of a pair's run).

Each asset covers the pair's reference podcast and, once training has a best trial, the podcast that trial
generated for the pair; `videos` renders the one its run config names."""

import dagster as dg
from pydantic import Field

from podcast_assets.core.errors import PairError, VideoError
from podcast_assets.core.previews import png_markdown
from podcast_assets.core.storage import LocalArtifactStore
from podcast_assets.core.video.alignment import align_visuals
from podcast_assets.core.video.captions import srt, webvtt
from podcast_assets.core.video.models import SyncReport, VisualAlignment
from podcast_assets.core.video.probe import frame_at
from podcast_assets.core.video.sources import (
    REFERENCE,
    VideoSource,
    alignment_path,
    best_trial,
    reference_source,
    render_source,
    stored_alignment,
    sync_report_path,
    trial_source,
)
from podcast_assets.core.video.storyboard import contact_sheet_png, storyboard_png
from podcast_assets.core.video.sync import sync_qa as measure_sync
from podcast_assets.defs.analysis import aligned_segments
from podcast_assets.defs.failures import user_errors_fail_the_partition
from podcast_assets.defs.partitions import training_pairs
from podcast_assets.resources.pairs import PairsResource
from podcast_assets.resources.storage import ArtifactStoreResource
from podcast_assets.resources.training import TrainingResource
from podcast_assets.resources.video import VideoResource

SYNC_CHECK = "sync_score_at_threshold"
PROGRESS_STEPS = 10


def _reference(pair_id: str, store: LocalArtifactStore, pairs: PairsResource) -> VideoSource:
    files = pairs.files(pair_id)
    if files.audio is None:
        raise PairError(
            "the pair has no podcast audio", path=files.folder, fix="put the podcast in the pair folder"
        )
    return reference_source(store, pair_id, files.audio)


def _sources(
    context: dg.AssetExecutionContext,
    store: LocalArtifactStore,
    pairs: PairsResource,
    training: TrainingResource,
) -> list[VideoSource]:
    """The reference podcast, and the best trial's generated one when training has a best trial that scored
    this pair."""
    pair_id = context.partition_key
    sources = [_reference(pair_id, store, pairs)]
    best = best_trial(store, training.convergence_settings())
    if best is not None:
        try:
            sources.append(trial_source(store, pair_id, best))
        except VideoError as exc:  # the best trial failed on this pair, or its pair set did not hold it
            context.log.info(f"{pair_id}: reference podcast only ({exc})")
    return sources


def _storyboards(
    alignments: list[VisualAlignment], reports: list[SyncReport] | None = None
) -> dg.MetadataValue:
    parts = []
    for i, alignment in enumerate(alignments):
        report = reports[i] if reports else None
        png = storyboard_png(alignment, report)
        parts.append(
            png_markdown(f"**Storyboard: {alignment.source}**", png, alt=f"storyboard {alignment.source}")
        )
    return dg.MetadataValue.md("\n\n".join(parts))


@dg.asset(partitions_def=training_pairs, group_name="video", deps=[aligned_segments], kinds={"python"})
def visual_alignments(
    context: dg.AssetExecutionContext,
    pairs: PairsResource,
    artifacts: ArtifactStoreResource,
    training: TrainingResource,
) -> dg.MaterializeResult:
    """For each segment of the podcast, the visual to show and when: its figure with a Ken Burns zoom (figure
    discussions), a quote card with its key sentence (key findings), a referenced figure with a slow pan, else
    a title card with its main concept; a figure appears at the word that mentions it. For the reference
    podcast, and for the best trial's generated podcast once training has one."""
    pair_id = context.partition_key
    store = artifacts.open()
    with user_errors_fail_the_partition():
        alignments = []
        for source in _sources(context, store, pairs, training):
            alignment = align_visuals(source.segments, source.transcription, source.graph)
            alignment = alignment.model_copy(update={"source": source.label})
            store.write_model(alignment_path(pair_id, source.label), alignment)
            alignments.append(alignment)
    reference = alignments[0]
    for warning in reference.warnings:
        context.log.warning(f"{pair_id}: {warning}")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(store.path(alignment_path(pair_id)))),
            "sources": [a.source for a in alignments],
            "timing": reference.timing,
            "cues": len(reference.cues),
            "cues_by_kind": dg.MetadataValue.json(
                {k: sum(c.kind == k for c in reference.cues) for k in ("figure", "quote_card", "title_card")}
            ),
            "warnings": dg.MetadataValue.json(reference.warnings),
            "storyboard": _storyboards(alignments),
        }
    )


@dg.asset(
    partitions_def=training_pairs,
    group_name="video",
    deps=[visual_alignments],
    kinds={"python"},
    check_specs=[
        dg.AssetCheckSpec(
            SYNC_CHECK,
            asset="sync_qa",
            description="Every alignment of the pair (reference, best trial) scores at least video.sync_threshold "
            "(default 80): its visuals keep time with the words that discuss them.",
        )
    ],
)
def sync_qa(
    context: dg.AssetExecutionContext,
    pairs: PairsResource,
    artifacts: ArtifactStoreResource,
    training: TrainingResource,
    video: VideoResource,
) -> dg.MaterializeResult:
    """Timeline sync QA of each visual alignment against its audio's words: visual coverage, figure timing
    accuracy (on screen within the tolerance of its spoken mention), quote timing accuracy (the quote is spoken
    in its window), desync points with severity, segments without visuals, and the sync score (0-100)."""
    pair_id = context.partition_key
    store = artifacts.open()
    settings = video.settings()
    with user_errors_fail_the_partition():
        reports, alignments = [], []
        for source in _sources(context, store, pairs, training):
            alignment = stored_alignment(store, pair_id, source.label)
            if alignment is None:
                continue
            report = measure_sync(
                alignment,
                source.transcription,
                tolerance_s=settings.sync_tolerance_seconds,
                threshold=settings.sync_threshold,
            )
            store.write_model(sync_report_path(pair_id, source.label), report)
            alignments.append(alignment)
            reports.append(report)
        if not reports:
            raise PairError(
                "no visual alignment to check", path=store.path(alignment_path(pair_id)),
                fix=f"materialize visual_alignments for {pair_id} first",
            )  # fmt: skip
    failed = [r for r in reports if not r.passed]
    scores = {r.source: r.sync_score for r in reports}
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(store.path(sync_report_path(pair_id)))),
            "sync_score": reports[0].sync_score,
            "sync_scores": dg.MetadataValue.json(scores),
            "visual_coverage": reports[0].visual_coverage,
            "figure_timing_accuracy": reports[0].figure_timing_accuracy,
            "quote_timing_accuracy": reports[0].quote_timing_accuracy,
            "desync_points": len(reports[0].desync_points),
            "segments_without_visuals": dg.MetadataValue.json(reports[0].segments_without_visuals),
            "timing": reports[0].timing,
            "storyboard": _storyboards(alignments, reports),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=SYNC_CHECK,
                passed=not failed,
                severity=dg.AssetCheckSeverity.WARN,
                description=(
                    f"sync score below {settings.sync_threshold:g}: "
                    + ", ".join(f"{r.source} {r.sync_score:.1f}" for r in failed)
                    if failed
                    else f"every alignment at or above {settings.sync_threshold:g}"
                ),
                metadata={f"sync_score_{r.source}": r.sync_score for r in reports},
            )
        ],
    )


class VideoConfig(dg.Config):
    source: str = Field(
        default=REFERENCE,
        description="'reference' (the pair's podcast), 'best' (the best trial's generated podcast) or a trial id.",
    )


@dg.asset(
    partitions_def=training_pairs,
    group_name="video",
    deps=[visual_alignments],
    kinds={"video"},
    pool="render",
)
def videos(
    context: dg.AssetExecutionContext,
    config: VideoConfig,
    pairs: PairsResource,
    artifacts: ArtifactStoreResource,
    training: TrainingResource,
    video: VideoResource,
) -> dg.MaterializeResult:
    """The podcast as an H.264 MP4: its audio under the visual alignment's figures (Ken Burns zoom and pan),
    quote cards and title cards, with fades, and its captions from the words' timings as WebVTT and SRT beside
    it. Rendered on demand (`podcast-assets video <pair>`), cached by the
    content address of its inputs, and published only once read back whole."""
    pair_id = context.partition_key
    store = artifacts.open()
    settings = video.settings()
    with user_errors_fail_the_partition():
        if config.source == REFERENCE:
            source = _reference(pair_id, store, pairs)
        else:
            trial = (
                best_trial(store, training.convergence_settings())
                if config.source == "best"
                else config.source
            )
            if trial is None:
                raise VideoError(
                    "no trial is complete yet, so there is no best trial", fix="run `podcast-assets train`"
                )
            source = trial_source(store, pair_id, trial)
        alignment = stored_alignment(store, pair_id, source.label)
        # none stored: a trial other than the best one (visual_alignments covers the best only), or older rules' cues
        if alignment is None:
            alignment = align_visuals(source.segments, source.transcription, source.graph)
            alignment = alignment.model_copy(update={"source": source.label})
        frames_done = [0]

        def progress(done: int, total: int) -> None:
            if total and done * PROGRESS_STEPS // total > frames_done[0] * PROGRESS_STEPS // total:
                context.log.info(
                    f"{pair_id} ({source.label}): rendering {done}/{total} frames ({done / total:.0%})"
                )
            frames_done[0] = done

        report, rendered = render_source(store, source, alignment, settings, progress=progress)
    for warning in report.warnings:
        context.log.warning(f"{pair_id}: {warning}")
    path = store.local(report.path)
    cues = source.captions
    stem = report.path.removesuffix(".mp4")
    subtitles = {}
    for kind, ext, write in (("webvtt", "vtt", webvtt), ("srt", "srt", srt)):
        # named by the render's content address, which the captions are part of: once written, never stale
        rel = f"{stem}.{ext}"
        if not store.exists(rel):
            store.write_bytes(rel, write(cues).encode())
        subtitles[kind] = store.local(rel)
    firsts = {}
    for c in alignment.cues:
        if c.kind not in firsts and c.duration > 2 * settings.fade_seconds:
            firsts[c.kind] = (c.start + c.end) / 2
    preview = contact_sheet_png({f"{k} @ {t:.0f} s": frame_at(path, t) for k, t in firsts.items()})
    speed = report.video_seconds / report.render_seconds if rendered and report.render_seconds else None
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "captions_webvtt": dg.MetadataValue.path(str(subtitles["webvtt"])),
            "captions_srt": dg.MetadataValue.path(str(subtitles["srt"])),
            "captions": len(cues),
            "source": source.label,
            "rendered_now": rendered,
            "video_seconds": report.video_seconds,
            "audio_seconds": report.audio_seconds,
            "size": f"{report.width}x{report.height} at {report.fps:g} fps",
            "megabytes": round(report.size_bytes / 1e6, 2),
            "render_seconds": report.render_seconds,
            "video_seconds_per_render_second": round(speed, 2) if speed else None,
            "cues_shown": dg.MetadataValue.json(report.cues),
            "warnings": dg.MetadataValue.json(report.warnings),
            "frames": dg.MetadataValue.md(
                png_markdown("**A frame of each visual type**", preview, alt="frames")
            ),
        }
    )
