"""A pair's transcript segments as review entries: each segment's audio cut from the podcast, its words, and its
place in the active review order."""

from __future__ import annotations

import numpy as np

from podcast_assets.core.ingest.models import DocumentGraph, TranscriptionResult
from podcast_assets.core.review.audio import SAMPLE_RATE, make_clip
from podcast_assets.core.review.priority import TermMatcher, segment_priority, term_words
from podcast_assets.core.review.store import FillSegment


def review_segments(
    transcript: TranscriptionResult, samples: np.ndarray, graph: DocumentGraph
) -> list[FillSegment]:
    """`samples`: the podcast decoded to 16 kHz mono float (as the recogniser heard it)."""
    terms = TermMatcher(term_words(k.phrase for k in graph.key_concepts))
    segments = []
    for segment in transcript.segments:
        clip = make_clip(samples[int(segment.start * SAMPLE_RATE) : int(np.ceil(segment.end * SAMPLE_RATE))])
        priority = segment_priority([(w.word, w.probability) for w in segment.words], terms)
        segments.append(
            FillSegment(
                index=segment.id,
                start=segment.start,
                end=segment.end,
                text=segment.text,
                words=[(w.word.strip(), w.start, w.end, w.probability) for w in segment.words],
                clip=clip,
                priority=priority.score,
                key_terms=priority.key_terms,
            )
        )
    return segments
