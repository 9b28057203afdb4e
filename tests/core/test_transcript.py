"""Recogniser-output helpers: conversion, repetition loops, upload splitting and merging."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest

from podcast_assets.core.errors import TranscriptionError
from podcast_assets.core.ingest.audio import SAMPLE_RATE, decode_audio
from podcast_assets.core.ingest.models import TranscriptSegment, Word
from podcast_assets.core.ingest.transcript import (
    PROBE_MIN_SPEECH_SECONDS,
    build_result,
    check_transcript,
    detect_repetition_loop,
    language_problem,
    make_word,
    merge_chunk_results,
    probe_problem,
    resume_point,
    segments_from_verbose_json,
    split_for_upload,
)
from podcast_assets.core.text import clean_reference_script
from tests.conftest import SHARED_PAIRS, require_shared_speech, training_pair_dirs


def _script(pair: str) -> str:
    path = SHARED_PAIRS / pair / "transcript.txt"
    if not path.is_file():
        pytest.skip(f"{path} not found (CI provides ../shared beside the clone)")
    return clean_reference_script(path.read_text())


@pytest.mark.parametrize("pair", ["kd-survey-notebookllama-ollama", "finmarket-network-forecast-podcastfy"])
def test_real_podcast_scripts_are_not_loops(pair):
    assert detect_repetition_loop(_script(pair)) is None


def test_short_natural_repetitions_are_not_loops():
    assert detect_repetition_loop("you you") is None
    assert detect_repetition_loop("It was very, very, very good. No no no, I mean yes.") is None
    assert detect_repetition_loop("") is None


def test_repeated_sentence_is_a_loop():
    text = "Welcome back. " + "I'm going to be a little bit more careful. " * 6
    found = detect_repetition_loop(text)
    assert found is not None and "repeats 6 times" in found


def test_repeated_single_word_is_a_loop():
    assert detect_repetition_loop("So " + "the " * 20 + "end") is not None


def test_near_repetition_is_caught_by_compression():
    base = "and the economic model of the future is going to be a {} one, "
    text = "".join(base.format(w) for w in ["different", "similar", "better", "different"] * 3)
    found = detect_repetition_loop(text)
    assert found is not None and "compresses" in found


def test_verbose_json_words_are_attached_to_segments_by_time():
    data = {
        "text": "Hello there. General Kenobi.",
        "segments": [
            {"id": 0, "start": 0.0, "end": 1.2, "text": " Hello there.", "avg_logprob": -0.2},
            {"id": 1, "start": 1.5, "end": 3.0, "text": " General Kenobi.", "no_speech_prob": 0.02},
        ],
        "words": [
            {"word": "Hello", "start": 0.0, "end": 0.5},
            {"word": "there", "start": 0.5, "end": 1.3},
            {"word": "General", "start": 1.6, "end": 2.1},
            {"word": "Kenobi", "start": 2.1, "end": 3.1},
        ],
    }
    segments, filled = segments_from_verbose_json(data)
    assert filled is True
    assert [[w.word for w in s.words] for s in segments] == [["Hello", "there"], ["General", "Kenobi"]]
    assert all(w.probability == 1.0 for s in segments for w in s.words)
    assert segments[0].text == "Hello there."


def test_verbose_json_probabilities_are_kept_and_words_without_segments_get_one():
    data = {"text": "Hi you", "words": [{"word": "Hi", "start": 0.1, "end": 0.3, "probability": 0.4},
                                        {"word": "you", "start": 0.3, "end": 0.5, "probability": 0.8}]}
    segments, filled = segments_from_verbose_json(data)
    assert filled is False
    assert len(segments) == 1 and segments[0].start == 0.1 and segments[0].end == 0.5
    result = build_result(
        segments=segments, audio_sha256="0" * 64, provider="openai", model="m", language="en",
        duration=1.0, processing_seconds=0.1,
    )
    assert result.mean_confidence == pytest.approx(0.6)


def _segment(i: int, start: float, end: float, words: list[tuple[str, float, float]]) -> TranscriptSegment:
    return TranscriptSegment(
        id=i, start=start, end=end, text=" ".join(w for w, _, _ in words),
        words=[Word(word=w, start=s, end=e, probability=0.9) for w, s, e in words],
    )


def test_merge_offsets_timestamps_and_renumbers():
    first = [_segment(0, 0.0, 2.0, [("one", 0.0, 1.0), ("two", 1.0, 2.0)])]
    second = [_segment(0, 0.5, 1.5, [("three", 0.5, 1.5)]), _segment(1, 2.0, 3.0, [("four", 2.0, 3.0)])]
    merged = merge_chunk_results([(0.0, first), (100.0, second)])
    assert [s.id for s in merged] == [0, 1, 2]
    assert [(s.start, s.end) for s in merged] == [(0.0, 2.0), (100.5, 101.5), (102.0, 103.0)]
    words = [(w.word, w.start) for s in merged for w in s.words]
    assert words == [("one", 0.0), ("two", 1.0), ("three", 100.5), ("four", 102.0)]
    assert second[0].start == 0.5, "inputs are not modified"


def test_check_transcript_rejects_empty_and_loops(tmp_path):
    fields = dict(audio_sha256="0" * 64, provider="local", model="tiny.en", language="en", duration=30.0,
                  processing_seconds=1.0)
    with pytest.raises(TranscriptionError, match="no speech detected"):
        check_transcript(build_result(segments=[], **fields), tmp_path / "a.mp3")
    phrase = "thank you for watching".split()
    loop = [_segment(i, i, i + 1, [(w, i, i + 1) for w in phrase]) for i in range(8)]
    with pytest.raises(TranscriptionError, match="repetition loop") as info:
        check_transcript(build_result(segments=loop, **fields), tmp_path / "a.mp3")
    assert "a.mp3" in str(info.value) and "multilingual" in str(info.value)


def _wav_samples(data: bytes) -> tuple[int, np.ndarray]:
    with wave.open(io.BytesIO(data)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        return wav.getframerate(), np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")


def test_split_for_upload_on_real_podcast_audio():
    pair = training_pair_dirs()[0]
    samples = decode_audio(pair / "podcast.mp3")[: 120 * SAMPLE_RATE]
    max_bytes = 40 * SAMPLE_RATE * 2
    chunks = split_for_upload(samples, SAMPLE_RATE, max_bytes)
    assert len(chunks) >= 3
    assert all(len(data) <= max_bytes for _, data in chunks)
    total = 0
    for offset, data in chunks:
        rate, pcm = _wav_samples(data)
        assert rate == SAMPLE_RATE
        assert offset == pytest.approx(total / SAMPLE_RATE)
        total += len(pcm)
    assert total == len(samples)
    rms = np.sqrt(np.mean(samples.astype(np.float64) ** 2))
    for offset, _ in chunks[1:]:
        cut = int(offset * SAMPLE_RATE)
        around = samples[cut - SAMPLE_RATE // 4 : cut + SAMPLE_RATE // 4].astype(np.float64)
        assert np.sqrt(np.mean(around**2)) < rms, "cuts fall in quieter than average stretches"


def test_split_for_upload_single_chunk_when_it_fits():
    speech = require_shared_speech()
    samples = decode_audio(speech / "jfk.flac")
    chunks = split_for_upload(samples, SAMPLE_RATE, 10_000_000)
    assert len(chunks) == 1 and chunks[0][0] == 0.0
    assert len(_wav_samples(chunks[0][1])[1]) == len(samples)


# --------------------------------------------------------------------------- the first minute


SPEECH = (
    "heat waves during flowering cut wheat yields more than average warming does and the authors combined "
    "weather stations satellite images and harvest reports from three decades to show it while soil moisture "
    "in spring helped fields cool themselves through their leaves sandy soils lost that water quickly so "
    "farmers might sow earlier varieties or keep more water in the ground and insurers could price the risk "
    "of a few very hot days instead of a warm season which changes how we should think about adaptation"
).split()


def _probe(words_per_segment: int, probability: float, segments: int = 6, text: str = "") -> list[TranscriptSegment]:
    out = []
    for i in range(segments):
        words = [
            make_word(SPEECH[(i * words_per_segment + j) % len(SPEECH)], i * 10 + j * 0.3, i * 10 + j * 0.3 + 0.2, probability)
            for j in range(words_per_segment)
        ]
        out.append(TranscriptSegment(id=i, start=i * 10.0, end=i * 10.0 + 9.0, text=text or " ".join(w.word for w in words), words=words))
    return out


def test_probe_accepts_fluent_confident_speech_and_judges_nothing_on_too_little_speech():
    assert probe_problem(_probe(25, 0.9), speech_seconds=58) is None
    assert probe_problem([], speech_seconds=PROBE_MIN_SPEECH_SECONDS - 1) is None


def test_probe_refuses_few_words_unsure_words_and_loops():
    few = probe_problem(_probe(2, 0.9), speech_seconds=58)
    assert few is not None and "12 words" in few
    unsure = probe_problem(_probe(25, 0.3), speech_seconds=58)
    assert unsure is not None and "0.30" in unsure
    loop = probe_problem(_probe(25, 0.9, text="thank you " * 20), speech_seconds=58)
    assert loop is not None and "loops" in loop


def test_language_problem_uses_the_expected_languages_probability():
    assert language_problem([("en", 0.97), ("de", 0.01)], "en") is None
    problem = language_problem([("la", 0.40), ("en", 0.25), ("nl", 0.2)], "en")
    assert problem is not None and "'la'" in problem and "0.25" in problem


def test_resume_point_drops_the_segment_the_window_edge_may_have_cut():
    probe = _probe(5, 0.9, segments=3)
    kept, resume = resume_point(probe)
    assert kept == probe[:2] and resume == probe[1].end
    assert resume_point(probe[:1]) == ([], 0.0)
