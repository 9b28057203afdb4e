"""Reviewed text replaces the recogniser's in a pair's transcript.

A reviewed segment keeps its place and timing; its words are re-timed from the recogniser's: a word the person
kept keeps its timestamps, and words they typed in place of others share the time of the words they replace
(or of the gap they were typed into) evenly. Every word of a reviewed segment gets confidence 1.0: a person
listened to it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from podcast_assets.core.ingest.models import TranscriptionResult, TranscriptSegment, Word
from podcast_assets.core.ingest.transcript import mean_confidence
from podcast_assets.core.metrics import word_errors
from podcast_assets.core.text import normalize_text

MATCH_SECONDS = 0.01
"""A reviewed segment applies to the transcript segment whose start and end are this close to its own."""


@dataclass(frozen=True)
class Correction:
    """One reviewed segment of a pair's podcast: its span and the text a person settled on."""

    start: float
    end: float
    text: str


@dataclass(frozen=True)
class ReviewSummary:
    """What review changed in one transcript."""

    reviewed_segments: int
    changed_segments: int
    word_edits: int
    reviewed_words: int
    unmatched: int
    """Reviewed segments no transcript segment matches (the recogniser cut the audio differently since)."""

    @property
    def word_error_rate(self) -> float | None:
        """The recogniser's word error rate against the reviewed text, over the reviewed segments."""
        return round(self.word_edits / self.reviewed_words, 4) if self.reviewed_words else None


def _key(token: str) -> str:
    return " ".join(normalize_text(token))


def retime(segment: TranscriptSegment, text: str) -> list[Word]:
    """The words of `text`, timed from the segment's recognised words."""
    old = segment.words
    new = text.split()
    out: list[Word] = []
    matcher = SequenceMatcher(None, [_key(w.word) for w in old], [_key(t) for t in new], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            out.extend(
                Word(word=f" {new[j]}", start=old[i].start, end=old[i].end, probability=1.0)
                for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
            )
        elif j2 > j1:
            if i2 > i1:
                start, end = old[i1].start, old[i2 - 1].end
            else:
                start = old[i1 - 1].end if i1 > 0 else segment.start
                end = old[i1].start if i1 < len(old) else segment.end
            end = max(end, start)
            step = (end - start) / (j2 - j1)
            out.extend(
                Word(
                    word=f" {new[j]}",
                    start=round(start + k * step, 3),
                    end=round(start + (k + 1) * step, 3),
                    probability=1.0,
                )
                for k, j in enumerate(range(j1, j2))
            )
    return out


def apply_reviews(
    result: TranscriptionResult, corrections: Sequence[Correction]
) -> tuple[TranscriptionResult, ReviewSummary]:
    """The transcript with each reviewed segment's text in place of the recogniser's, and what that changed."""
    segments = list(result.segments)
    reviewed = changed = edits = words = unmatched = 0
    for correction in corrections:
        index = next(
            (
                i
                for i, s in enumerate(segments)
                if abs(s.start - correction.start) < MATCH_SECONDS
                and abs(s.end - correction.end) < MATCH_SECONDS
            ),
            None,
        )
        if index is None:
            unmatched += 1
            continue
        segment = segments[index]
        errors, count = word_errors(correction.text, segment.text)
        reviewed += 1
        edits += errors
        words += count
        changed += segment.text.strip() != correction.text.strip()
        segments[index] = segment.model_copy(
            update={"text": f" {correction.text.strip()}", "words": retime(segment, correction.text)}
        )
    summary = ReviewSummary(reviewed, changed, edits, words, unmatched)
    if not reviewed:
        return result, summary
    return result.model_copy(
        update={"segments": segments, "mean_confidence": mean_confidence(segments)}
    ), summary
