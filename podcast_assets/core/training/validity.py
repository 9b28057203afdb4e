"""Candidates a loss must be able to tell from a good podcast, made honestly from a pair's own material.

For each pair the validity suite (bench/validity.py, tests/test_validity.py) scores, against the pair's
reference with the production scoring path: the reference itself; each other pair's podcast; the reference
shuffled by sentence; its first half; the paper read out; and the best generated podcast. The reference must
lose to none of them, and the read-out (which no listener would call a podcast) must not beat any human
podcast.

- shuffled: the transcript cut into its sentences (each Whisper segment cut after every sentence-final word, as
  the segmenter cuts it), put in a random order and laid end to end, each keeping its words, word timings and
  the pause before it: the audio of the recording spliced at sentence ends and played shuffled. Same words, same
  length, new order.
- first part: the words that end within the first `fraction` of the audio, the duration set to that fraction.
- read-out: the paper's own text, verbatim: the abstract, then the opening paragraph of each section in reading
  order, then the conclusion's paragraphs, cut at a word count (the reference's length at a reading pace);
  references, acknowledgements and appendices are left out. The suite speaks it with the project's TTS and
  hears it back, so it is scored as a generated podcast is.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from podcast_assets.core.analysis.segmentation import sentence_units
from podcast_assets.core.ingest.models import DocumentGraph, TranscriptionResult, TranscriptSegment, Word

READ_OUT_WPM = 150.0
"""The pace a read-out is cut to: it is spoken at the voice's own pace, about this."""
_LEFT_OUT = re.compile(
    r"reference|bibliograph|acknowledg|appendi|supplementa|funding|author contribution", re.I
)
_CONCLUSION = re.compile(r"conclu|summary|discussion|final remarks", re.I)


@dataclass(frozen=True)
class Piece:
    """One sentence of a transcript with its words and the pause before it."""

    start: float
    end: float
    words: tuple[Word, ...]
    text: str
    speaker: str | None
    pause_before: float


def text_of(transcription: TranscriptionResult) -> str:
    return " ".join(s.text.strip() for s in transcription.segments if s.text.strip())


def sentence_pieces(transcription: TranscriptionResult) -> list[Piece]:
    """The transcript's sentences as the segmenter cuts them (`sentence_units`), each with the pause before it."""
    pieces, previous_end = [], None
    for unit in sentence_units(transcription):
        pause = 0.0 if previous_end is None else max(0.0, unit.start - previous_end)
        pieces.append(Piece(unit.start, unit.end, unit.words, unit.text, unit.speaker, pause))
        previous_end = unit.end
    return pieces


def shuffled(transcription: TranscriptionResult, seed: str) -> TranscriptionResult:
    """The transcript's sentences in the order `seed` draws, each with its own timing and preceding pause."""
    pieces = sentence_pieces(transcription)
    order = pieces[:]
    random.Random(seed).shuffle(order)
    cursor = pieces[0].start if pieces else 0.0
    segments = []
    for i, piece in enumerate(order):
        shift = cursor + piece.pause_before - piece.start
        words = [w.model_copy(update={"start": w.start + shift, "end": w.end + shift}) for w in piece.words]
        segments.append(
            TranscriptSegment(
                id=i,
                start=piece.start + shift,
                end=piece.end + shift,
                text=piece.text,
                words=words,
                speaker=piece.speaker,
            )  # fmt: skip
        )
        cursor = piece.end + shift
    return transcription.model_copy(update={"segments": segments})


def first_part(transcription: TranscriptionResult, fraction: float) -> TranscriptionResult:
    """The words that end within the first `fraction` of the audio, with the duration cut to it."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    cut = transcription.duration * fraction
    segments = []
    for seg in transcription.segments:
        if seg.words:
            words = [w for w in seg.words if w.end <= cut]
            if words:
                text = " ".join(w.word.strip() for w in words if w.word.strip())
                segments.append(seg.model_copy(update={"words": words, "end": words[-1].end, "text": text}))
        elif seg.end <= cut:
            segments.append(seg)
    return transcription.model_copy(update={"segments": segments, "duration": cut})


def read_out_text(graph: DocumentGraph, seconds: float, *, words_per_minute: float = READ_OUT_WPM) -> str:
    """The paper read out (see the module docstring), cut after the sentence that reaches `seconds` of reading."""
    sections = {s.id: s for s in graph.sections}

    def titles(section_id: str | None) -> list[str]:
        out, seen = [], 0
        while section_id in sections and seen <= len(sections):
            out.append(sections[section_id].title)
            section_id, seen = sections[section_id].parent_id, seen + 1
        return out

    body = [
        a
        for a in graph.atoms
        if a.kind == "paragraph" and not any(_LEFT_OUT.search(t) for t in titles(a.section_id))
    ]
    openings, conclusion, seen_sections = [], [], set()
    for atom in body:
        if any(_CONCLUSION.search(t) for t in titles(atom.section_id)):
            conclusion.append(atom.text)
        elif atom.section_id not in seen_sections:
            seen_sections.add(atom.section_id)
            openings.append(atom.text)
    abstract = graph.abstract.strip() or " ".join(a.text for a in graph.atoms if a.kind == "abstract")
    budget = seconds * words_per_minute / 60
    out: list[str] = []
    count = 0
    for paragraph in [abstract, *openings, *conclusion]:
        for sentence in re.split(r"(?<=[.!?])\s+", " ".join(paragraph.split())):
            if count >= budget:
                return " ".join(out)
            if sentence:
                out.append(sentence)
                count += len(sentence.split())
    return " ".join(out)
