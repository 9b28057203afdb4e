"""Training stage: one trial item per pair (`trial_results`), the summary across pairs and trials
(`training_summary`), and the sensors that close the loop (a complete trial is summarised; a summary that
has not converged makes the next prompt version and requests the next trial for every pair)."""


import tempfile
from pathlib import Path

import dagster as dg
from pydantic import Field

from podcast_assets.core.analysis.models import AggregatedProfile
from podcast_assets.core.analysis.profile_store import load_current
from podcast_assets.core.errors import PodcastAssetsError, TrainingError
from podcast_assets.core.previews import png_markdown
from podcast_assets.core.storage import LocalArtifactStore
from podcast_assets.core.tracking import session_key, session_runs
from podcast_assets.core.training import llm_tasks, refine, scoring, search, writer
from podcast_assets.core.training.models import Script, TrainingSession, TrialItem
from podcast_assets.core.training.prompts import REFINED, PromptLibrary
from podcast_assets.core.training.session import (
    kept_trial,
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
from podcast_assets.defs.analysis import (
    aggregated_profile,
)
from podcast_assets.defs.failures import user_errors_fail_the_partition
from podcast_assets.defs.jobs import VISUALS_JOB_NAME, visuals_job
from podcast_assets.defs.partitions import training_pairs
from podcast_assets.defs.trial_items import ITEM_FORMAT, PairRecords, Trainer, ledgered, score_item
from podcast_assets.resources.asr import ASRResource
from podcast_assets.resources.llm import LLMResource
from podcast_assets.resources.storage import ArtifactStoreResource
from podcast_assets.resources.tracking import TrackingResource
from podcast_assets.resources.training import TrainingResource
from podcast_assets.resources.tts import TTSResource

TRIAL_JOB_NAME = "training_trial"
SUMMARY_JOB_NAME = "training_summary_job"
TRIAL_TAG = "podcast_assets/trial"
SESSION_TAG = "podcast_assets/session"


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


def ensure_session(
    store: LocalArtifactStore, training: TrainingResource, session_id: str | None = None, *, new: bool = False
) -> TrainingSession:
    """The session `session_id`; without one, the current session, or (none yet, or `new`) a new current one over
    the pairs the current aggregated profile used. A new session after another starts from the version that
    session kept (not from the newest version, which its selection may have rejected)."""
    session = None if new else load_session(store, session_id)
    if session is not None:
        return session
    profile = current_profile(store)
    settings = training.settings()
    split = split_pairs(profile.pairs_used, validation_share=settings.validation_share, seed=settings.split_seed,
                        validation_pairs=settings.validation_pairs)  # fmt: skip
    previous = load_session(store) if new else None  # without `new`, no session is current
    kept = kept_trial(store, previous, training.convergence_settings()) if previous else None
    return start_session(store, training.library(store), profile, split, target_depth=settings.target_depth,
                         first_version=kept.prompt_version if kept else None, make_current=new,
                         reason=f"kept by session {previous.session_id} ({kept.trial_id})" if kept else None)  # fmt: skip


def run_session_id(context: dg.AssetExecutionContext) -> str | None:
    """The session a run was launched for (its SESSION_TAG: `podcast-assets train` and the sensors set it)."""
    return context.run.tags.get(SESSION_TAG) or None


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
        session = ensure_session(store, training, run_session_id(context))
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
    context: dg.AssetExecutionContext,
    artifacts: ArtifactStoreResource,
    training: TrainingResource,
    tracking: TrackingResource,
) -> dg.MaterializeResult:
    """Train and validation loss per trial, the best trial and the convergence decision with its reason,
    the loss curves and the trials x pairs x losses table (Parquet, for notebooks); the session and its trials are
    logged to MLflow (a run per trial under the session's run)."""
    store = artifacts.open()
    with user_errors_fail_the_partition():
        session = load_session(store, run_session_id(context))
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
    logged = tracking.log(
        session_runs(session, report, items, {"loss_curve.png": png, "report.md": markdown.encode()}), context.log.info
    )
    if logged.error:
        context.log.warning(f"MLflow tracking at {tracking.uri} failed: {logged.error}; the summary is stored all the same")
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
        "mlflow": tracking.where(logged),
    }
    if (run_id := logged.run_ids.get(session_key(session.session_id))) is not None:
        metadata["mlflow_run_id"] = run_id
    if latest is not None:
        metadata["trial_id"] = latest.trial_id
        if latest.train_loss is not None:
            metadata["train_loss"] = latest.train_loss
        if latest.validation_loss is not None:
            metadata["validation_loss"] = latest.validation_loss
        for name, value in latest.losses.items():
            metadata[f"mean_{name}"] = value
        if latest.loss is not None:
            metadata["total_loss_low"], metadata["total_loss_high"] = latest.loss.low, latest.loss.high
    if report.cross_validated is not None:
        cv = report.cross_validated
        metadata["cv_loss"], metadata["cv_loss_low"], metadata["cv_loss_high"] = cv.loss.mean, cv.loss.low, cv.loss.high
        metadata["cv_gain_over_first"] = str(cv.over_first)
    if store.exists(f"{session_dir(session)}/optuna.journal"):
        metadata["optuna_study"] = dg.MetadataValue.path(str(store.path(f"{session_dir(session)}/optuna.journal")))
    return dg.MaterializeResult(metadata=metadata)


def offline_refiner(profile: AggregatedProfile, training: TrainingResource):
    style = profile.style_variants["all"]
    weights = training.weights()
    learned = bool(profile.universal_phrases.get("transition"))
    return lambda items, settings, body, tried: refine.propose(
        items, settings, body, tried, style=style, weights=weights, transition_phrases=learned
    )


def optuna_refiner(
    store: LocalArtifactStore, library: PromptLibrary, session: TrainingSession, items: list[TrialItem]
):
    """Optuna's proposal from every trial of the session scored so far (core/training/search.py); the study is
    written beside the trials as optuna.journal (`optuna-dashboard <that file>` shows it)."""
    history = search.points(
        items, {e.trial_id: library.get(REFINED, e.prompt_version).settings for e in session.trials}
    )
    attempts = iter(range(search.MAX_ATTEMPTS))

    def refiner(parent_items, settings, body, tried):
        attempt = next(attempts, None)
        if attempt is None:
            return None
        proposal, journal = search.propose(history, settings, body, session_id=session.session_id, attempt=attempt)
        store.write_bytes(f"{session_dir(session)}/optuna.journal", journal)
        return proposal

    return refiner


def advance(store: LocalArtifactStore, training: TrainingResource, llm: LLMResource, session_id: str | None = None):
    """Decide from the stored report of the session (`session_id`, else the current one) and, unless converged,
    add the next trial. Returns (session, new entry, report)."""
    session = load_session(store, session_id)
    if session is None:
        raise TrainingError("no training session yet", fix="run podcast-assets train")
    items = session_items(store, session)
    report = build_report(session, items, session_failures(store, session), training.convergence_settings())
    profile = current_profile(store)
    if llm.enabled:
        library = training.library(store)
        calls = llm_tasks.LLMCalls(
            complete_json=ledgered(llm, lambda record: record_spend(store, session, record)),
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
    elif training.settings().search == "optuna":
        refiner = optuna_refiner(store, training.library(store), session, items)
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
    summarised = context.instance.get_run_by_id(asset_event.run_id) if asset_event.run_id else None
    session = load_session(store, summarised.tags.get(SESSION_TAG) if summarised else None)
    if session is None or session.stopped:
        return dg.SkipReason("no training session in progress")
    if not trial_complete(store, session, session.current.trial_id):
        return dg.SkipReason(f"trial {session.current.trial_id} is not complete yet")
    session, entry, report = advance(store, training, llm, session.session_id)
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

