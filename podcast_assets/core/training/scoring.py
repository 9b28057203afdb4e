"""One generated podcast scored against its pair's reference: the five losses, their total and what they saw.

The judgements are optional: a coverage or quality judgement given (the LLM judges') is used as it is;
without one the offline matching and rubric of rubric.py decide. Either way the method is recorded in the
details, so a report never passes a rubric off as a judge.
"""

from __future__ import annotations

from collections.abc import Sequence

from podcast_assets.core import embedding
from podcast_assets.core.analysis.aggregate import compress_runs
from podcast_assets.core.analysis.models import AlignedSegments, StyleVariant
from podcast_assets.core.config import LossWeights
from podcast_assets.core.errors import TrainingError
from podcast_assets.core.ingest.models import DocumentGraph, TranscriptionResult
from podcast_assets.core.text import fold, spoken_words
from podcast_assets.core.training import similarity
from podcast_assets.core.training.losses import (
    coverage_loss,
    duration_loss,
    quality_loss,
    rouge_loss,
    semantic_loss,
    structure_loss,
    total_loss,
)
from podcast_assets.core.training.models import CoverageJudgement, LossDetails, Losses, QualityJudgement
from podcast_assets.core.training.rubric import match_concepts, quality_rubric

SCORING = "seed-losses-v1+explained-v2+rubric-v1+spoken-rouge-v2+" + embedding.MODEL
"""Version of the scoring code (losses, concept matching, rubric). Cached trial items are keyed by it: change
it whenever a formula, a threshold or what a loss reads changes, so no stale score is served."""


def _time_by_type(segments: AlignedSegments) -> dict[str, float]:
    seconds: dict[str, float] = {}
    for s in segments.segments:
        seconds[s.type] = seconds.get(s.type, 0.0) + s.duration
    return seconds


def _types(segments: AlignedSegments) -> list[str]:
    return [s.type for s in sorted(segments.segments, key=lambda s: (s.start, s.end))]


def top_concepts(graph: DocumentGraph, count: int) -> list[str]:
    """The paper's top `count` key concept phrases (distinct, in the paper's order of importance)."""
    if count < 1:
        raise ValueError(f"key concept count must be at least 1, got {count}")
    return list(dict.fromkeys(k.phrase for k in graph.key_concepts))[:count]


def judged_coverage(judgement: CoverageJudgement, concepts: Sequence[str]) -> tuple[list[str], list[str]]:
    """(covered, missed) by the judge: level 1 (named) or more covers. Concepts the judge left out are missed;
    concepts are matched to its keys case-insensitively, and keys that were never asked are ignored."""
    levels = {fold(k): v for k, v in judgement.levels.items()}
    covered = [c for c in concepts if levels.get(fold(c), 0) >= 1]
    return covered, [c for c in concepts if c not in covered]


def score(
    *,
    script_text: str,
    writer_types: Sequence[str],
    spoken: TranscriptionResult,
    spoken_segments: AlignedSegments,
    spoken_seconds: float,
    reference_seconds: float,
    reference_segments: AlignedSegments,
    reference_text: str,
    graph: DocumentGraph,
    style: StyleVariant,
    weights: LossWeights,
    key_concepts: int,
    coverage: CoverageJudgement | None = None,
    quality: QualityJudgement | None = None,
) -> tuple[Losses, LossDetails]:
    """Score a generated podcast against its pair's reference.

    - script_text, writer_types: what the writer wrote and the segment type it gave each segment (types are
      reported only: a writer's own labels would grade themselves).
    - spoken: the round-trip transcript of the generated audio; spoken_segments: the project's analyser on it
      against this paper, as the reference was analysed (the generated types, and the podcast as heard for
      the rubric); spoken_seconds: the audio length measured from the written file.
    - reference_seconds, reference_segments, reference_text: the reference podcast's measured length, its
      analyser segments and the text ROUGE compares with.
    - graph: the paper; style: the learned style variant; key_concepts: how many of the paper's key
      concepts the depth asks for.
    - coverage, quality: the LLM judges' answers, when they were asked; else the offline matching and rubric.
    """
    concepts = top_concepts(graph, key_concepts)
    if not concepts:
        raise TrainingError(
            "the paper has no key concepts, so concept coverage cannot be scored",
            fix="check the paper's document graph (a scanned PDF or one with almost no body text has none); "
            "replace the PDF with one that has a text layer",
        )
    if coverage is not None:
        covered, missed = judged_coverage(coverage, concepts)
        named_only = []
        coverage_method = "llm-judge"
    else:
        match = match_concepts(script_text, concepts, graph)
        covered, missed, named_only = match.covered, match.missed, match.named_only
        coverage_method = "match"
    if quality is None:
        quality = quality_rubric(
            script_text=script_text,
            spoken=spoken,
            spoken_segments=spoken_segments,
            graph=graph,
            style=style,
            reference_segments=reference_segments,
        )
    structure = structure_loss(
        _types(reference_segments),
        _types(spoken_segments),
        _time_by_type(reference_segments),
        _time_by_type(spoken_segments),
    )
    said, heard = spoken_words(script_text), spoken_words(reference_text)
    rouge = rouge_loss(said, heard)
    semantic = similarity.semantic_similarity(said, heard, spoken_segments, reference_segments)
    parts = {
        "duration": duration_loss(spoken_seconds, reference_seconds),
        "coverage": coverage_loss(covered, concepts),
        "structure": structure.loss,
        "quality": quality_loss(quality.engagement, quality.clarity, quality.accuracy),
        "rouge": rouge.loss,
        "semantic": semantic_loss(semantic.similarity),
    }
    losses = Losses(**parts, total=total_loss(parts, weights))
    details = LossDetails(
        generated_seconds=spoken_seconds,
        reference_seconds=reference_seconds,
        concepts_covered=covered,
        concepts_missed=missed,
        concepts_named_only=named_only,
        coverage_method=coverage_method,
        reference_types=structure.reference_runs,
        generated_types=structure.generated_runs,
        writer_types=compress_runs(list(writer_types)),
        sequence_similarity=structure.sequence_similarity,
        distribution_similarity=structure.distribution_similarity,
        quality_method=quality.method,
        engagement=quality.engagement,
        clarity=quality.clarity,
        accuracy=quality.accuracy,
        quality_notes=quality.notes,
        suggestions=quality.suggestions,
        rouge_1=rouge.rouge_1,
        rouge_2=rouge.rouge_2,
        rouge_l=rouge.rouge_l,
        semantic_similarity=semantic.similarity,
        semantic_by_type=semantic.by_type,
    )
    return losses, details
