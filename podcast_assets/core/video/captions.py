"""Captions from a podcast's word timings, burned into its video (the word being said highlighted) and written
as WebVTT and SRT beside it.

A caption is at most MAX_LINES lines of at most MAX_LINE_CHARS characters (the usual broadcast limits), shown
from its first word's start to its last word's end, so it keeps time with the words to the recogniser's
precision. A generated podcast's captions are its script's words, each with its speaker ('Host', 'Guest'),
shown on screen and as the WebVTT voice. A word the recogniser split off ('5' '.5') is printed joined. A new
caption starts where the next word would not fit, where the speaker changes, after a sentence's last word once
the caption holds MIN_CHARS characters, after a pause of PAUSE_S or more, and once a caption has run MAX_SECONDS.
"""

from __future__ import annotations

import bisect
import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

from podcast_assets.core.ingest.models import TranscriptionResult, Word

MAX_LINE_CHARS = 42
MAX_LINES = 2
MIN_CHARS = 24
PAUSE_S = 0.7
MAX_SECONDS = 6.0


@dataclass(frozen=True)
class Caption:
    start: float
    end: float
    words: tuple[Word, ...]
    speaker: str | None = None
    """Who says it, when the podcast's script is known (a generated one): 'host', 'guest'."""

    @cached_property
    def lines(self) -> list[str]:
        return wrap(tokens(w.word for w in self.words))

    @cached_property
    def starts(self) -> list[float]:
        """When each printed word (`tokens`) starts being said (asked for every frame: computed once)."""
        out: list[float] = []
        for word in self.words:
            text = word.word.strip()
            if text and not (out and text.startswith(_GLUED)):
                out.append(word.start)
        return out

    def current(self, t: float) -> int | None:
        """The index of the printed word being said at `t` (the last one started), None before the first."""
        started = bisect.bisect_right(self.starts, t)
        return started - 1 if started else None


_GLUED = (".", ",", ";", ":", "!", "?", "%", ")", "'", "’")
"""A recognised word starting so belongs to the one before ('5' '.5' is '5.5'; 'France' "'s")."""


def tokens(words: Iterable[str]) -> list[str]:
    """The words as printed: stripped, with a word that starts with a closing mark joined to the one before."""
    out: list[str] = []
    for word in (w.strip() for w in words):
        if not word:
            continue
        if out and word.startswith(_GLUED):
            out[-1] += word
        else:
            out.append(word)
    return out


def wrap(words: Sequence[str], width: int = MAX_LINE_CHARS) -> list[str]:
    """The words in lines of at most `width` characters, greedily (a longer word has a line of its own)."""
    lines: list[str] = []
    for word in words:
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def _fits(words: Sequence[str]) -> bool:
    return len(wrap(words)) <= MAX_LINES


def captions(words: Iterable[Word], speakers: Sequence[str | None] | None = None) -> list[Caption]:
    """The words, in time order, cut into captions (see the module docstring), and where the speaker changes
    (`speakers`: one per word, when known). Words without text are skipped."""
    out: list[Caption] = []
    current: list[Word] = []
    who: str | None = None

    def close() -> None:
        if current:
            out.append(Caption(current[0].start, max(current[-1].end, current[0].start), tuple(current), who))
            current.clear()

    for k, word in enumerate(words):
        text = word.word.strip()
        if not text:
            continue
        speaker = speakers[k] if speakers is not None else None
        if current and speaker != who:
            close()
        elif current and not text.startswith(_GLUED):
            said = tokens(w.word for w in current)
            chars = len(" ".join(said))
            if (
                not _fits([*said, text])
                or word.start - current[-1].end >= PAUSE_S
                or word.end - current[0].start > MAX_SECONDS
                or (said[-1].endswith((".", "?", "!")) and chars >= MIN_CHARS)
            ):
                close()
        who = speaker
        current.append(word)
    close()
    return out


def transcript_captions(
    transcription: TranscriptionResult, turns: Sequence[tuple[str, str]] | None = None
) -> list[Caption]:
    """The captions of a podcast from its transcript's words; of a generated one (`turns`: its script's
    (speaker, text) segments), the script's own words timed by the words heard back (`timed_script`), so a
    mishearing is never shown, each caption with its speaker."""
    heard = [w for segment in transcription.segments for w in segment.words]
    if not turns:
        return captions(heard)
    speakers = [speaker for speaker, text in turns for _ in text.split()]
    return captions(timed_script(" ".join(text for _, text in turns), heard), speakers)


def _key(text: str) -> str:
    return "".join(c for c in text.lower() if c.isalnum())


def timed_script(written: str, heard: Sequence[Word]) -> list[Word]:
    """The script's words, each timed by the heard word it matches (difflib's longest matching blocks over the
    words with case and punctuation set aside); a run of written words with no match shares out, evenly, the
    time between the matched words around it."""
    tokens = written.split()
    heard = [w for w in heard if w.word.strip()]
    if not tokens or not heard:
        return []
    written_keys, heard_keys = [_key(t) for t in tokens], [_key(w.word) for w in heard]
    matcher = difflib.SequenceMatcher(None, written_keys, heard_keys, autojunk=False)
    times: list[tuple[float, float] | None] = [None] * len(tokens)
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            word = heard[block.b + k]
            times[block.a + k] = (word.start, word.end)
    out: list[Word] = []
    i = 0
    while i < len(tokens):
        if times[i] is not None:
            start, end = times[i]
            out.append(Word(word=tokens[i], start=start, end=end, probability=1.0))
            i += 1
            continue
        j = i
        while j < len(tokens) and times[j] is None:
            j += 1
        begin = out[-1].end if out else heard[0].start
        finish = times[j][0] if j < len(tokens) else max(heard[-1].end, begin)
        step = max(finish - begin, 0.0) / (j - i)
        for k in range(i, j):
            start = begin + (k - i) * step
            out.append(Word(word=tokens[k], start=round(start, 3), end=round(start + step, 3), probability=1.0))
        i = j
    return out


def _stamp(seconds: float, separator: str) -> str:
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{separator}{ms:03d}"


def _vtt_text(line: str) -> str:
    return line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def speaker_name(label: str) -> str:
    return label.replace("_", " ").title()


def webvtt(cues: Sequence[Caption]) -> str:
    """WebVTT, each cue's speaker (when known) as its voice tag: '<v Host>'."""
    blocks = [
        f"{_stamp(c.start, '.')} --> {_stamp(c.end, '.')}\n"
        + (f"<v {speaker_name(c.speaker)}>" if c.speaker else "")
        + "\n".join(_vtt_text(x) for x in c.lines)
        for c in cues
    ]
    return "WEBVTT\n\n" + "".join(f"{b}\n\n" for b in blocks)


def srt(cues: Sequence[Caption]) -> str:
    """SRT, each cue's speaker (when known) before its words: 'Host: ...'."""
    return "".join(
        f"{i}\n{_stamp(c.start, ',')} --> {_stamp(c.end, ',')}\n"
        + (f"{speaker_name(c.speaker)}: " if c.speaker else "")
        + "\n".join(c.lines)
        + "\n\n"
        for i, c in enumerate(cues, 1)
    )
