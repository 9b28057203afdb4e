"""Training stage: one trial item per pair (`trial_results`), the summary across pairs and trials
(`training_summary`), and the sensors that close the loop (a complete trial is summarised; a summary that
has not converged makes the next prompt version and requests the next trial for every pair)."""


import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from pydantic import Field

from podcast_assets.core.analysis.alignment import analyse_and_type
from podcast_assets.core.analysis.llm_typer import llm_typer
from podcast_assets.core.analysis.models import AggregatedProfile, AlignedSegments
from podcast_assets.core.analysis.profile_store import load_current
from podcast_assets.core.errors import PodcastAssetsError, TrainingError
from podcast_assets.core.ingest.models import DocumentGraph, TranscriptionResult
from podcast_assets.core.llm import CallRecord, LLMError
from podcast_assets.core.previews import png_markdown
from podcast_assets.core.storage import LocalArtifactStore, cache_key
from podcast_assets.core.training import llm_tasks, refine, scoring, writer
from podcast_assets.core.training.models import Script, TrainingSession, TrialItem
from podcast_assets.core.training.prompts import REFINED, PromptLibrary, PromptVersion
from podcast_assets.core.training.session import (
    ITEM_CACHE,
    cached_item,
    load_session,
    next_trial,
    record_failure,
    record_item,
    record_spend,
    session_dir,
    session_failures,
    session_items,
    session_spend,
    start_session,
    trial_complete,
)
from podcast_assets.core.training.split import split_pairs
from podcast_assets.core.training.summary import build_report, frame, loss_curve_png, report_markdown
from podcast_assets.core.training.trial import Services, SpeechChecks, Spoken, run_item
from podcast_assets.defs.analysis import (
    SEGMENT_TYPING,
    aggregated_profile,
    aligned_segments_path,
)
from podcast_assets.defs.failures import user_errors_fail_the_partition
from podcast_assets.defs.ingest import document_graph_path, transcription_path
from podcast_assets.defs.jobs import VISUALS_JOB_NAME, visuals_job
from podcast_assets.defs.partitions import training_pairs
from podcast_assets.resources.asr import ASRResource
from podcast_assets.resources.llm import LLMResource
from podcast_assets.resources.storage import ArtifactStoreResource
from podcast_assets.resources.training import TrainingResource
from podcast_assets.resources.tts import TTSResource

TRIAL_JOB_NAME = "training_trial"
SUMMARY_JOB_NAME = "training_summary_job"
TRIAL_TAG = "podcast_assets/trial"
SESSION_TAG = "podcast_assets/session"
ITEM_FORMAT = "trial-item-v1"


class TrialConfig(dg.Config):
    trial_id: str = Field(default="", description="Trial to score (e.g. 't002'); empty: the current trial of the session.")


def current_profile(store: LocalArtifactStore) -> AggregatedProfile:
    profile = load_current(store)
    if profile is None:
        raise TrainingError(
            "no aggregated profile yet: a trial is written from it",
            fix="materialize aggregated_profile first (podcast-assets train does it)",
        )
    return profile


def ensure_session(store: LocalArtifactStore, training: TrainingResource) -> TrainingSession:
    """The current session, or a new one over the pairs the current aggregated profile used."""
    session = load_session(store)
    if session is not None:
        return session
    profile = current_profile(store)
    settings = training.settings()
    split = split_pairs(profile.pairs_used, validation_share=settings.validation_share, seed=settings.split_seed,
                        validation_pairs=settings.validation_pairs)  # fmt: skip
    return start_session(store, training.library(store), profile, split, target_depth=settings.target_depth)


def depth_for(profile: AggregatedProfile, minutes: float) -> str:
    """The depth whose configured range holds `minutes` (the nearest range when none does)."""

    def gap(plan) -> float:
        high = plan.max_minutes if plan.max_minutes is not None else float("inf")
        return 0.0 if plan.min_minutes <= minutes <= high else min(abs(minutes - plan.min_minutes), abs(minutes - high))

    return min(profile.depth_targets, key=lambda d: gap(profile.depth_targets[d]))


def _llm_identity(llm: LLMResource) -> dict[str, object]:
    return {"provider": llm.provider, "model": llm.model, "base_url": llm.base_url} if llm.enabled else {}


@dataclass(frozen=True)
class PairRecords:
    """What a trial reads of one pair: its paper, its reference transcript and the reference's typed segments."""

    pair_id: str
    graph: DocumentGraph
    reference: TranscriptionResult
    reference_segments: AlignedSegments

    @classmethod
    def load(cls, store: LocalArtifactStore, pair_id: str) -> "PairRecords":
        return cls(
            pair_id=pair_id,
            graph=store.read_model(document_graph_path(pair_id), DocumentGraph),
            reference=store.read_model(transcription_path(pair_id), TranscriptionResult),
            reference_segments=store.read_model(aligned_segments_path(pair_id), AlignedSegments),
        )


@dataclass(frozen=True)
class Trainer:
    """Everything a trial item needs besides the pair: where to keep things, the profile, the prompt versions
    and the services."""

    store: LocalArtifactStore
    profile: AggregatedProfile
    library: PromptLibrary
    asr: ASRResource
    tts: TTSResource
    llm: LLMResource
    training: TrainingResource


def target_of(profile: AggregatedProfile, target_depth: str, reference_seconds: float) -> tuple[str, float]:
    """(depth, target seconds): the reference's own length and the depth it falls in, or a depth's plan."""
    if target_depth == "reference":
        return depth_for(profile, reference_seconds / 60), reference_seconds
    return target_depth, profile.depth_targets[target_depth].target_minutes * 60


def writing_services(
    trainer: Trainer,
    graph: DocumentGraph,
    version: PromptVersion,
    *,
    target_seconds: float,
    depth: str,
    concepts: list[str],
    pair_id: str | None,
    calls: llm_tasks.LLMCalls | None,
    log: Callable[[str], None] | None = None,
) -> tuple[Callable[[], Script], Callable[[Script, float], Script], Callable[[Script, Path], Spoken]]:
    """(write, refit, speak) for one paper: the LLM writer when an LLM is configured, else the offline one;
    the offline length fitter; the TTS resource, its length measured from the written file."""
    profile, generation, label = trainer.profile, version.settings, pair_id or graph.title[:40]
    if generation is None:
        raise TrainingError(f"{version.ref} has no generation settings", fix="use a script_writer version")

    def write() -> Script:
        if calls is not None:
            brief = llm_tasks.writing_brief(profile, generation, target_seconds=target_seconds,
                                            speakers=writer.speaker_labels(profile), concepts=concepts, pair_id=pair_id)  # fmt: skip
            return llm_tasks.write_script(calls, version, llm_tasks.visible_paper(graph), brief)
        return writer.write_script(graph, profile, generation, target_seconds=target_seconds,
                                   prompt_version=version.ref, pair_id=pair_id, depth=depth)  # fmt: skip

    def refit(script: Script, factor: float) -> Script:
        return writer.fit_length(script, graph, profile, generation, factor=factor)

    def speak(script: Script, audio: Path) -> Spoken:
        result = trainer.tts.speak([(s.speaker, s.text) for s in script.segments], audio, speakers=script.speakers)
        if log:
            log(f"{label}: spoke {script.word_count} words -> {result.audio_seconds:.1f} s "
                f"(target {target_seconds:.1f} s)")  # fmt: skip
        return Spoken(result.audio_seconds, result.voices, result.synthesis_seconds)

    return write, refit, speak


def score_item(
    trainer: Trainer,
    pair: PairRecords,
    *,
    trial_id: str,
    split: str,
    version: PromptVersion,
    target_depth: str,
    spent_usd: float = 0.0,
    on_call: Callable[[CallRecord], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> tuple[TrialItem, bool]:
    """The item for (pair, version), from the cache when its inputs were scored before. Second: cached."""
    store, profile, tts, asr, llm = trainer.store, trainer.profile, trainer.tts, trainer.asr, trainer.llm
    pair_id, graph, reference, reference_segments = pair.pair_id, pair.graph, pair.reference, pair.reference_segments
    settings = trainer.training.settings()
    weights = trainer.training.weights()
    depth, target_seconds = target_of(profile, target_depth, reference.duration)
    key_concepts = profile.depth_targets[depth].key_concepts
    generation = version.settings
    if generation is None:
        raise TrainingError(f"{version.ref} has no generation settings", fix="use a script_writer version")
    key = cache_key(
        ITEM_FORMAT, pair_id, split, reference.audio_sha256, graph.model_dump_json(), reference_segments.model_dump_json(),
        version.content_sha256(), profile.version, profile.source_fingerprint, round(target_seconds, 3), depth,
        key_concepts, tts.cache_identity(), asr.cache_identity(), _llm_identity(llm), weights.model_dump(),
        settings.model_dump(mode="json", exclude={"validation_share", "validation_pairs", "split_seed", "budget_usd"}),
        writer.WRITER, scoring.SCORING,
    )  # fmt: skip
    if (hit := cached_item(store, key)) is not None:
        return hit.model_copy(update={"trial_id": trial_id}), True

    style = profile.style_variants["all"]
    calls = llm_tasks.LLMCalls(complete_json=_ledgered(llm, on_call), spent_usd=spent_usd) if llm.enabled else None
    concepts = [k.phrase for k in graph.key_concepts[:key_concepts]]
    library = trainer.library
    paper = llm_tasks.visible_paper(graph) if calls else None

    write, refit, speak = writing_services(
        trainer, graph, version, target_seconds=target_seconds, depth=depth, concepts=concepts, pair_id=pair_id,
        calls=calls, log=log,
    )  # fmt: skip

    def analyse(transcript: TranscriptionResult) -> AlignedSegments:
        typer = llm_typer(_budgeted(llm, calls, on_call), SEGMENT_TYPING) if calls is not None else None
        return analyse_and_type(pair_id, transcript, graph, llm_typer=typer)

    def score(*, script, spoken, spoken_seconds, spoken_segments, coverage, quality):
        return scoring.score(
            script_text=script.text, writer_types=[s.type for s in script.segments], spoken=spoken,
            spoken_seconds=spoken_seconds,
            spoken_segments=spoken_segments, reference_seconds=reference.duration,
            reference_segments=reference_segments, reference_text=reference.text, graph=graph, style=style,
            weights=weights, key_concepts=key_concepts, coverage=coverage, quality=quality,
        )  # fmt: skip

    services = Services(
        write=write,
        refit=refit,
        speak=speak,
        transcribe=lambda audio: asr.transcribe(audio),
        analyse=analyse,
        judge_coverage=(
            lambda s: llm_tasks.judge_coverage(calls, library.get("coverage_judge"), s, concepts, paper)
        ) if calls else None,
        judge_quality=(lambda s: llm_tasks.judge_quality(calls, library.get("quality_judge"), s, paper))
        if calls else None,
        score=score,
    )
    checks = SpeechChecks(
        target_seconds=target_seconds,
        tolerance=settings.length_tolerance,
        max_passes=settings.max_length_passes,
        max_wer=settings.max_round_trip_wer,
        words_per_minute=generation.words_per_minute,
    )
    work = store.path(f"tmp/{key[:16]}")  # named by the item: a killed item's leftovers are cleared on resume
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        outcome = run_item(services, checks, work_dir=work, store=store, key=key, audio_format=tts.extension())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    script_rel = store.put_blob(outcome.script.model_dump_json(indent=1).encode(), "json")
    item = TrialItem(
        pair_id=pair_id,
        trial_id=trial_id,
        prompt_version=version.ref,
        split=split,  # type: ignore[arg-type]
        key=key,
        script_path=script_rel,
        audio_path=outcome.audio_path,
        speech=outcome.speech,
        losses=outcome.losses,
        details=outcome.details,
        seconds=outcome.seconds,
        llm_usd=round(calls.session_usd, 6) if calls else 0.0,
    )
    store.cache_model(ITEM_CACHE, key, item)
    return item, False


def _ledgered(llm: LLMResource, on_call: Callable[[CallRecord], None] | None):
    """llm.complete_json that reports every call's record (a failed call's too) as soon as it is known."""

    def complete(**kwargs):
        try:
            reply, record = llm.complete_json(**kwargs)
        except LLMError as exc:
            if on_call and exc.record is not None:
                on_call(exc.record)
            raise
        if on_call:
            on_call(record)
        return reply, record

    return complete


def _budgeted(llm: LLMResource, calls: llm_tasks.LLMCalls, on_call: Callable[[CallRecord], None] | None):
    """complete_json for the segment typer of the spoken transcript, counted against the same spend cap."""
    ledgered = _ledgered(llm, on_call)

    def complete(**kwargs):
        reply, record = ledgered(**kwargs, spent_usd=calls.total_usd)
        calls.records.append(record)
        return reply, record

    return complete


def _script_preview(store: LocalArtifactStore, item: TrialItem, max_segments: int = 8) -> str:
    script = store.read_model(item.script_path, Script)
    heading = (
        f"**{script.title}** ({script.word_count} words, {item.speech.audio_seconds:.0f} s, "
        f"writer {script.writer}, {item.prompt_version})"
    )
    lines = [heading, ""]
    for seg in script.segments[:max_segments]:
        text = seg.text if len(seg.text) < 300 else seg.text[:300] + " …"
        lines.append(f"- **{seg.type}** ({seg.speaker}): {text}")
    if len(script.segments) > max_segments:
        lines.append(f"- … {len(script.segments) - max_segments} more segments")
    return "\n".join(lines)


@dg.asset(
    partitions_def=training_pairs,
    group_name="training",
    deps=[aggregated_profile],
    code_version=f"{ITEM_FORMAT}+{writer.WRITER}+{scoring.SCORING}",
    kinds={"python"},
    pool="tts",
)
def trial_results(
    context: dg.AssetExecutionContext,
    config: TrialConfig,
    artifacts: ArtifactStoreResource,
    asr: ASRResource,
    tts: TTSResource,
    llm: LLMResource,
    training: TrainingResource,
) -> dg.MaterializeResult:
    """One trial of a prompt version on this pair: the script, its audio (spoken to length and transcribed
    back), and the five losses against the human reference with their details. A finished (pair, version,
    inputs) is served from the cache, never computed again."""
    pair_id = context.partition_key
    store = artifacts.open()
    with user_errors_fail_the_partition():
        session = ensure_session(store, training)
        trial_id = config.trial_id or session.current.trial_id
        try:
            entry = session.trial(trial_id)
        except KeyError:
            raise TrainingError(
                f"session {session.session_id} has no trial {trial_id}",
                fix=f"use one of: {', '.join(t.trial_id for t in session.trials)}",
            ) from None
        if pair_id not in session.split:
            profile = current_profile(store)
            why = profile.pairs_left_out.get(pair_id, "it was registered after the session started")
            raise TrainingError(
                f"pair {pair_id} is not training in session {session.session_id}: {why}",
                fix="fix the pair and re-learn the aggregate, then start a new session (podcast-assets train)",
            )
        library = training.library(store)
        version = library.get(REFINED, entry.prompt_version)
        trainer = Trainer(store, current_profile(store), library, asr, tts, llm, training)
        try:
            item, cached = score_item(
                trainer, PairRecords.load(store, pair_id), trial_id=trial_id, split=session.split[pair_id],
                version=version, target_depth=session.target_depth, spent_usd=session_spend(store, session),
                on_call=lambda record: record_spend(store, session, record),
                log=context.log.info,
            )  # fmt: skip
        except PodcastAssetsError as exc:
            record_failure(store, session, trial_id, pair_id, str(exc))
            raise
        record_item(store, session, item)
    context.log.info(f"{pair_id} {trial_id} ({version.ref}): total loss {item.losses.total:.4f}"
                     + (" (served from the cache)" if cached else ""))  # fmt: skip
    return dg.MaterializeResult(
        metadata={
            "trial_id": trial_id,
            "session": session.session_id,
            "prompt_version": version.ref,
            "split": item.split,
            "cached": cached,
            **{f"loss_{name}": getattr(item.losses, name) for name in ("duration", "coverage", "structure", "quality", "rouge")},
            "loss_total": item.losses.total,
            "quality_method": item.details.quality_method,
            "concepts_missed": dg.MetadataValue.json(item.details.concepts_missed),
            "audio_seconds": item.speech.audio_seconds,
            "reference_seconds": item.details.reference_seconds,
            "round_trip_wer": item.speech.round_trip_wer,
            "tts_passes": item.speech.passes,
            "audio": dg.MetadataValue.path(str(store.path(item.audio_path))),
            "script": dg.MetadataValue.md(_script_preview(store, item)),
            "llm_usd": item.llm_usd,
        }
    )


@dg.asset(group_name="training", deps=[trial_results], kinds={"python", "polars"})
def training_summary(
    context: dg.AssetExecutionContext, artifacts: ArtifactStoreResource, training: TrainingResource
) -> dg.MaterializeResult:
    """Train and validation loss per trial, the best trial and the convergence decision with its reason,
    the loss curves and the trials x pairs x losses table (Parquet, for notebooks)."""
    store = artifacts.open()
    with user_errors_fail_the_partition():
        session = load_session(store)
        if session is None:
            raise TrainingError("no training session yet", fix="materialize trial_results (or run podcast-assets train)")
        items = session_items(store, session)
        report = build_report(session, items, session_failures(store, session), training.convergence_settings())
        base = session_dir(session)
        table = frame(items)
        parquet = store.path(f"{base}/trials.parquet")
        store.path("tmp").mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=store.path("tmp"), suffix=".parquet") as tmp:
            table.write_parquet(tmp.name)
            store.write_bytes(f"{base}/trials.parquet", Path(tmp.name).read_bytes())
        png = loss_curve_png(report)
        store.write_bytes(f"{base}/loss_curve.png", png)
        store.write_model(f"{base}/report.json", report)
        markdown = report_markdown(report)
        store.write_bytes(f"{base}/report.md", markdown.encode())
        store.write_model("training/report.json", report)
        store.write_bytes("training/report.md", markdown.encode())
    latest = report.trials[-1] if report.trials else None
    context.log.info(f"decision: {'converged' if report.decision.converged else 'go on'}: {report.decision.reason}")
    metadata = {
        "session": session.session_id,
        "trials_complete": len(report.trials),
        "best_trial": report.decision.best_trial or "",
        "converged": report.decision.converged,
        "decision": report.decision.reason,
        "validation": report.validation_note,
        "report": dg.MetadataValue.md(markdown),
        "loss_curve": dg.MetadataValue.md(png_markdown("**Loss per trial**", png, alt="loss curve")),
        "table": dg.MetadataValue.path(str(parquet)),
    }
    if latest is not None:
        metadata["trial_id"] = latest.trial_id
        if latest.train_loss is not None:
            metadata["train_loss"] = latest.train_loss
        if latest.validation_loss is not None:
            metadata["validation_loss"] = latest.validation_loss
        for name, value in latest.losses.items():
            metadata[f"mean_{name}"] = value
    return dg.MaterializeResult(metadata=metadata)


def offline_refiner(profile: AggregatedProfile, training: TrainingResource):
    style = profile.style_variants["all"]
    weights = training.weights()
    return lambda items, settings, body, tried: refine.propose(items, settings, body, tried, style=style, weights=weights)


def advance(store: LocalArtifactStore, training: TrainingResource, llm: LLMResource):
    """Decide from the stored report and, unless converged, add the next trial. Returns (session, new entry)."""
    session = load_session(store)
    if session is None:
        raise TrainingError("no training session yet", fix="run podcast-assets train")
    items = session_items(store, session)
    report = build_report(session, items, session_failures(store, session), training.convergence_settings())
    profile = current_profile(store)
    if llm.enabled:
        library = training.library(store)
        calls = llm_tasks.LLMCalls(
            complete_json=_ledgered(llm, lambda record: record_spend(store, session, record)),
            spent_usd=session_spend(store, session),
        )

        def refiner(items, settings, body, tried):
            if "llm" in tried:
                return None  # one LLM proposal per parent; a second from the same signals would repeat it
            parent_id = report.decision.best_trial or session.current.trial_id
            parent = library.get(REFINED, session.trial(parent_id).prompt_version)
            return llm_tasks.refine_script_writer(
                calls, library.get("refiner"), parent,
                losses=refine.mean_losses(items),
                missed_concepts=sorted({c for i in items for c in i.details.concepts_missed}),
                suggestions=[s for i in items for s in i.details.suggestions][:20],
            )  # fmt: skip
    else:
        refiner = offline_refiner(profile, training)
    entry = next_trial(store, training.library(store), session, report, refiner)
    return session, entry, report


trial_job = dg.define_asset_job(
    TRIAL_JOB_NAME,
    selection=dg.AssetSelection.assets(trial_results),
    description="One trial item (script, speech, losses) for one training pair.",
)
summary_job = dg.define_asset_job(
    SUMMARY_JOB_NAME,
    selection=dg.AssetSelection.assets(training_summary),
    description="Summarise the trials so far and decide whether training has converged.",
)


@dg.sensor(job=summary_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def trial_complete_sensor(context: dg.SensorEvaluationContext, artifacts: ArtifactStoreResource):
    """Once every pair of the current trial is scored or failed, summarise it (once per trial)."""
    store = artifacts.open()
    session = load_session(store)
    if session is None or session.stopped:
        return dg.SkipReason("no training session in progress")
    trial_id = session.current.trial_id
    if not trial_complete(store, session, trial_id):
        return dg.SkipReason(f"trial {trial_id} is still running")
    return dg.RunRequest(
        run_key=f"{session.session_id}:{trial_id}:summary", tags={SESSION_TAG: session.session_id, TRIAL_TAG: trial_id}
    )


@dg.asset_sensor(
    asset_key=dg.AssetKey("training_summary"), jobs=[trial_job, visuals_job], default_status=dg.DefaultSensorStatus.RUNNING
)
def refinement_sensor(
    context: dg.SensorEvaluationContext,
    asset_event: dg.EventLogEntry,
    artifacts: ArtifactStoreResource,
    training: TrainingResource,
    llm: LLMResource,
):
    """After a summary: stop if converged (and say why) and align every pair's visuals to the best trial's
    podcast, else make the next prompt version and request the next trial for every pair of the session, in
    one tick."""
    store = artifacts.open()
    session = load_session(store)
    if session is None or session.stopped:
        return dg.SkipReason("no training session in progress")
    if not trial_complete(store, session, session.current.trial_id):
        return dg.SkipReason(f"trial {session.current.trial_id} is not complete yet")
    session, entry, report = advance(store, training, llm)
    context.log.info(f"decision: {report.decision.reason}")
    if entry is None:
        context.log.info(f"training stopped: {session.stopped}; aligning visuals to the best trial's podcasts")
        return [
            dg.RunRequest(
                run_key=f"{session.session_id}:visuals:{pair_id}",
                job_name=VISUALS_JOB_NAME,
                partition_key=pair_id,
                tags={SESSION_TAG: session.session_id},
            )
            for pair_id in session.split
        ]
    context.log.info(f"next trial {entry.trial_id}: script_writer v{entry.prompt_version}: {entry.reason}")
    return [
        dg.RunRequest(
            run_key=f"{session.session_id}:{entry.trial_id}:{pair_id}",
            job_name=TRIAL_JOB_NAME,
            partition_key=pair_id,
            run_config={"ops": {"trial_results": {"config": {"trial_id": entry.trial_id}}}},
            tags={SESSION_TAG: session.session_id, TRIAL_TAG: entry.trial_id},
        )
        for pair_id in session.split
    ]

