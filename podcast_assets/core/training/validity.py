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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from podcast_assets.core.analysis.aggregate import learn_aggregated_profile
from podcast_assets.core.analysis.alignment import analyse_pair
from podcast_assets.core.analysis.models import AlignedSegments, StyleVariant
from podcast_assets.core.analysis.profiles import structure_profile, style_profile
from podcast_assets.core.analysis.segmentation import sentence_units
from podcast_assets.core.analysis.selection import PairRecords, Selection
from podcast_assets.core.config import PipelineConfig
from podcast_assets.core.ingest.models import DocumentGraph, TranscriptionResult, TranscriptSegment, Word
from podcast_assets.core.training.models import LossDetails, Losses
from podcast_assets.core.training.scoring import score

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


# --------------------------------------------------------------------------- scoring candidates


@dataclass(frozen=True)
class Material:
    """A pair's reference and paper, the reference analysed as the pipeline analyses it."""

    transcription: TranscriptionResult
    graph: DocumentGraph
    segments: AlignedSegments


@dataclass(frozen=True)
class Scored:
    label: str
    kind: str
    """reference, other (another pair's podcast), shuffled, first_half, read_out or generated."""
    losses: Losses
    details: LossDetails


HUMAN = ("reference", "other")
"""Kinds that are someone's podcast (of this paper or of another)."""


class Scorer:
    """Scores any candidate against one pair's reference with the production path (`scoring.score`): the
    candidate's transcript analysed against the pair's paper by the local analyser, the style learned from all
    the pairs by the aggregate (its 'all' variant), the key concepts the `depth` asks for."""

    def __init__(
        self,
        pairs: Mapping[str, tuple[TranscriptionResult, DocumentGraph]],
        config: PipelineConfig,
        depth: str,
    ):
        self.config, self.depth = config, depth
        self.pairs = {
            pair_id: Material(transcription, graph, analyse_pair(pair_id, transcription, graph))
            for pair_id, (transcription, graph) in sorted(pairs.items())
        }
        records = [
            PairRecords(m.segments, structure_profile(m.segments, m.transcription), style_profile(m.segments, m.transcription))
            for m in self.pairs.values()
        ]  # fmt: skip
        profile = learn_aggregated_profile(
            Selection(used=records),
            depths=config.depth_targets,
            version=1,
            created_at=datetime.now(UTC).isoformat(),
        )
        self.style: StyleVariant = profile.style_variants["all"]

    def score(
        self, pair_id: str, heard: TranscriptionResult, script_text: str | None = None
    ) -> tuple[Losses, LossDetails]:
        """`heard` (a transcript of the candidate's audio) scored against the pair's reference; `script_text` is
        what was written to be spoken (the transcript's own text for a recording)."""
        pair = self.pairs[pair_id]
        segments = analyse_pair(pair_id, heard, pair.graph)
        return score(
            script_text=text_of(heard) if script_text is None else script_text,
            writer_types=[s.type for s in segments.segments],
            spoken=heard,
            spoken_segments=segments,
            spoken_seconds=heard.duration,
            reference_seconds=pair.transcription.duration,
            reference_segments=pair.segments,
            reference_text=text_of(pair.transcription),
            graph=pair.graph,
            style=self.style,
            weights=self.config.loss_weights,
            key_concepts=self.config.depth_targets[self.depth].key_concepts,
        )


Hear = Callable[[str], TranscriptionResult]
"""Speaks a text with the project's TTS and transcribes the audio back with its ASR."""


def candidates(
    scorer: Scorer,
    pair_id: str,
    *,
    hear: Hear | None,
    shuffle_seeds: tuple[str, ...] = ("0",),
    generated: Mapping[str, tuple[TranscriptionResult, str]] | None = None,
) -> Iterator[Scored]:
    """Every candidate of the suite for one pair, scored: the reference, each other pair's podcast, the
    reference shuffled (once per seed), its first half, the paper read out (when `hear` is given) and the
    generated podcasts given as label -> (their round-trip transcript, their script)."""
    pair = scorer.pairs[pair_id]

    def scored(label: str, kind: str, heard: TranscriptionResult, text: str | None = None) -> Scored:
        return Scored(label, kind, *scorer.score(pair_id, heard, text))

    yield scored("reference", "reference", pair.transcription)
    for other_id, other in scorer.pairs.items():
        if other_id != pair_id:
            yield scored(f"podcast of {other_id}", "other", other.transcription)
    for seed in shuffle_seeds:
        yield scored(f"shuffled (seed {seed})", "shuffled", shuffled(pair.transcription, f"{pair_id}:{seed}"))
    yield scored("first half", "first_half", first_part(pair.transcription, 0.5))
    if hear is not None:
        text = read_out_text(pair.graph, pair.transcription.duration)
        yield scored("paper read out", "read_out", hear(text), text)
    for label, (heard, script) in (generated or {}).items():
        yield scored(label, "generated", heard, script)


def failed_orders(table: list[Scored]) -> list[str]:
    """What the suite requires of one pair's table, each broken requirement in words (none: it passes).

    - the reference's total is below every shuffled, first-half, read-out and other-paper candidate's;
    - the read-out scores worse than the reference on coverage and on quality too;
    - the semantic similarity to the reference is higher for each same-paper candidate that is not a copy of the
      reference (the read-out, the generated podcasts) than for any other paper's podcast."""
    reference = next(c for c in table if c.kind == "reference")
    failures = []
    for c in table:
        if (
            c.kind in ("other", "shuffled", "first_half", "read_out")
            and not c.losses.total > reference.losses.total
        ):
            failures.append(
                f"{c.label}: total {c.losses.total:.3f} is not above the reference's {reference.losses.total:.3f}"
            )
        if c.kind == "read_out":
            for loss in ("coverage", "quality"):
                mine, theirs = getattr(c.losses, loss), getattr(reference.losses, loss)
                if not mine > theirs:
                    failures.append(f"{c.label}: {loss} {mine:.3f} is not above the reference's {theirs:.3f}")
    others = [c.details.semantic_similarity or 0.0 for c in table if c.kind == "other"]
    for c in table:
        if (
            c.kind in ("read_out", "generated")
            and others
            and not (c.details.semantic_similarity or 0.0) > max(others)
        ):
            failures.append(
                f"{c.label}: semantic similarity {c.details.semantic_similarity:.3f} is not above the best other "
                f"paper's podcast ({max(others):.3f})"
            )
    return failures


def row(c: Scored) -> str:
    """One candidate's losses, its semantic similarity and how many concepts it only named, as a table row."""
    parts = " ".join(
        f"{k[:3]} {getattr(c.losses, k):.3f}"
        for k in ("duration", "coverage", "structure", "quality", "rouge")
    )
    return (
        f"total {c.losses.total:.3f} ({parts}) semantic {c.details.semantic_similarity or 0.0:.3f} "
        f"named-only {len(c.details.concepts_named_only)}"
    )
