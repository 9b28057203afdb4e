"""Review stage: each pair's transcript segments in the review store (`review_entries`), and the sensor that
applies what people corrected on the review page to that pair, and to no other."""

import json
import time
from datetime import datetime

import dagster as dg

from podcast_assets.core.ingest.audio import decode_audio
from podcast_assets.core.ingest.models import DocumentGraph, TranscriptionResult
from podcast_assets.core.review.entries import review_segments
from podcast_assets.defs.failures import user_errors_fail_the_partition
from podcast_assets.defs.ingest import REVIEW_FINGERPRINT, document_graph_path, transcription_path
from podcast_assets.defs.jobs import apply_reviews_job
from podcast_assets.defs.partitions import training_pairs
from podcast_assets.resources.pairs import PairsResource
from podcast_assets.resources.review import ReviewStoreResource
from podcast_assets.resources.storage import ArtifactStoreResource

MAX_REVIEW_RUNS_PER_TICK = 10


@dg.asset(
    partitions_def=training_pairs,
    group_name="review",
    deps=["transcriptions", "document_graphs"],
    kinds={"sqlite"},
)
def review_entries(
    context: dg.AssetExecutionContext,
    pairs: PairsResource,
    artifacts: ArtifactStoreResource,
    review: ReviewStoreResource,
) -> dg.MaterializeResult:
    """The pair's transcript segments in the review store, each with its audio clip (16 kHz, FLAC), words and
    confidences, ranked for review (lowest confidence near the paper's key terms first). Reviewed segments are
    never overwritten; `podcast-assets review` serves them."""
    pair_id = context.partition_key
    store = artifacts.open()
    with user_errors_fail_the_partition():
        transcript = store.read_model(transcription_path(pair_id), TranscriptionResult)
        graph = store.read_model(document_graph_path(pair_id), DocumentGraph)
        audio = pairs.files(pair_id).require_audio()
        started = time.perf_counter()
        segments = review_segments(transcript, decode_audio(audio), graph)
        reviews = review.open()
        report = reviews.fill(pair_id, transcript.audio_sha256, segments)
        stats = reviews.stats(pair_id)
    top = sorted(segments, key=lambda s: -s.priority)[:5]
    return dg.MaterializeResult(
        metadata={
            "db": dg.MetadataValue.path(review.db),
            "entries": report.entries,
            "reviewed": stats["reviewed"],
            "inserted": report.inserted,
            "updated": report.updated,
            "kept_reviewed": report.kept_reviewed,
            "removed": report.removed,
            "seconds": round(time.perf_counter() - started, 2),
            "review_first": dg.MetadataValue.md(
                "\n".join(
                    f"- {s.start:.1f}–{s.end:.1f} s (priority {s.priority:.2f}"
                    + (f"; {', '.join(s.key_terms)}" if s.key_terms else "")
                    + f"): {s.text.strip()[:120]}"
                    for s in top
                )
            ),
        }
    )


def applied_fingerprint(instance: dg.DagsterInstance, pair_id: str) -> str | None:
    """The reviewed segments the pair's newest transcription applied ("" none; None: never transcribed)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("transcriptions"), asset_partitions=[pair_id]), limit=1
    ).records
    if not records:
        return None
    value = records[0].asset_materialization.metadata.get(REVIEW_FINGERPRINT)
    return getattr(value, "value", "") or ""


@dg.sensor(
    job=apply_reviews_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Applies reviewed transcript segments: once a pair's corrections have not changed for "
    "review.settle_seconds, re-materializes that pair's transcription and what depends on it (and no other pair).",
)
def review_sensor(context: dg.SensorEvaluationContext, review: ReviewStoreResource) -> dg.SensorResult:
    states = review.open().review_states()
    previous: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    registered = set(context.instance.get_dynamic_partitions(training_pairs.name))
    now = time.time()
    requests = []
    waiting = []
    for pair_id in sorted(set(states) | set(previous)):
        if pair_id not in registered:
            continue
        fingerprint, changed_at = states.get(pair_id, ("", None))
        applied = applied_fingerprint(context.instance, pair_id)
        if applied is None or applied == fingerprint:
            continue
        if changed_at and now - datetime.fromisoformat(changed_at).timestamp() < review.settle_seconds:
            waiting.append(pair_id)
            continue
        if len(requests) < MAX_REVIEW_RUNS_PER_TICK:
            requests.append(
                dg.RunRequest(run_key=f"review-{pair_id}-{fingerprint or 'none'}", partition_key=pair_id)
            )
    if waiting:
        context.log.info(
            f"corrections still changing (within {review.settle_seconds:g} s): {', '.join(waiting)}"
        )
    cursor = json.dumps({pair: state[0] for pair, state in sorted(states.items())})
    if requests:
        return dg.SensorResult(run_requests=requests, cursor=cursor)
    reason = (
        "waiting for review to settle"
        if waiting
        else "every pair's transcript has its reviewed segments applied"
    )
    return dg.SensorResult(skip_reason=reason, cursor=cursor)
