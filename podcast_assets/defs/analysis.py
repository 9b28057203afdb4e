"""Analysis stage: typed, paper-aligned segments per pair, their structure and style profiles, and the
aggregated profile learned across all pairs."""

from datetime import datetime, timezone
from pathlib import Path

import dagster as dg

from podcast_assets.core.analysis.aggregate import aggregated_markdown
from podcast_assets.core.analysis.alignment import analyse_and_type
from podcast_assets.core.analysis.llm_typer import llm_typer
from podcast_assets.core.analysis.local_typer import LOCAL_TYPER
from podcast_assets.core.analysis.models import AlignedSegments
from podcast_assets.core.analysis.pair_check import RULE as MATCH_RULE
from podcast_assets.core.analysis.profile_store import learn_or_reuse, version_path
from podcast_assets.core.analysis.profiles import (
    profile_markdown,
    structure_profile,
    style_profile,
    timeline_png,
)
from podcast_assets.core.analysis.selection import select_from_store
from podcast_assets.core.errors import PairError
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
from podcast_assets.defs.pair_state import MANIFEST_TAG, aggregate_snapshot
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
    code_version=f"{LOCAL_TYPER}+{MATCH_RULE}+{SEGMENT_TYPING.ref}",
    kinds={"python"},
    pool="llm",
    retry_policy=dg.RetryPolicy(max_retries=2, delay=20, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS),
    check_specs=[
        dg.AssetCheckSpec(
            MATCH_CHECK,
            asset="aligned_segments",
            blocking=True,
            description="The podcast discusses this paper (its key concepts and paragraphs, judged from the pair "
            "alone). A failure stops the pair's profiles: a mismatched pair never trains anything.",
        )
    ],
)
def aligned_segments(
    context: dg.AssetExecutionContext,
    pairs: PairsResource,
    artifacts: ArtifactStoreResource,
    llm: LLMResource,
):
    """The podcast cut into paragraph-level segments (10-60 s), each typed (intro, background, problem,
    methodology, key_finding, figure, implication, limitation, conclusion, tangent, transition) and linked
    to the paper atoms, figures and concepts it discusses, with the verdict on whether the podcast is about
    this paper. Typed by the LLM when one is configured and the podcast matches the paper, else by the
    embedded local analyser."""
    pair_id = context.partition_key
    store = artifacts.open()
    with user_errors_fail_the_partition():
        files = pairs.files(pair_id)
        folder, manifest = files.folder, files.manifest_hash()
        graph = store.read_model(document_graph_path(pair_id), DocumentGraph)
        transcription = store.read_model(transcription_path(pair_id), TranscriptionResult)
        typer = llm_typer(llm.complete_json, SEGMENT_TYPING) if llm.enabled else None
        try:
            result = analyse_and_type(pair_id, transcription, graph, llm_typer=typer)
        finally:
            usage = UsageTotals.of(typer.records if typer else [])
            if typer:
                context.log.info(f"{pair_id}: LLM usage {usage.as_metadata()}")
        rel = store.write_model(aligned_segments_path(pair_id), result)
    verdict = result.match
    counts = {t: sum(s.type == t for s in result.segments) for t in dict.fromkeys(s.type for s in result.segments)}
    yield dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(store.path(rel))),
            MANIFEST_TAG: manifest,
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
                metadata=verdict.figures,
            )
        ],
    )
    if not verdict.passed:
        with user_errors_fail_the_partition():
            raise PairError(
                verdict.description + (" (no LLM call was made)" if llm.enabled else ""),
                path=folder,
                fix="put the podcast that explains this paper (or the paper this podcast explains) in the pair folder",
            )


@dg.asset(partitions_def=training_pairs, group_name="analysis", deps=[aligned_segments])
def structure_profiles(
    context: dg.AssetExecutionContext, pairs: PairsResource, artifacts: ArtifactStoreResource
) -> dg.MaterializeResult:
    """How the podcast is built: its segment sequence, time per type, pace, concepts per minute, figures."""
    pair_id = context.partition_key
    store = artifacts.open()
    with user_errors_fail_the_partition():
        manifest = pairs.files(pair_id).manifest_hash()
        segments = store.read_model(aligned_segments_path(pair_id), AlignedSegments)
        transcription = store.read_model(transcription_path(pair_id), TranscriptionResult)
        profile = structure_profile(segments, transcription)
        rel = store.write_model(structure_profile_path(pair_id), profile)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(store.path(rel))),
            MANIFEST_TAG: manifest,
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
        files = pairs.files(pair_id)
        manifest, meta = files.manifest_hash(), files.load_meta()
        segments = store.read_model(aligned_segments_path(pair_id), AlignedSegments)
        transcription = store.read_model(transcription_path(pair_id), TranscriptionResult)
        profile = style_profile(segments, transcription, speaker_gender=meta.speaker_gender, speakers=meta.speakers)
        rel = store.write_model(style_profile_path(pair_id), profile)
    # recomputed (cheap) for the preview table: structure_profiles may be running beside this step
    structure = structure_profile(segments, transcription)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(store.path(rel))),
            MANIFEST_TAG: manifest,
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
    """One learned template across the pairs whose latest run succeeded and whose podcast matches its paper:
    canonical segment order (by sequence alignment), duration targets per type and depth, pace and
    concept-rate ranges, style variants and universal phrases. Every other registered pair is named with
    the reason it was left out. Every version is kept (profiles/aggregated_vN.json); profiles/current.json
    is always the version this asset last reported."""
    store = artifacts.open()
    snapshot = aggregate_snapshot(context.instance)
    selection = select_from_store(snapshot.standings, store)
    for pair_id, reason in selection.left_out.items():
        context.log.warning(f"{pair_id} left out: {reason}")
    if not selection.used:
        raise dg.Failure(
            description="no pair can be aggregated: "
            + ("; ".join(f"{p}: {r}" for p, r in selection.left_out.items()) or "no pair is registered"),
            allow_retries=False,
        )
    with user_errors_fail_the_partition():
        profile, reused = learn_or_reuse(
            store,
            selection,
            depths=profile_settings.targets(),
            created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
    context.log.info(f"{'reused' if reused else 'saved'} aggregated profile v{profile.version}; it is current")
    return dg.MaterializeResult(
        metadata={
            "version": profile.version,
            "new_version": not reused,
            "pairs_used": dg.MetadataValue.json(profile.pairs_used),
            "pairs_left_out": dg.MetadataValue.json(profile.pairs_left_out),
            "inputs_fingerprint": snapshot.fingerprint,
            "canonical_sequence": " → ".join(profile.canonical_sequence),
            "profile": dg.MetadataValue.md(aggregated_markdown(profile)),
            "path": dg.MetadataValue.path(str(store.path(version_path(profile.version)))),
        }
    )
