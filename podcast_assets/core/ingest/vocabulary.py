"""The paper's vocabulary for the recogniser: the words a podcast about this paper will say that a general
speech model is least likely to know (method names, acronyms, the paper's own terms), plus terms people
corrected in review. faster-whisper takes them as hotwords, on every 30 s window."""

from __future__ import annotations

from collections.abc import Iterable

from podcast_assets.core.ingest.models import DocumentGraph
from podcast_assets.core.text import STOPWORDS, normalize_text

MAX_TERMS = 24
"""Whisper keeps at most half its 448-token context for hotwords; two dozen short phrases stay well inside."""


def paper_vocabulary(
    graph: DocumentGraph, extra: Iterable[str] = (), *, max_terms: int = MAX_TERMS
) -> list[str]:
    """The paper's highest-scoring key concepts (and `extra` terms first), without repeats or function words."""
    seen: set[str] = set()
    terms: list[str] = []
    for phrase in [*extra, *(k.phrase for k in sorted(graph.key_concepts, key=lambda k: -k.score))]:
        words = normalize_text(phrase)
        key = " ".join(words)
        if not words or key in seen or all(w in STOPWORDS for w in words):
            continue
        seen.add(key)
        terms.append(phrase.strip())
        if len(terms) == max_terms:
            break
    return terms
