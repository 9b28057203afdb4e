"""Review stage: each pair's transcript segments in the review store (`review_entries`); the sensor that applies
what people corrected on the review page to that pair, and to no other; and the sensor that re-transcribes the
pairs another recogniser transcribed, once a fine-tuned model is swapped in (or rolled back)."""

import hashlib
import json
import time
from collections.abc import Iterable
from datetime import datetime

import dagster as dg

from podcast_assets.core.ingest.audio import decode_audio
from podcast_assets.core.ingest.models import DocumentGraph, TranscriptionResult
from podcast_assets.core.review.entries import review_segments
from podcast_assets.defs.failures import user_errors_fail_the_partition
from podcast_assets.defs.ingest import REVIEW_FINGERPRINT, document_graph_path, transcription_path
from podcast_assets.defs.jobs import TRANSCRIPT_ONWARD_JOB_NAME, transcript_onward_job
from podcast_assets.defs.pair_state import newest_metadata, pair_runs_in_flight
from podcast_assets.defs.partitions import training_pairs
from podcast_assets.resources.asr import ASRResource
from podcast_assets.resources.pairs import PairsResource
from podcast_assets.resources.review import ReviewStoreResource
from podcast_assets.resources.storage import ArtifactStoreResource

MAX_REVIEW_RUNS_PER_TICK = 10
TRANSCRIPTIONS = dg.AssetKey("transcriptions")


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


def unapplied_reviews(
    instance: dg.DagsterInstance, states: dict[str, tuple[str, str]], pair_ids: Iterable[str]
) -> list[tuple[str, str, str | None]]:
    """(pair, fingerprint of its reviewed segments, time of the newest change) of each of `pair_ids` whose newest
    transcription applied other reviewed segments than the store now holds (a pair never transcribed is left to
    its first run). `states`: ReviewStore.review_states()."""
    due = []
    for pair_id in pair_ids:
        fingerprint, changed_at = states.get(pair_id, ("", None))
        transcribed = newest_metadata(instance, TRANSCRIPTIONS, pair_id)
        if transcribed is not None and (transcribed.get(REVIEW_FINGERPRINT) or "") != fingerprint:
            due.append((pair_id, fingerprint, changed_at))
    return due


@dg.sensor(
    job=transcript_onward_job,
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
    candidates = sorted((set(states) | set(previous)) & registered)
    for pair_id, fingerprint, changed_at in unapplied_reviews(context.instance, states, candidates):
        if changed_at and now - datetime.fromisoformat(changed_at).timestamp() < review.settle_seconds:
            waiting.append(pair_id)
        elif len(requests) < MAX_REVIEW_RUNS_PER_TICK:
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


MAX_RETRANSCRIBE_RUNS_IN_FLIGHT = 4


def transcribed_with(instance: dg.DagsterInstance, pair_id: str) -> str | None:
    """The recogniser that made the pair's newest transcription (None: never transcribed)."""
    return (newest_metadata(instance, TRANSCRIPTIONS, pair_id) or {}).get("model")


@dg.sensor(
    job=transcript_onward_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
    description="When another recogniser is in use (a guarded swap or a rollback: `podcast-assets asr`), re-makes "
    "each pair transcribed by another one from its transcription onward, a few runs at a time. Transcripts are "
    "cached per model, so going back to a model costs nothing.",
)
def recogniser_sensor(context: dg.SensorEvaluationContext, asr: ASRResource) -> dg.SensorResult:
    model = asr.in_use()
    state = json.loads(context.cursor) if context.cursor else {"model": None, "pending": []}
    pending: list[str] = state["pending"]
    if (
        model != state["model"]
    ):  # a new recogniser (or the first tick): find the pairs another one transcribed
        registered = sorted(context.instance.get_dynamic_partitions(training_pairs.name))
        pending = [p for p in registered if transcribed_with(context.instance, p) not in (None, model)]
        if pending:
            context.log.info(f"{len(pending)} pair(s) were transcribed by another recogniser than {model}")
    in_flight = pair_runs_in_flight(context.instance, TRANSCRIPT_ONWARD_JOB_NAME)
    batch = pending[: max(0, MAX_RETRANSCRIBE_RUNS_IN_FLIGHT - in_flight)]
    tag = hashlib.sha256(model.encode()).hexdigest()[:12]
    cursor = json.dumps({"model": model, "pending": pending[len(batch) :]})
    if not batch:
        return dg.SensorResult(
            skip_reason=f"every pair is transcribed by {model}"
            if not pending
            else "waiting for runs in flight",
            cursor=cursor,
        )
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(run_key=f"recogniser-{pair_id}-{tag}", partition_key=pair_id) for pair_id in batch
        ],
        cursor=cursor,
    )
