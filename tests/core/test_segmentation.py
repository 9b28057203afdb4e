"""Paragraph segmentation on hand-made transcriptions (the real transcripts are in test_analysis.py)."""

from __future__ import annotations

import pytest

from podcast_assets.core.analysis.segmentation import segment_transcript
from podcast_assets.core.ingest.models import TranscriptionResult, TranscriptSegment, Word


def whisper_segment(i: int, start: float, end: float, text: str) -> TranscriptSegment:
    """A segment whose words are spread evenly over [start, end]."""
    tokens = text.split()
    step = (end - start) / len(tokens)
    words = [
        Word(word=w, start=round(start + k * step, 3), end=round(start + (k + 1) * step, 3), probability=0.9)
        for k, w in enumerate(tokens)
    ]
    return TranscriptSegment(id=i, start=start, end=end, text=text, words=words)


def transcription(spans: list[tuple[float, float, str]]) -> TranscriptionResult:
    return TranscriptionResult(
        audio_sha256="0" * 64,
        provider="test",
        model="test",
        language="en",
        duration=spans[-1][1] if spans else 0.0,
        segments=[whisper_segment(i, s, e, t) for i, (s, e, t) in enumerate(spans)],
        mean_confidence=0.9,
        processing_seconds=0.0,
    )


COOKING = "The chef whisks butter flour and sugar into a smooth batter before baking the cake."
STARS = "Astronomers measured the telescope spectrum of distant galaxies and exploding supernovae."


def test_single_whisper_segment_gives_one_paragraph() -> None:
    result = transcription([(0.0, 95.0, "One very long segment. " * 40)])
    paragraphs = segment_transcript(result)
    assert len(paragraphs) == 1
    assert paragraphs[0].start == 0.0 and paragraphs[0].end == 95.0


def test_short_transcript_gives_one_paragraph() -> None:
    result = transcription([(0.0, 4.0, COOKING), (4.5, 9.0, STARS), (9.5, 15.0, COOKING)])
    paragraphs = segment_transcript(result)
    assert len(paragraphs) == 1
    assert paragraphs[0].text.count("chef") == 2


def test_empty_transcription_gives_no_paragraphs() -> None:
    assert segment_transcript(transcription([])) == []


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="min_s <= target_s"):
        segment_transcript(transcription([(0.0, 5.0, COOKING)]), min_s=30, target_s=20)


def test_cut_falls_on_the_topic_shift_and_paragraphs_keep_every_word() -> None:
    shift = 9  # the first span about stars
    spans = [(5.0 * i, 5.0 * i + 4.8, COOKING if i < shift else STARS) for i in range(18)]
    result = transcription(spans)
    paragraphs = segment_transcript(result)
    assert all(10.0 <= p.duration <= 60.0 for p in paragraphs)
    assert any(abs(p.start - spans[shift][0]) < 0.01 for p in paragraphs), [p.start for p in paragraphs]
    assert [w for p in paragraphs for w in p.words] == result.words
    assert [p.index for p in paragraphs] == list(range(len(paragraphs)))


def test_cut_prefers_the_long_pause() -> None:
    spans, t = [], 0.0
    for i in range(16):
        spans.append((t, t + 4.5, COOKING))
        t += 4.5 + (3.0 if i == 6 else 0.2)
    paragraphs = segment_transcript(transcription(spans))
    boundaries = {round(p.start, 2) for p in paragraphs[1:]}
    assert round(spans[7][0], 2) in boundaries


def test_long_whisper_segments_are_split_at_sentence_ends() -> None:
    sentence = "This sentence talks about one idea only."
    result = transcription([(0.0, 70.0, " ".join([sentence] * 20)), (70.5, 140.0, " ".join([sentence] * 20))])
    paragraphs = segment_transcript(result)
    assert len(paragraphs) >= 3
    assert all(10.0 <= p.duration <= 60.0 for p in paragraphs)
    assert all(p.text.endswith(".") for p in paragraphs)


def test_question_opens_a_paragraph_rather_than_ending_one() -> None:
    asked = 6  # the span holding the question
    spans = []
    for i in range(12):
        text = "So what does that mean for the rest of us?" if i == asked else COOKING
        spans.append((5.0 * i, 5.0 * i + 4.9, text))
    paragraphs = segment_transcript(transcription(spans))
    assert any(abs(p.start - spans[asked][0]) < 0.01 for p in paragraphs), [p.start for p in paragraphs]
