"""Captions from real podcasts' word timings: every word once and in order, two lines of 42 characters at most,
each caption shown from its first word's start to its last word's end, and WebVTT and SRT files that a real
demuxer (FFmpeg's, through PyAV) reads back with the same cues and times."""

from __future__ import annotations

import av
import pytest

from podcast_assets.core.video.captions import (
    MAX_LINE_CHARS,
    MAX_LINES,
    srt,
    timed_script,
    tokens,
    transcript_captions,
    webvtt,
)


@pytest.fixture(scope="module")
def transcripts(real_pairs):
    if not real_pairs:
        pytest.skip("no real pair could be ingested")
    return {pair_id: transcription for pair_id, (transcription, _) in real_pairs.items()}


def test_captions_hold_every_word_once_in_order_and_keep_its_time(transcripts):
    for pair_id, transcription in transcripts.items():
        words = [w for s in transcription.segments for w in s.words if w.word.strip()]
        cues = transcript_captions(transcription)
        assert [w for c in cues for w in c.words] == words, pair_id
        for before, cue in zip(cues, cues[1:], strict=False):
            assert before.end <= cue.start + 1e-6, (pair_id, before, cue)
        for cue in cues:
            assert (cue.start, cue.end) == (cue.words[0].start, max(cue.words[-1].end, cue.words[0].start))
            assert len(cue.lines) <= MAX_LINES and all(len(x) <= MAX_LINE_CHARS or " " not in x for x in cue.lines)
        assert len(cues) * 3 < len(words), "a caption holds a phrase, not a word"


def test_a_word_the_recogniser_split_off_is_printed_joined():
    assert tokens(["average", "of", "5", ".5", "and", "France", "'s", "yield,"]) == [
        "average", "of", "5.5", "and", "France's", "yield,"]  # fmt: skip


@pytest.mark.parametrize("fmt", ["webvtt", "srt"])
def test_webvtt_and_srt_are_read_back_by_ffmpeg_with_the_same_cues(transcripts, tmp_path, fmt):
    pair_id, transcription = next(iter(sorted(transcripts.items())))
    cues = transcript_captions(transcription)
    path = tmp_path / ("captions.vtt" if fmt == "webvtt" else "captions.srt")
    path.write_text(webvtt(cues) if fmt == "webvtt" else srt(cues), encoding="utf-8")
    with av.open(str(path)) as container:
        stream = container.streams.subtitles[0]
        packets = [p for p in container.demux(stream) if p.size]
        starts = [float(p.pts * stream.time_base) for p in packets]
        ends = [float((p.pts + p.duration) * stream.time_base) for p in packets]
        texts = [bytes(p).decode("utf-8") for p in packets]
    assert len(packets) == len(cues), pair_id
    assert max(abs(a - c.start) for a, c in zip(starts, cues, strict=True)) <= 0.001
    assert max(abs(b - c.end) for b, c in zip(ends, cues, strict=True)) <= 0.001
    assert texts[0].split() == " ".join(cues[0].lines).split()


def test_a_generated_podcast_is_captioned_with_its_script_timed_by_the_words_heard_back(transcripts):
    pair_id, transcription = next(iter(sorted(transcripts.items())))
    heard = [w for s in transcription.segments for w in s.words if w.word.strip()][:300]
    written = [w.word for w in heard]
    misheard = set(range(5, len(written), 10))  # what the recogniser misheard, said right in the script
    for i in misheard:
        written[i] = f"written{i}"
    timed = timed_script(" ".join([*written[:50], "inserted", *written[50:]]), heard)
    order = [*range(50), None, *range(50, len(heard))]  # the heard word behind each written one
    assert [w.word for w in timed] == [*written[:50], "inserted", *written[50:]], "the script's words, not the recogniser's"
    assert all(a.start <= b.start for a, b in zip(timed, timed[1:], strict=False)), pair_id
    for word, h in zip(timed, order, strict=True):
        if h is not None and h not in misheard:
            assert (word.start, word.end) == (heard[h].start, heard[h].end), (word, heard[h])
        elif h is not None:  # a word heard otherwise is shown in the time of the word the recogniser heard there
            assert heard[h - 1].end <= word.start + 1e-3 and word.end <= heard[h + 1].start + 1e-3, (word, heard[h])
    turns = [("host", " ".join(written[:100])), ("guest", " ".join(written[100:]))]
    cues = transcript_captions(transcription, turns)
    assert "written5" in " ".join(" ".join(c.lines) for c in cues)
    assert {c.speaker for c in cues} == {"host", "guest"}, "each caption says who speaks"
    assert [c.speaker for c in cues] == sorted((c.speaker for c in cues), key=["host", "guest"].index)
    assert sum(len(c.words) for c in cues if c.speaker == "host") == 100, "a caption never spans two speakers"
    assert "<v Host>" in webvtt(cues) and "<v Guest>" in webvtt(cues) and "\nGuest: " in srt(cues)
