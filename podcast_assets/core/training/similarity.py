"""How close a podcast is to its reference in meaning, beside ROUGE's word overlap: reported with every score
(LossDetails.semantic_similarity and semantic_by_type), not a term of the loss.

The embedding is WordLlama's l2_supercat model at 256 dimensions (static token embeddings taken from a large
language model's and trained for sentence similarity; the weights ship inside the `wordllama` package, so it
works offline with no download): a text's vector is the average of its tokens' vectors, and two texts'
similarity is the cosine of theirs. It reads the text as spoken (`text.spoken_words`: no labels, markup or
fillers), whole and per segment type: the reference's methodology against the podcast's methodology, and so on,
for each type both podcasts have.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from podcast_assets.core.analysis.models import AlignedSegments
from podcast_assets.core.embedding import embed


def cosine(a: str, b: str) -> float:
    """Cosine similarity of two texts' embeddings, clipped to [0, 1] (0 when either is empty)."""
    va, vb = embed([a, b])
    return float(np.clip(va @ vb, 0.0, 1.0))


class Semantic(NamedTuple):
    similarity: float
    """Cosine of the whole podcast's embedding and the whole reference's."""
    by_type: dict[str, float]
    """Segment type -> cosine of the podcast's text of that type and the reference's, for types both have."""


def _text_by_type(segments: AlignedSegments) -> dict[str, str]:
    texts: dict[str, list[str]] = {}
    for s in sorted(segments.segments, key=lambda s: (s.start, s.end)):
        texts.setdefault(s.type, []).append(s.text)
    return {t: " ".join(parts) for t, parts in texts.items()}


def semantic_similarity(
    generated_text: str,
    reference_text: str,
    generated_segments: AlignedSegments,
    reference_segments: AlignedSegments,
) -> Semantic:
    """The whole texts' similarity and each shared segment type's (see the module docstring)."""
    generated, reference = _text_by_type(generated_segments), _text_by_type(reference_segments)
    shared = [t for t in reference if t in generated]
    vectors = embed(
        [generated_text, reference_text, *(generated[t] for t in shared), *(reference[t] for t in shared)]
    )
    whole = float(np.clip(vectors[0] @ vectors[1], 0.0, 1.0))
    n = len(shared)
    by_type = {t: float(np.clip(vectors[2 + i] @ vectors[2 + n + i], 0.0, 1.0)) for i, t in enumerate(shared)}
    return Semantic(whole, by_type)
