"""Recogniser output -> TranscriptionResult, and the checks that keep unusable transcripts out.

Pure helpers shared by the local (faster-whisper) and the API (OpenAI-compatible) recognisers:
conversion of their segments and words, repetition-loop detection, splitting audio into uploads
that fit a size limit, and merging the per-chunk results back onto one timeline.
"""

from __future__ import annotations

import io
import re
import wave
import zlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from podcast_assets.core.errors import TranscriptionError
from podcast_assets.core.ingest.models import TranscriptionResult, TranscriptSegment, Word

LOOP_WINDOW_CHARS = 400
"""Characters per window for the compression test (about one 30 s Whisper window of speech)."""
LOOP_COMPRESSION_RATIO = 2.4
"""Whisper's own threshold: real podcast scripts compress 1.4-1.7x at this length, a loop far more."""
LOOP_MIN_REPEATS = 5
LOOP_MIN_WORDS = 12
LOOP_MAX_NGRAM = 10
WAV_HEADER_BYTES = 44
QUIET_WINDOW_SECONDS = 1.0
CUT_SEARCH_SECONDS = 30.0


# --------------------------------------------------------------------------- conversion


def _field(item: Any, name: str, default: Any = None) -> Any:
    return item.get(name, default) if isinstance(item, Mapping) else getattr(item, name, default)


def _clamp01(value: float) -> float:
    return min(1.0, max(0.0, float(value)))


def make_word(word: str, start: float, end: float, probability: float) -> Word:
    """A Word without surrounding spaces, times non-negative and ordered, probability clamped to [0, 1]."""
    start = max(0.0, float(start))
    return Word(word=word.strip(), start=start, end=max(start, float(end)), probability=_clamp01(probability))


def segment_from_whisper(segment: Any) -> TranscriptSegment:
    """A faster-whisper Segment (with word timestamps) as a TranscriptSegment."""
    start = max(0.0, float(segment.start))
    return TranscriptSegment(
        id=int(segment.id),
        start=start,
        end=max(start, float(segment.end)),
        text=segment.text.strip(),
        words=[make_word(w.word, w.start, w.end, w.probability) for w in segment.words or []],
        avg_logprob=float(segment.avg_logprob),
        no_speech_prob=float(segment.no_speech_prob),
    )


def segments_from_verbose_json(data: Mapping[str, Any]) -> tuple[list[TranscriptSegment], bool]:
    """Segments of an OpenAI `verbose_json` transcription, words attached by time.

    The API returns words at the top level, without probabilities: they are assigned to the segment
    that holds their midpoint (or the nearest one) and get probability 1.0. The second item says
    whether any probability had to be filled in that way.
    """
    raw_words = list(data.get("words") or [])
    filled = any(_field(w, "probability") is None for w in raw_words)
    words = [
        make_word(str(_field(w, "word", "")), _field(w, "start", 0.0), _field(w, "end", 0.0),
                  1.0 if _field(w, "probability") is None else _field(w, "probability"))
        for w in raw_words
    ]
    segments = []
    for index, raw in enumerate(data.get("segments") or []):
        start = max(0.0, float(_field(raw, "start", 0.0)))
        segments.append(
            TranscriptSegment(
                id=int(_field(raw, "id", index)),
                start=start,
                end=max(start, float(_field(raw, "end", start))),
                text=str(_field(raw, "text", "")).strip(),
                avg_logprob=_field(raw, "avg_logprob"),
                no_speech_prob=_field(raw, "no_speech_prob"),
            )
        )
    if not segments and words:
        text = str(data.get("text") or " ".join(w.word for w in words)).strip()
        segments = [TranscriptSegment(id=0, start=words[0].start, end=words[-1].end, text=text)]
    for word in words:
        mid = (word.start + word.end) / 2
        owner = min(segments, key=lambda s: max(s.start - mid, mid - s.end, 0.0))
        owner.words.append(word)
    return segments, filled and bool(words)


def merge_chunk_results(
    chunks: Sequence[tuple[float, Sequence[TranscriptSegment]]],
) -> list[TranscriptSegment]:
    """Segments of consecutive (offset, segments) chunks on one timeline, ids renumbered."""
    merged: list[TranscriptSegment] = []
    for offset, segments in chunks:
        for segment in segments:
            merged.append(
                segment.model_copy(
                    update={
                        "id": len(merged),
                        "start": segment.start + offset,
                        "end": segment.end + offset,
                        "words": [
                            w.model_copy(update={"start": w.start + offset, "end": w.end + offset})
                            for w in segment.words
                        ],
                    }
                )
            )
    return merged


def mean_confidence(segments: Iterable[TranscriptSegment]) -> float:
    """Mean word probability (0.0 when there are no words)."""
    probabilities = [w.probability for s in segments for w in s.words]
    return float(np.mean(probabilities)) if probabilities else 0.0


def build_result(*, segments: list[TranscriptSegment], **fields: Any) -> TranscriptionResult:
    """A TranscriptionResult whose mean_confidence is computed from the segments' words."""
    return TranscriptionResult(segments=segments, mean_confidence=mean_confidence(segments), **fields)


# --------------------------------------------------------------------------- checks


def _compression_ratio(text: str) -> float:
    data = text.encode()
    return len(data) / len(zlib.compress(data))


def _repeated_ngram(words: list[str]) -> tuple[str, int] | None:
    """The first n-gram repeated back to back LOOP_MIN_REPEATS+ times over LOOP_MIN_WORDS+ words."""
    for n in range(1, LOOP_MAX_NGRAM + 1):
        needed = max(LOOP_MIN_REPEATS, -(-LOOP_MIN_WORDS // n))
        i = 0
        while i + n * needed <= len(words):
            gram = words[i : i + n]
            repeats = 1
            while words[i + repeats * n : i + (repeats + 1) * n] == gram:
                repeats += 1
            if repeats >= needed:
                return " ".join(gram), repeats
            i += 1
    return None


def detect_repetition_loop(text: str) -> str | None:
    """A description of the recogniser repetition loop in `text`, or None when it reads like speech."""
    words = re.findall(r"[\w']+", text.lower())
    if (found := _repeated_ngram(words)) is not None:
        gram, repeats = found
        return f"the phrase {gram[:80]!r} repeats {repeats} times in a row"
    squashed = " ".join(text.split())
    if len(squashed) < LOOP_WINDOW_CHARS:
        return None
    step = LOOP_WINDOW_CHARS // 4
    for begin in range(0, len(squashed) - LOOP_WINDOW_CHARS + 1, step):
        window = squashed[begin : begin + LOOP_WINDOW_CHARS]
        if (ratio := _compression_ratio(window)) > LOOP_COMPRESSION_RATIO:
            return (
                f"the text from character {begin} compresses {ratio:.1f}x "
                f"(speech stays below {LOOP_COMPRESSION_RATIO}x): {window[:80]!r}..."
            )
    return None


def check_transcript(result: TranscriptionResult, path: str | Path) -> None:
    """Raise TranscriptionError when the result has no speech or is a repetition loop."""
    if not result.segments or not result.words:
        raise TranscriptionError(
            "no speech detected: the recogniser returned no words",
            path=path,
            fix="check that the file holds speech (not music, noise or silence)",
        )
    if (loop := detect_repetition_loop(result.text)) is not None:
        raise TranscriptionError(
            f"the transcript is a repetition loop ({loop})",
            path=path,
            fix="set the pair's language correctly; "
            "use a multilingual model (not '.en') for non-English speech",
        )


# --------------------------------------------------------------------------- the first minute

PROBE_SECONDS = 60.0
"""The English-only recogniser transcribes this much audio first and judges it before going on."""
PROBE_MIN_SPEECH_SECONDS = 20.0
"""Below this much speech (voice activity) in the probe there is too little to judge: no early verdict."""
MIN_WORDS_PER_SPEECH_SECOND = 0.5
"""English speech gives 2-3.5 words per second of speech; tiny.en on other languages often gives none."""
MIN_MEAN_WORD_PROBABILITY = 0.6
"""tiny.en's mean word confidence on English: 0.79-0.97 (podcasts, a 1961 recording, added noise, robotic
espeak); on German, Dutch, French, Spanish and Italian speech: 0.03-0.46 (bench/early_refusal.py)."""
MIN_LANGUAGE_PROBABILITY = 0.5
"""A multilingual model's probability that the first 30 s are in the pair's language (English measured
at 0.94 and up, other languages 0.26 at most)."""


def probe_problem(segments: Sequence[TranscriptSegment], speech_seconds: float) -> str | None:
    """Why the probe (the first minute, transcribed by an English-only model) is not usable English speech,
    or None: a repetition loop, almost no words for the speech heard, or words the model is unsure of."""
    if speech_seconds < PROBE_MIN_SPEECH_SECONDS:
        return None
    words = [w for s in segments for w in s.words]
    heard = f"in the first {speech_seconds:.0f} s of speech"
    if (loop := detect_repetition_loop(" ".join(s.text for s in segments))) is not None:
        return f"the recogniser loops {heard} ({loop})"
    if (rate := len(words) / speech_seconds) < MIN_WORDS_PER_SPEECH_SECOND:
        return f"only {len(words)} words were recognised {heard} ({rate:.2f} per second; English gives 2-3.5)"
    if (confidence := float(np.mean([w.probability for w in words]))) < MIN_MEAN_WORD_PROBABILITY:
        return (
            f"the recogniser is unsure of what it heard {heard} (mean word confidence {confidence:.2f}; "
            f"English speech scores above {MIN_MEAN_WORD_PROBABILITY})"
        )
    return None


def language_problem(probabilities: Sequence[tuple[str, float]], expected: str) -> str | None:
    """Why a multilingual model's language probabilities (first 30 s) say the speech is not in `expected`."""
    ranked = dict(probabilities)
    if (p := ranked.get(expected, 0.0)) >= MIN_LANGUAGE_PROBABILITY:
        return None
    top, top_p = max(ranked.items(), key=lambda item: item[1], default=("?", 0.0))
    return f"the first 30 s sound like {top!r} (probability {top_p:.2f}), not {expected!r} ({p:.2f})"


def resume_point(segments: Sequence[TranscriptSegment]) -> tuple[list[TranscriptSegment], float]:
    """The probe's segments to keep and where to go on: all but the last segment, which the window's edge
    may have cut, and the end of the last one kept (0 when none is kept, to start over)."""
    kept = list(segments[:-1])
    return kept, (kept[-1].end if kept else 0.0)


# --------------------------------------------------------------------------- uploads


def _wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm)
    return buffer.getvalue()


def _quietest_cut(samples: np.ndarray, lo: int, hi: int, window: int) -> int:
    """The centre of the quietest `window` samples inside [lo, hi), or hi when the range is too short."""
    if hi - lo < window:
        return hi
    hop = max(1, window // 10)
    energy = np.concatenate(([0.0], np.cumsum(np.square(samples[lo:hi], dtype=np.float64))))
    starts = np.arange(0, hi - lo - window + 1, hop)
    sums = energy[starts + window] - energy[starts]
    return lo + int(starts[int(np.argmin(sums))]) + window // 2


def split_for_upload(samples: np.ndarray, sample_rate: int, max_bytes: int) -> list[tuple[float, bytes]]:
    """16-bit mono WAV chunks of at most `max_bytes` each, as (offset_seconds, wav_bytes).

    Each cut is placed in the quietest second of the last stretch before the size limit, so words
    are rarely split between chunks.
    """
    max_samples = (max_bytes - WAV_HEADER_BYTES) // 2
    if max_samples < sample_rate:
        raise ValueError(f"max_bytes={max_bytes} is under one second of 16-bit audio at {sample_rate} Hz")
    window = int(QUIET_WINDOW_SECONDS * sample_rate)
    search = min(int(CUT_SEARCH_SECONDS * sample_rate), max_samples // 4)
    chunks = []
    start = 0
    while start < len(samples):
        limit = start + max_samples
        end = len(samples) if limit >= len(samples) else _quietest_cut(samples, limit - search, limit, window)
        chunks.append((start / sample_rate, _wav_bytes(samples[start:end], sample_rate)))
        start = end
    return chunks
