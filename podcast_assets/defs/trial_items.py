"""A trial item: one pair written by one prompt version, spoken, heard back and scored against its human
reference, with the resources (ASR, TTS, LLM); cached by the hash of everything it depends on, so a finished
item is never computed again. Used by the `trial_results` asset and by `podcast-assets evaluate` / `generate`."""

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from podcast_assets.core.analysis.alignment import analyse_and_type
from podcast_assets.core.analysis.llm_typer import llm_typer
from podcast_assets.core.analysis.models import AggregatedProfile, AlignedSegments
from podcast_assets.core.errors import TrainingError
from podcast_assets.core.ingest.models import DocumentGraph, TranscriptionResult
from podcast_assets.core.llm import CallRecord, LLMError
from podcast_assets.core.storage import LocalArtifactStore, cache_key
from podcast_assets.core.training import llm_tasks, scoring, writer
from podcast_assets.core.training.models import Script, ScriptChecks, TrialItem
from podcast_assets.core.training.prompts import PromptLibrary, PromptVersion
from podcast_assets.core.training.script_checks import check_script, rejected
from podcast_assets.core.training.session import (
    ITEM_CACHE,
    cached_item,
)
from podcast_assets.core.training.trial import Services, SpeechChecks, Spoken, run_item
from podcast_assets.defs.analysis import (
    SEGMENT_TYPING,
    aligned_segments_path,
)
from podcast_assets.defs.ingest import document_graph_path, transcription_path
from podcast_assets.resources.asr import ASRResource
from podcast_assets.resources.llm import LLMResource
from podcast_assets.resources.training import TrainingResource
from podcast_assets.resources.tts import TTSResource

ITEM_FORMAT = "trial-item-v1"


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
        result = trainer.tts.speak([(s.speaker, s.text) for s in script.segments], audio, speakers=script.speakers,
                                   chapters=[s.type.replace("_", " ") for s in script.segments])
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
        if hit.checks is None:  # an item cached before the checks: checked once from its stored script, kept so
            checks = script_checks(store.read_model(hit.script_path, Script), graph, profile, key_concepts)
            hit = hit.model_copy(update={"checks": checks})
            store.cache_model(ITEM_CACHE, key, hit)
        return hit.model_copy(update={"trial_id": trial_id}), True

    style = profile.style_variants["all"]
    calls = llm_tasks.LLMCalls(complete_json=ledgered(llm, on_call), spent_usd=spent_usd) if llm.enabled else None
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
    checks = script_checks(outcome.script, graph, profile, key_concepts)
    if log:
        log(f"{pair_id}: script checks: {checks.summary()}")
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
        checks=checks,
    )
    store.cache_model(ITEM_CACHE, key, item)
    return item, False


def script_checks(script: Script, graph: DocumentGraph, profile: AggregatedProfile, key_concepts: int) -> ScriptChecks:
    """The script's nonsense checks against its paper, the key concepts its depth asks for and the phrases the
    filter rejects among the profile's."""
    return check_script(script, graph, concepts=scoring.top_concepts(graph, key_concepts),
                        reject=rejected(profile, graph))  # fmt: skip


def ledgered(llm: LLMResource, on_call: Callable[[CallRecord], None] | None):
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
    counted = ledgered(llm, on_call)

    def complete(**kwargs):
        reply, record = counted(**kwargs, spent_usd=calls.total_usd)
        calls.records.append(record)
        return reply, record

    return complete
