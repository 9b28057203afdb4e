"""Text embeddings that run offline: WordLlama's l2_supercat model at 256 dimensions (static token embeddings taken
from a large language model's and trained for sentence similarity; the weights ship inside the `wordllama`
package, so nothing is downloaded). A text's vector is the average of its tokens' vectors, read as spoken
(`text.spoken_words`: no labels, markup or fillers). Used by the semantic similarity beside ROUGE
(training/similarity.py) and the learned segment typer (analysis/learned_typer.py).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from podcast_assets.core.text import spoken_words

MODEL = "wordllama-l2_supercat-256"
"""The embedding model's name, as recorded with each score (and in cache keys through scoring.SCORING)."""


@functools.cache
def _model():
    """WordLlama's bundled model, read from the package's own files (its loader looks for the tokenizer in a
    folder the wheel does not have and would download it)."""
    import wordllama
    from safetensors import safe_open
    from tokenizers import Tokenizer
    from wordllama.inference import WordLlamaInference

    root = Path(wordllama.__file__).parent
    tokenizer = Tokenizer.from_file(str(root / "tokenizers" / "l2_supercat_tokenizer_config.json"))
    with safe_open(str(root / "weights" / "l2_supercat_256.safetensors"), framework="np") as f:
        embedding = f.get_tensor("embedding.weight")
    return WordLlamaInference(embedding, tokenizer)


def embed(texts: Sequence[str]) -> np.ndarray:
    """Unit vectors of the texts (one row each); an empty text gets the zero vector."""
    if not texts:
        return np.zeros((0, 256), dtype=np.float32)
    said = [spoken_words(t) for t in texts]
    vectors = np.asarray(_model().embed([t or " " for t in said], norm=True), dtype=np.float32)
    vectors[[not t for t in said]] = 0.0
    return vectors
