"""Text and sequence metrics: edit distance, text normalisation, word error rate, segment-typing accuracy."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})
_NON_WORD = re.compile(r"[^\w']+")
_EDGE_APOSTROPHES = re.compile(r"(?<!\w)'+|'+(?!\w)")


def edit_distance(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """Levenshtein distance (insertions, deletions and substitutions cost 1) between two sequences."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, item_a in enumerate(a, start=1):
        current = [i]
        for j, item_b in enumerate(b, start=1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (item_a != item_b))
            )
        previous = current
    return previous[-1]


def normalize_text(text: str) -> list[str]:
    """Lowercase words without punctuation; apostrophes inside words are kept ("don't")."""
    text = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES).lower()
    text = _NON_WORD.sub(" ", text).replace("_", " ")
    return _EDGE_APOSTROPHES.sub(" ", text).split()


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word edits needed to turn the hypothesis into the reference, over the reference's word count."""
    ref = normalize_text(reference)
    hyp = normalize_text(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return edit_distance(ref, hyp) / len(ref)


@dataclass(frozen=True)
class TypingScore:
    """How well typed segments match hand labels, weighted by time."""

    accuracy: float
    majority_label: str
    majority_baseline: float
    confusion_seconds: dict[tuple[str, str], float]


def time_weighted_typing_accuracy(
    segments: Sequence[tuple[float, float, str]], labels: Sequence[tuple[float, float, str]], step: float = 0.1
) -> TypingScore:
    """Share of the labelled time whose predicted type (the segment holding that instant, or the nearest
    one in a pause) equals the label; against always guessing the most common label."""
    if not segments or not labels:
        raise ValueError("need at least one segment and one label")

    def predicted(t: float) -> str:
        return min(segments, key=lambda s: max(s[0] - t, t - s[1], 0.0))[2]

    hits = 0
    per_label: Counter[str] = Counter()
    confusion: Counter[tuple[str, str]] = Counter()
    for start, end, truth in labels:
        t = start + step / 2
        while t < end:
            guess = predicted(t)
            hits += guess == truth
            per_label[truth] += 1
            confusion[truth, guess] += 1
            t += step
    total = sum(per_label.values())
    majority, count = per_label.most_common(1)[0]
    return TypingScore(hits / total, majority, count / total, {k: n * step for k, n in sorted(confusion.items())})
