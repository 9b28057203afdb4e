"""Whisper segments -> paragraph-level segments (typically 10-60 s) cut where the talk changes topic.

The transcript is first split into sentence units (Whisper segments cut at sentence-final words).
Every gap between two units is a candidate boundary, scored by the pause there, a TextTiling-style
lexical depth (how much less alike the word windows on either side are than their neighbours), and
turn-taking cues (a new question opens a topic; the answer to a question belongs with it). Dynamic
programming then picks the boundaries that maximise the boundary scores while keeping each paragraph
near `target_s` and, with a steep penalty, within [min_s, max_s].
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from dataclasses import dataclass

from podcast_assets.core.ingest.models import TranscriptionResult, Word
from podcast_assets.core.text import SPOKEN_STOPWORDS, STOPWORDS, ends_sentence

WINDOW_WORDS = 40
"""Content words on each side of a boundary in the lexical comparison (about 30 s of speech)."""
PAUSE_WEIGHT = 0.45
LEXICAL_WEIGHT = 0.40
QUESTION_START_WEIGHT = 0.15
SPEAKER_CHANGE_WEIGHT = 0.15
AFTER_QUESTION_PENALTY = 0.30
OUT_OF_BOUNDS_PENALTY = 20.0
"""Cost per `min_s` seconds a paragraph falls short of min_s or beyond max_s (soft: any input works)."""

_CONTENT = re.compile(r"[a-z][a-z'\-]*[a-z]")


@dataclass(frozen=True)
class Paragraph:
    """A paragraph-level stretch of the transcript: consecutive sentence units, in time order."""

    index: int
    start: float
    end: float
    text: str
    words: tuple[Word, ...]
    speakers: tuple[str, ...] = ()

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class SentenceUnit:
    start: float
    end: float
    text: str
    words: tuple[Word, ...]
    speaker: str | None


def segment_transcript(
    result: TranscriptionResult, *, min_s: float = 10.0, max_s: float = 60.0, target_s: float = 30.0
) -> list[Paragraph]:
    """Merge the transcription's segments into paragraphs bounded by [min_s, max_s], near target_s.

    Bounds are soft: a sentence longer than max_s stays whole, and a transcription of one Whisper
    segment, or shorter than 2 x min_s, is one paragraph. An empty transcription gives no paragraphs.
    """
    if not 0 < min_s <= target_s <= max_s:
        raise ValueError(f"need 0 < min_s <= target_s <= max_s, got {min_s}, {target_s}, {max_s}")
    units = sentence_units(result)
    if not units:
        return []
    if len(result.segments) == 1 or len(units) == 1 or units[-1].end - units[0].start < 2 * min_s:
        return [_paragraph(0, units)]
    scores = _boundary_scores(units)
    cuts = _best_cuts(units, scores, min_s=min_s, max_s=max_s, target_s=target_s)
    bounds = [0, *cuts, len(units)]
    return [_paragraph(i, units[a:b]) for i, (a, b) in enumerate(itertools.pairwise(bounds))]


def sentence_units(result: TranscriptionResult) -> list[SentenceUnit]:
    """Sentence units: each Whisper segment cut after every sentence-final word."""
    units: list[SentenceUnit] = []
    for segment in result.segments:
        if not segment.words:
            if segment.text.strip():
                units.append(SentenceUnit(segment.start, segment.end, segment.text.strip(), (), segment.speaker))
            continue
        current: list[Word] = []
        for word in segment.words:
            current.append(word)
            if ends_sentence(word.word):
                units.append(_unit(current, segment.speaker))
                current = []
        if current:
            units.append(_unit(current, segment.speaker))
    return units


def _unit(words: list[Word], speaker: str | None) -> SentenceUnit:
    text = " ".join(w.word.strip() for w in words if w.word.strip())
    return SentenceUnit(words[0].start, max(words[-1].end, words[0].start), text, tuple(words), speaker)


def _paragraph(index: int, units: list[SentenceUnit]) -> Paragraph:
    speakers = tuple(dict.fromkeys(u.speaker for u in units if u.speaker))
    return Paragraph(
        index=index,
        start=units[0].start,
        end=max(u.end for u in units),
        text=" ".join(u.text for u in units),
        words=tuple(w for u in units for w in u.words),
        speakers=speakers,
    )


def _content_words(text: str) -> list[str]:
    return [
        w
        for w in _CONTENT.findall(text.lower())
        if len(w) > 2 and w not in STOPWORDS and w not in SPOKEN_STOPWORDS
    ]


def _cosine(a: Counter[str], b: Counter[str]) -> float:
    dot = sum(count * b[w] for w, count in a.items() if w in b)
    norm = math.sqrt(sum(c * c for c in a.values()) * sum(c * c for c in b.values()))
    return dot / norm if norm else 0.0


def _percentiles(values: list[float]) -> list[float]:
    """Each value's share of the values strictly below it (ties share the lower rank)."""
    n = len(values)
    return [sum(other < v for other in values) / max(n - 1, 1) for v in values]


def _boundary_scores(units: list[SentenceUnit]) -> list[float]:
    """Score in about [-0.3, 1.15] for a cut after each unit but the last: higher = better place to cut."""
    content = [_content_words(u.text) for u in units]
    similarities: list[float] = []
    for i in range(len(units) - 1):
        left = [w for c in content[: i + 1] for w in c][-WINDOW_WORDS:]
        right = [w for c in content[i + 1 :] for w in c][:WINDOW_WORDS]
        similarities.append(_cosine(Counter(left), Counter(right)))
    depths = []
    for i, sim in enumerate(similarities):
        left_peak = max(similarities[max(0, i - 3) : i + 1])
        right_peak = max(similarities[i : i + 4])
        depths.append(left_peak + right_peak - 2 * sim)
    top_depth = max(depths) or 1.0
    pauses = _percentiles([max(0.0, units[i + 1].start - units[i].end) for i in range(len(units) - 1)])
    scores = []
    for i in range(len(units) - 1):
        before, after = units[i], units[i + 1]
        score = PAUSE_WEIGHT * pauses[i] + LEXICAL_WEIGHT * depths[i] / top_depth
        score += QUESTION_START_WEIGHT * after.text.rstrip().endswith("?")
        score += SPEAKER_CHANGE_WEIGHT * (before.speaker is not None and before.speaker != after.speaker)
        score -= AFTER_QUESTION_PENALTY * before.text.rstrip().endswith("?")
        scores.append(score)
    return scores


def _best_cuts(
    units: list[SentenceUnit], scores: list[float], *, min_s: float, max_s: float, target_s: float
) -> list[int]:
    """Unit indices where paragraphs start (besides 0), minimising length cost minus boundary scores."""

    def length_cost(a: int, b: int) -> float:
        duration = units[b - 1].end - units[a].start
        outside = max(0.0, min_s - duration) + max(0.0, duration - max_s)
        return ((duration - target_s) / target_s) ** 2 + OUT_OF_BOUNDS_PENALTY * outside / min_s

    n = len(units)
    best = [0.0] + [math.inf] * n
    back = [0] * (n + 1)
    for b in range(1, n + 1):
        for a in range(b - 1, -1, -1):
            if a < b - 1 and units[b - 1].end - units[a].start > 3 * max_s:
                break
            cost = best[a] + length_cost(a, b) - (scores[a - 1] if a > 0 else 0.0)
            if cost < best[b]:
                best[b], back[b] = cost, a
    cuts = []
    b = n
    while b > 0:
        b = back[b]
        if b > 0:
            cuts.append(b)
    return cuts[::-1]
