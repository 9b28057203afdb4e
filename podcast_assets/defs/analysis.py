"""Analysis stage: typed, paper-aligned segments per pair, their structure and style profiles, and the
aggregated profile learned across all pairs."""

from datetime import datetime, timezone
from pathlib import Path

import dagster as dg

from podcast_assets.core.analysis.aggregate import (
    aggregated_markdown,
    learn_aggregated_profile,
    source_fingerprint,
)
from podcast_assets.core.analysis.alignment import analyse_pair
from podcast_assets.core.analysis.llm_typer import llm_typer
from podcast_assets.core.analysis.local_typer import LOCAL_TYPER
from podcast_assets.core.analysis.models import AlignedSegments, StructureProfile, StyleProfile
from podcast_assets.core.analysis.pair_check import podcast_matches_paper
from podcast_assets.core.analysis.profile_store import latest_matching, next_version, save_aggregated
from podcast_assets.core.analysis.profiles import (
    profile_markdown,
    structure_profile,
    style_profile,
    timeline_png,
)
from podcast_assets.core.ingest.models import DocumentGraph, TranscriptionResult
from podcast_assets.core.llm import UsageTotals, load_prompt
from podcast_assets.core.previews import png_markdown
from podcast_assets.core.storage import pair_record_path
from podcast_assets.defs.failures import user_errors_fail_the_partition
from podcast_assets.defs.ingest import (
    document_graph_path,
    document_graphs,
    transcription_path,
    transcriptions,
)
from podcast_assets.defs.partitions import training_pairs
from podcast_assets.resources.llm import LLMResource
from podcast_assets.resources.pairs import PairsResource
from podcast_assets.resources.profiles import ProfileSettingsResource
from podcast_assets.resources.storage import ArtifactStoreResource

PROMPTS_DIR = Path(__file__).resolve().parents[2] / "prompts"
SEGMENT_TYPING = load_prompt(PROMPTS_DIR, "segment_typing")
MATCH_CHECK = "podcast_matches_paper"


def aligned_segments_path(pair_id: str) -> str:
    return pair_record_path(pair_id, "aligned_segments")


def structure_profile_path(pair_id: str) -> str:
    return pair_record_path(pair_id, "structure_profile")


def style_profile_path(pair_id: str) -> str:
    return pair_record_path(pair_id, "style_profile")


def _timeline_md(segments: AlignedSegments, duration: float) -> dg.MetadataValue:
    return dg.MetadataValue.md(
        png_markdown("**Segment types over the audio**", timeline_png(segments, duration), alt="timeline")
    )


@dg.asset(
    partitions_def=training_pairs,
    group_name="analysis",
    deps=[document_graphs, transcriptions],
    code_version=f"{LOCAL_TYPER}+{SEGMENT_TYPING.ref}",
    kinds={"python"},
    pool="llm",
    retry_policy=dg.RetryPolicy(max_retries=2, delay=20, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS),
    check_specs=[
        dg.AssetCheckSpec(
            MATCH_CHECK,
            asset="aligned_segments",
            description="The podcast discusses this paper: its alignment to the paper is not far below the other pairs'.",
        )
    ],
)
def aligned_segments(
    context: dg.AssetExecutionContext,
    artifacts: ArtifactStoreResource,
    llm: LLMResource,
):
    """The podcast cut into paragraph-level segments (10-60 s), each typed (intro, background, problem,
    methodology, key_finding, figure, implication, limitation, conclusion, tangent, transition) and linked
    to the paper atoms, figures and concepts it discusses. Typed by the LLM when one is configured,
    else by the embedded local analyser."""
    pair_id = context.partition_key
    store = artifacts.open()
    with user_errors_fail_the_partition():
        graph = store.read_model(document_graph_path(pair_id), DocumentGraph)
        transcription = store.read_model(transcription_path(pair_id), TranscriptionResult)
        others = [
            store.read_model(aligned_segments_path(other), AlignedSegments)
            for other in context.instance.get_dynamic_partitions(training_pairs.name)
            if other != pair_id and store.exists(aligned_segments_path(other))
        ]
        # the local analysis decides whether the podcast is about this paper before any paid LLM call
        result = analyse_pair(pair_id, transcription, graph)
        verdict = podcast_matches_paper(result, others)
        typer = llm_typer(llm.complete_json, SEGMENT_TYPING) if llm.enabled and verdict.passed else None
        try:
            if typer is not None:
                result = analyse_pair(pair_id, transcription, graph, typer=typer)
        finally:
            usage = UsageTotals.of(typer.records if typer else [])
            if typer:
                context.log.info(f"{pair_id}: LLM usage {usage.as_metadata()}")
        rel = store.write_model(aligned_segments_path(pair_id), result)
    if not verdict.passed:
        context.log.warning(f"{pair_id}: {verdict.description}" + (" (not sent to the LLM)" if llm.enabled else ""))
    counts = {t: sum(s.type == t for s in result.segments) for t in dict.fromkeys(s.type for s in result.segments)}
    yield dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(store.path(rel))),
            "classifier": result.classifier,
            "segments": len(result.segments),
            "segment_types": dg.MetadataValue.json(counts),
            "mean_alignment": round(result.mean_alignment, 3),
            "concept_coverage": round(result.concept_coverage, 3),
            "podcast_matches_paper": verdict.passed,
            "timeline": _timeline_md(result, transcription.duration),
            **usage.as_metadata(),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=MATCH_CHECK,
                passed=verdict.passed,
                severity=dg.AssetCheckSeverity.ERROR,
                description=verdict.description,
                metadata=verdict.metadata,
            )
        ],
    )


@dg.asset(partitions_def=training_pairs, group_name="analysis", deps=[aligned_segments])
def structure_profiles(context: dg.AssetExecutionContext, artifacts: ArtifactStoreResource) -> dg.MaterializeResult:
    """How the podcast is built: its segment sequence, time per type, pace, concepts per minute, figures."""
    pair_id = context.partition_key
    store = artifacts.open()
    with user_errors_fail_the_partition():
        segments = store.read_model(aligned_segments_path(pair_id), AlignedSegments)
        transcription = store.read_model(transcription_path(pair_id), TranscriptionResult)
        profile = structure_profile(segments, transcription)
        rel = store.write_model(structure_profile_path(pair_id), profile)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(store.path(rel))),
            "segments": profile.segment_count,
            "sequence": " → ".join(profile.segment_sequence),
            "words_per_minute": round(profile.words_per_minute, 1),
            "concepts_per_minute": round(profile.concepts_per_minute, 2),
            "figures_discussed": len(profile.figures_discussed),
            "timeline": _timeline_md(segments, transcription.duration),
        }
    )


@dg.asset(partitions_def=training_pairs, group_name="analysis", deps=[aligned_segments])
def style_profiles(
    context: dg.AssetExecutionContext, pairs: PairsResource, artifacts: ArtifactStoreResource
) -> dg.MaterializeResult:
    """How the podcast talks: sentence length, vocabulary, jargon, questions, analogies, enthusiasm,
    definitions, examples, and its intro / transition / emphasis / conclusion phrases."""
    pair_id = context.partition_key
    store = artifacts.open()
    with user_errors_fail_the_partition():
        meta = pairs.files(pair_id).load_meta()
        segments = store.read_model(aligned_segments_path(pair_id), AlignedSegments)
        transcription = store.read_model(transcription_path(pair_id), TranscriptionResult)
        profile = style_profile(segments, transcription, speaker_gender=meta.speaker_gender, speakers=meta.speakers)
        rel = store.write_model(style_profile_path(pair_id), profile)
    # recomputed (cheap) for the preview table: structure_profiles may be running beside this step
    structure = structure_profile(segments, transcription)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(store.path(rel))),
            "questions_per_minute": round(profile.questions_per_minute, 2),
            "jargon_density": round(profile.jargon_density, 2),
            "mean_sentence_length": round(profile.mean_sentence_length, 1),
            "profile": dg.MetadataValue.md(profile_markdown(structure, profile)),
        }
    )


@dg.asset(group_name="analysis", deps=[structure_profiles, style_profiles])
def aggregated_profile(
    context: dg.AssetExecutionContext, artifacts: ArtifactStoreResource, profile_settings: ProfileSettingsResource
) -> dg.MaterializeResult:
    """One learned template across all pairs: canonical segment order (by sequence alignment), duration
    targets per type and depth, pace and concept-rate ranges, style variants and universal phrases.
    Every version is kept (profiles/aggregated_vN.json); profiles/current.json names the newest."""
    store = artifacts.open()
    pair_ids = sorted(context.instance.get_dynamic_partitions(training_pairs.name))
    ready = [p for p in pair_ids if store.exists(structure_profile_path(p)) and store.exists(style_profile_path(p))]
    missing = sorted(set(pair_ids) - set(ready))
    if missing:
        context.log.warning(f"aggregating without pairs that have no profiles yet: {', '.join(missing)}")
    if not ready:
        raise dg.Failure(
            description="no pair has structure and style profiles yet; materialize the per-pair assets first",
            allow_retries=False,
        )
    with user_errors_fail_the_partition():
        structures = [store.read_model(structure_profile_path(p), StructureProfile) for p in ready]
        styles = [store.read_model(style_profile_path(p), StyleProfile) for p in ready]
        fingerprint = source_fingerprint(structures, styles, profile_settings.depth_targets)
        profile = latest_matching(store, fingerprint)
        reused = profile is not None
        if profile is None:
            profile = learn_aggregated_profile(
                structures,
                styles,
                depth_targets=profile_settings.depth_targets,
                version=next_version(store),
                created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            )
            rel = save_aggregated(store, profile)
            context.log.info(f"saved aggregated profile v{profile.version} at {store.path(rel)}")
    return dg.MaterializeResult(
        metadata={
            "version": profile.version,
            "new_version": not reused,
            "pairs_used": dg.MetadataValue.json(profile.pairs_used),
            "pairs_missing": dg.MetadataValue.json(missing),
            "canonical_sequence": " → ".join(profile.canonical_sequence),
            "profile": dg.MetadataValue.md(aggregated_markdown(profile)),
            "path": dg.MetadataValue.path(str(store.path("profiles/current.json"))),
        }
    )
