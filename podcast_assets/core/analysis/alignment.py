"""Podcast <-> paper alignment: paragraph segments aligned to paper atoms, described, and typed.

`analyse_pair` segments a transcription (segmentation.py), aligns every segment to the paper's text atoms
by TF-IDF cosine, extracts what it mentions (key concepts, rare technical terms, figures, analogies,
questions) and types it with a typer: the embedded `local_typer` (local_typer.py) or an LLM (llm_typer.py).
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer
from wordfreq import zipf_frequency

from podcast_assets.core.analysis.evidence import SegmentEvidence, SegmentLabel, Typer
from podcast_assets.core.analysis.local_typer import local_typer
from podcast_assets.core.analysis.models import AlignedSegment, AlignedSegments
from podcast_assets.core.analysis.pair_check import paper_span, podcast_matches_paper
from podcast_assets.core.analysis.segmentation import Paragraph, segment_transcript
from podcast_assets.core.ingest.models import DocumentGraph, TranscriptionResult
from podcast_assets.core.text import (
    ORDINALS,
    SPOKEN_STOPWORDS,
    STOPWORDS,
    figure_numbers,
    figure_ordinals,
    find_analogies,
    find_questions,
    singular,
)

MIN_ATOM_WORDS = 8
"""Shorter atoms (stray headings, page furniture) are not alignment targets."""
PRIMARY_RELATIVE = 0.6
"""An atom is primary when its cosine is at least this share of the segment's best ..."""
PRIMARY_FLOOR = 0.05
"""... and at least this absolute cosine."""
PRIMARY_MAX = 5
CAPTION_SIMILARITY = 0.25
"""Cosine to a figure caption above which a segment counts as discussing the figure."""
TERM_ZIPF = 3.0
"""Words rarer than this in general English (wordfreq zipf) that the paper also uses are technical terms."""
COVERAGE_CONCEPTS = 15
"""Concept coverage is measured over the paper's top key concepts, this many."""

_ALL_STOPWORDS = STOPWORDS | ENGLISH_STOP_WORDS | SPOKEN_STOPWORDS
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9'\-]*[A-Za-z0-9]|[A-Za-z]")


def _terms(text: str) -> list[str]:
    """Lowercase, singular content words: the TF-IDF vocabulary."""
    words = (w.lower().strip("'-") for w in _WORD.findall(text))
    return [singular(w) for w in words if len(w) > 2 and w not in _ALL_STOPWORDS and not w.isdigit()]


def concept_pattern(phrase: str) -> re.Pattern[str]:
    """A key concept as spoken: its words with any spacing or hyphens, plural or possessive allowed."""
    words = [re.escape(w) for w in re.split(r"[\s\-]+", phrase.strip()) if w]
    return re.compile(r"\b" + r"[\s\-]*".join(words) + r"(?:s|es|'s)?\b", re.IGNORECASE)


# --------------------------------------------------------------------------- alignment


class _PaperIndex:
    """TF-IDF over the paper's text atoms and the segments together (so a segment's words that the paper
    lacks still weigh in its norm: a podcast about another paper then aligns poorly)."""

    def __init__(self, graph: DocumentGraph, segment_texts: list[str]):
        self.atoms = [
            a for a in graph.atoms if a.kind != "reference" and len(a.text.split()) >= MIN_ATOM_WORDS
        ]
        self.figures = [f for f in graph.figures if f.caption.strip()]
        self.figure_by_number = graph.figure_ids_by_number()
        numbered = sorted(self.figure_by_number)
        self.figure_by_ordinal = {i + 1: self.figure_by_number[n] for i, n in enumerate(numbered[: len(ORDINALS)])}
        body = [a.text for a in graph.atoms if a.kind != "reference"] + [graph.title, graph.abstract]
        self.vocabulary = {t for text in body for t in _terms(text)}
        self.sims = np.zeros((len(segment_texts), len(self.atoms)))
        self.caption_sims = np.zeros((len(segment_texts), len(self.figures)))
        if not self.atoms or not segment_texts:
            return
        vectorizer = TfidfVectorizer(analyzer=_terms, sublinear_tf=True)
        try:
            matrix = vectorizer.fit_transform([a.text for a in self.atoms] + segment_texts)
        except ValueError:  # no usable word at all
            return
        atoms, segments = matrix[: len(self.atoms)], matrix[len(self.atoms) :]
        self.sims = (segments @ atoms.T).toarray()
        if self.figures:
            captions = vectorizer.transform([f.caption for f in self.figures])
            self.caption_sims = (segments @ captions.T).toarray()

    def primary_atoms(self, row: int) -> tuple[tuple[str, float], ...]:
        sims = self.sims[row]
        if not len(sims) or sims.max() <= 0:
            return ()
        cutoff = max(PRIMARY_FLOOR, PRIMARY_RELATIVE * float(sims.max()))
        order = np.argsort(-sims, kind="stable")[:PRIMARY_MAX]
        return tuple((self.atoms[i].id, round(float(sims[i]), 4)) for i in order if sims[i] >= cutoff)

    def best(self, row: int) -> float:
        return float(self.sims[row].max()) if self.sims.shape[1] else 0.0

    def figures_in(self, row: int, text: str) -> tuple[str, ...]:
        found = [self.figure_by_number.get(n) for n in figure_numbers(text)]
        found += [self.figure_by_ordinal.get(n) for n in figure_ordinals(text)]
        found += [
            f.id
            for f, sim in zip(self.figures, self.caption_sims[row], strict=True)
            if sim >= CAPTION_SIMILARITY
        ]
        return tuple(dict.fromkeys(f for f in found if f))

    def technical_terms(self, text: str, exclude: set[str]) -> list[str]:
        """Words rare in general English (or acronyms) that the paper also uses, first surface form kept."""
        terms: dict[str, str] = {}
        for surface in _WORD.findall(text):
            word = surface.strip("'-")
            lower = word.lower()
            key = singular(lower)
            if len(word) < 2 or lower in _ALL_STOPWORDS or lower in exclude or key in terms:
                continue
            acronym = re.fullmatch(r"[A-Z][A-Z0-9\-]*[A-Z0-9]s?", word) is not None
            rare = zipf_frequency(lower, "en") < TERM_ZIPF
            if (acronym or rare) and key in self.vocabulary:
                terms[key] = word
        return list(terms.values())


# --------------------------------------------------------------------------- the pair


def analyse_pair(
    pair_id: str,
    transcription: TranscriptionResult,
    graph: DocumentGraph,
    *,
    typer: Typer | None = None,
    min_s: float = 10.0,
    max_s: float = 60.0,
    target_s: float = 30.0,
) -> AlignedSegments:
    """Segment, align, describe and type the podcast against its paper (local typer by default)."""
    paragraphs = segment_transcript(transcription, min_s=min_s, max_s=max_s, target_s=target_s)
    index = _PaperIndex(graph, [p.text for p in paragraphs])
    warnings = []
    if not paragraphs:
        warnings.append("the transcription holds no words: nothing to segment")
    if not index.atoms:
        warnings.append("the paper has no text atoms to align to: alignment scores are 0")
    if not graph.key_concepts:
        warnings.append("the paper has no key concepts: concept coverage is 0")
    duration = max(transcription.duration, paragraphs[-1].end if paragraphs else 0.0)
    evidence = _evidence([(p.start, p.end, p.text) for p in paragraphs], index, duration)
    typing = (typer or local_typer)(evidence, graph)
    if len(typing.labels) != len(evidence):
        raise ValueError(
            f"typer {typing.classifier} gave {len(typing.labels)} labels for {len(evidence)} segments"
        )
    patterns = {k.phrase: concept_pattern(k.phrase) for k in graph.key_concepts}
    segments = [
        _describe(ev, label, paragraph, patterns, index)
        for ev, label, paragraph in zip(evidence, typing.labels, paragraphs, strict=True)
    ]
    transcript_text = " ".join(p.text for p in paragraphs)
    top = [k.phrase for k in graph.key_concepts[:COVERAGE_CONCEPTS]]
    covered = sum(1 for phrase in top if patterns[phrase].search(transcript_text))
    mean_alignment = round(statistics.fmean(s.alignment_score for s in segments), 4) if segments else 0.0
    coverage = round(covered / len(top), 4) if top else 0.0
    where = body_positions(graph)
    placed = [s for s in segments if s.primary_atoms and s.primary_atoms[0] in where]
    span = paper_span([where[s.primary_atoms[0]] for s in placed], [s.alignment_score for s in placed])
    return AlignedSegments(
        pair_id=pair_id,
        classifier=typing.classifier,
        segments=segments,
        mean_alignment=mean_alignment,
        concept_coverage=coverage,
        match=podcast_matches_paper(coverage, mean_alignment, span),
        warnings=warnings,
    )


def segment_evidence(
    spans: Sequence[tuple[float, float, str]], graph: DocumentGraph, *, duration: float
) -> list[SegmentEvidence]:
    """Each (start, end, text) span of a podcast `duration` seconds long as a typer sees it, aligned to the paper as
    `analyse_pair` aligns its segments (ids s001, s002, ... in order)."""
    return _evidence(spans, _PaperIndex(graph, [text for _, _, text in spans]), duration)


def _evidence(
    spans: Sequence[tuple[float, float, str]], index: _PaperIndex, duration: float
) -> list[SegmentEvidence]:
    return [
        SegmentEvidence(id=f"s{i + 1:03d}", start=start, end=end, text=text, audio_duration=duration,
                        atom_scores=index.primary_atoms(i), alignment_score=round(index.best(i), 4),
                        referenced_figures=index.figures_in(i, text))  # fmt: skip
        for i, (start, end, text) in enumerate(spans)
    ]


def body_positions(graph: DocumentGraph) -> dict[str, float]:
    """Where each paragraph of the paper's body (references left out) lies in it: the share of the body's
    characters before its middle, 0-1."""
    body = [a for a in graph.atoms if a.kind != "reference"]
    total = sum(len(a.text) for a in body) or 1
    positions, before = {}, 0
    for atom in body:
        positions[atom.id] = (before + len(atom.text) / 2) / total
        before += len(atom.text)
    return positions


def analyse_and_type(
    pair_id: str, transcription: TranscriptionResult, graph: DocumentGraph, *, llm_typer: Typer | None = None
) -> AlignedSegments:
    """The pair analysed by the local typer; then, if an LLM typer is given and only if the podcast matches
    the paper, typed again by the LLM. A mismatched pair costs no LLM call. The verdict depends on the
    alignment alone, so both analyses carry the same one."""
    local = analyse_pair(pair_id, transcription, graph)
    if llm_typer is None or not local.match.passed:
        return local
    return analyse_pair(pair_id, transcription, graph, typer=llm_typer)


def _describe(
    ev: SegmentEvidence,
    label: SegmentLabel,
    paragraph: Paragraph,
    patterns: dict[str, re.Pattern[str]],
    index: _PaperIndex,
) -> AlignedSegment:
    concepts = [phrase for phrase, pattern in patterns.items() if pattern.search(ev.text)]
    terms = index.technical_terms(ev.text, exclude={c.lower() for c in concepts})
    word_count = len(paragraph.words) if paragraph.words else len(ev.text.split())
    minutes = (ev.end - ev.start) / 60
    return AlignedSegment(
        id=ev.id,
        start=ev.start,
        end=ev.end,
        text=ev.text,
        type=label.type,
        type_confidence=label.confidence,
        type_scores=label.scores,
        primary_atoms=[atom_id for atom_id, _ in ev.atom_scores],
        alignment_score=ev.alignment_score,
        referenced_figures=list(ev.referenced_figures),
        key_concepts=concepts,
        technical_terms=terms,
        analogies=find_analogies(ev.text),
        questions=find_questions(ev.text),
        word_count=word_count,
        words_per_minute=round(word_count / minutes, 1) if minutes > 0 else 0.0,
        density_score=round(100 * (len(concepts) + len(terms)) / word_count, 2) if word_count else 0.0,
        speakers=list(paragraph.speakers),
    )


