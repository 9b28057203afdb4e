"""Text and sequence metrics: edit distance, text normalisation, word error rate, segment-typing accuracy."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from podcast_assets.core.text import normalize_text


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


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(word edits that turn the hypothesis into the reference, reference words), after normalisation.
    Summed over clips they give a corpus word error rate."""
    ref = normalize_text(reference)
    return edit_distance(ref, normalize_text(hypothesis)), len(ref)


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word edits needed to turn the hypothesis into the reference, over the reference's word count."""
    edits, words = word_errors(reference, hypothesis)
    if not words:
        return 0.0 if not normalize_text(hypothesis) else 1.0
    return edits / words


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


def covering_label(start: float, end: float, labels: Sequence[tuple[float, float, str]]) -> tuple[str, float]:
    """The labelled type covering most of [start, end] and the share of it that type covers (a stretch that no
    label overlaps takes the nearest label, share 0)."""
    overlap: dict[str, float] = {}
    for lb_start, lb_end, kind in labels:
        overlap[kind] = overlap.get(kind, 0.0) + max(0.0, min(lb_end, end) - max(lb_start, start))
    best = max(overlap, key=overlap.__getitem__)
    if overlap[best] <= 0.0:
        middle = (start + end) / 2
        return min(labels, key=lambda lb: abs((lb[0] + lb[1]) / 2 - middle))[2], 0.0
    return best, overlap[best] / max(end - start, 1e-9)


def term_errors(reference: str, hypothesis: str, terms: Sequence[str]) -> tuple[int, int]:
    """(term occurrences in the reference the hypothesis gets wrong, term occurrences in the reference).

    Each occurrence of a term (its normalised words, in order) in the reference counts once; it is right when
    every one of its words is matched, word for word, by the alignment of the two texts (the alignment behind
    the word error rate). Summed over clips they give a term error rate."""
    from difflib import SequenceMatcher

    ref, hyp = normalize_text(reference), normalize_text(hypothesis)
    matched = [False] * len(ref)
    for block in SequenceMatcher(None, ref, hyp, autojunk=False).get_matching_blocks():
        for i in range(block.a, block.a + block.size):
            matched[i] = True
    missed = occurrences = 0
    for term in {tuple(normalize_text(t)) for t in terms} - {()}:
        n = len(term)
        for i in range(len(ref) - n + 1):
            if tuple(ref[i : i + n]) == term:
                occurrences += 1
                missed += not all(matched[i : i + n])
    return missed, occurrences
