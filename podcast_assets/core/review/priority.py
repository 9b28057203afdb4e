"""The active review order: which segments are most worth a person's time.

A segment's priority is the number of its words the recogniser probably got wrong (the sum of 1 - confidence
over its words), where a word at or next to one of the paper's key terms counts three times: those are the
errors that cost the most downstream (a missed concept, a wrong segment type), and a misheard term is often
a low-confidence word beside, or spelled close to, the term itself. A word is at a key term when it is one of
the words of the paper's key concepts, or spelled like one of them (similarity >= 0.8, for words of five
letters or more: "distilation" for "distillation"); words within two places of it are next to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from podcast_assets.core.text import STOPWORDS, normalize_text, singular

TERM_WEIGHT = 3.0
NEAR = 2
SPELLING_SIMILARITY = 0.8
LOW_CONFIDENCE = 0.6
"""Words below this confidence are highlighted on the page."""


def term_words(phrases: Iterable[str]) -> frozenset[str]:
    """The words of the paper's key concepts that could be misheard: not function words, at least three letters."""
    return frozenset(
        singular(word)
        for phrase in phrases
        for word in normalize_text(phrase)
        if len(word) >= 3 and word not in STOPWORDS
    )


class TermMatcher:
    """Which key term, if any, a heard word is (or is spelled like); remembered per word form."""

    def __init__(self, terms: frozenset[str]):
        self.terms = terms
        self._long = [t for t in terms if len(t) >= 5]
        self._seen: dict[str, str | None] = {}

    def match(self, word: str) -> str | None:
        form = singular(word)
        if form not in self._seen:
            self._seen[form] = self._find(form)
        return self._seen[form]

    def _find(self, form: str) -> str | None:
        if form in self.terms:
            return form
        if len(form) < 5:
            return None
        for term in self._long:
            if abs(len(term) - len(form)) > 3:
                continue
            matcher = SequenceMatcher(None, form, term)
            if matcher.quick_ratio() >= SPELLING_SIMILARITY and matcher.ratio() >= SPELLING_SIMILARITY:
                return term
        return None


@dataclass(frozen=True)
class Priority:
    score: float
    key_terms: list[str]
    """The paper's terms at or near this segment (with what was heard, where it was spelled differently)."""


def segment_priority(words: Sequence[tuple[str, float]], terms: TermMatcher) -> Priority:
    """`words`: (word as heard, confidence) in order."""
    tokens = [(normalize_text(w)[:1] or [""])[0] for w, _ in words]
    at_term = [terms.match(t) if t else None for t in tokens]
    hits = [i for i, term in enumerate(at_term) if term]
    near = {j for i in hits for j in range(i - NEAR, i + NEAR + 1)}
    score = sum((1.0 - p) * (TERM_WEIGHT if i in near else 1.0) for i, (_, p) in enumerate(words))
    found: list[str] = []
    for i in hits:
        term = at_term[i]
        label = term if singular(tokens[i]) == term else f"{term} (heard “{words[i][0].strip()}”)"
        if label not in found:
            found.append(label)
    return Priority(round(score, 4), found)
