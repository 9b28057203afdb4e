"""Which visual to show when: the seed's rules, timed by the transcript's word timestamps.

Per aligned segment, in this order:
- a `figure` segment shows its figure with a Ken Burns zoom;
- a `key_finding` segment shows a quote card with its key sentence (the sentence naming the most key concepts
  and numbers);
- a segment that references a figure shows it with a slow pan;
- otherwise a title card with the segment's main concept and up to three bullet points of what it says (its
  sentences naming key concepts or numbers, shortened: `segment_points`).

Timing: a figure appears at the word that mentions it ("Figure 3", "fig. 3", "the third figure", else the first
word of its caption's key terms), not at the segment start, and stays until the next cue or the segment's
end; a quote card appears at the first word of its sentence. The stretch of a segment before its first
anchored cue shows a title card (or, when shorter than MIN_CARD_S, the previous visual stays). Without word
timestamps every cue starts at its segment's start and the alignment says so (`timing="segments"`).
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from dataclasses import dataclass

from podcast_assets.core.analysis.alignment import concept_pattern
from podcast_assets.core.analysis.models import AlignedSegment, AlignedSegments
from podcast_assets.core.ingest.models import DocumentGraph, Figure, TranscriptionResult, Word
from podcast_assets.core.text import (
    NUMBERED_REFERENCE,
    ORDINAL_REFERENCE,
    ORDINALS,
    SPOKEN_STOPWORDS,
    STOPWORDS,
    normalize_text,
    sentences,
)
from podcast_assets.core.video.models import SegmentSpan, VisualAlignment, VisualCue

ALIGNER = "cues-v2"
"""Changes with the rules: an alignment stored by other rules is made again before a video is rendered from it."""
MIN_CARD_S = 2.0
"""A lead-in title card shorter than this is not shown: the previous visual stays instead."""
CAPTION_TERM_MIN_CHARS = 4
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?%?")


@dataclass(frozen=True)
class FigureMention:
    """A figure named in the spoken words, at the start time of the word that begins the reference."""

    time: float
    figure_id: str
    words: str


def figure_mentions(words: list[Word], by_number: dict[int, str]) -> list[FigureMention]:
    """Figures named in the words, by number ('figure 3', 'fig. 3') or ordinal ('the third figure': the third
    numbered figure, as core/analysis/alignment.py counts), in time order. The words are joined with spaces
    and searched with the shared patterns of core/text.py, so a reference split across recogniser words is
    found; its time is the start of the word where it begins."""
    by_ordinal = {i + 1: by_number[n] for i, n in enumerate(sorted(by_number)[: len(ORDINALS)])}
    if not words or not by_number:
        return []
    offsets, parts, position = [], [], 0
    for w in words:
        token = w.word.strip()
        offsets.append(position)
        parts.append(token)
        position += len(token) + 1
    text = " ".join(parts)

    def word_at(char: int) -> int:
        lo, hi = 0, len(offsets) - 1
        while lo < hi:  # last word starting at or before char
            mid = (lo + hi + 1) // 2
            if offsets[mid] <= char:
                lo = mid
            else:
                hi = mid - 1
        return lo

    found: list[tuple[int, str, str]] = []
    for m in NUMBERED_REFERENCE.finditer(text):
        if m.group("figure") and int(m.group("number")) in by_number:
            found.append((word_at(m.start()), by_number[int(m.group("number"))], m.group(0)))
    for m in ORDINAL_REFERENCE.finditer(text):
        n = ORDINALS.index(m.group(1).lower()) + 1
        if n in by_ordinal:
            found.append((word_at(m.start()), by_ordinal[n], m.group(0)))
    found.sort()
    return [FigureMention(words[i].start, fid, said) for i, fid, said in found]


def _caption_terms(figure: Figure) -> set[str]:
    return {
        t
        for t in normalize_text(figure.caption)
        if len(t) >= CAPTION_TERM_MIN_CHARS
        and t not in STOPWORDS
        and t not in SPOKEN_STOPWORDS
        and not t.isdigit()
    }


def key_sentence(segment: AlignedSegment) -> str:
    """The segment's sentence naming the most key concepts and numbers (the first on a tie); the whole text if
    it has no sentence."""
    options = sentences(segment.text)
    if not options:
        return segment.text.strip()
    patterns = [concept_pattern(c) for c in segment.key_concepts if c.strip()]

    def weight(sentence: str) -> int:
        return sum(len(p.findall(sentence)) for p in patterns) + len(_NUMBER.findall(sentence))

    return max(options, key=lambda s: (weight(s), -options.index(s)))


MAX_POINTS = 3
POINT_WORDS = 14
_FILLER = re.compile(
    r"^(?:(?:so|and|but|well|now|okay|ok|right|yeah|yes|exactly|i mean|you know|basically|actually|like)"
    r"\b[,.]?\s*)+",
    re.IGNORECASE,
)
_SPLIT_OFF = re.compile(r"\s+(?=[.,%'’-]\w)")
"""A space the recogniser put inside a word ('5 .5', 'tile -based', "France 's")."""
_POINT_BREAK = re.compile(r",\s+|;\s+|\s+(?:and|but|which|because|so)\s+")


def point(sentence: str) -> str:
    """A spoken sentence as a bullet point: the talk's fillers at its start dropped ("So, I mean, ..."), a word
    the recogniser split joined ('5 .5'), cut at its first clause break past five words when it is longer than
    POINT_WORDS, at most POINT_WORDS words."""
    text = _SPLIT_OFF.sub("", _FILLER.sub("", sentence.strip())).rstrip(".!?,;: ")
    words = text.split()
    if len(words) > POINT_WORDS:
        for m in _POINT_BREAK.finditer(text):
            if 5 <= len(text[: m.start()].split()) <= POINT_WORDS:
                text = text[: m.start()]
                break
        words = text.split()
        text = " ".join(words[:POINT_WORDS]) + (" …" if len(words) > POINT_WORDS else "")
    return text[:1].upper() + text[1:]


def segment_points(segment: AlignedSegment, *, leave_out: str = "") -> list[str]:
    """Up to MAX_POINTS bullet points of what the segment says: its statements (not its questions) that name a
    key concept or a number (most first, kept in spoken order), `leave_out` (the quote card's sentence)
    excepted, as `point`s."""
    patterns = [concept_pattern(c) for c in segment.key_concepts if c.strip()]
    said = [
        s for s in sentences(segment.text)
        if s.strip() != leave_out.strip() and len(s.split()) >= 4 and not s.rstrip().endswith("?")
    ]  # fmt: skip
    weight = {s: sum(len(p.findall(s)) for p in patterns) + len(_NUMBER.findall(s)) for s in said}
    chosen = sorted((s for s in said if weight[s]), key=lambda s: -weight[s])[:MAX_POINTS]
    points = [point(s) for s in said if s in chosen]
    return list(dict.fromkeys(p for p in points if len(p.split()) >= 3))


def main_concept(segment: AlignedSegment, graph: DocumentGraph) -> str:
    if segment.key_concepts:
        return segment.key_concepts[0]
    if segment.technical_terms:
        return segment.technical_terms[0]
    return graph.title


def best_match(tokens: list[str], quote: list[str]) -> tuple[int, float]:
    """Where in `tokens` the quote's words are best found: (start index, share of the quote's words found in
    the window of the quote's length starting there, as a multiset). (0, 0.0) when either is empty."""
    if not tokens or not quote:
        return 0, 0.0
    size = len(quote)
    want = Counter(quote)
    best_i, best = 0, -1
    window = Counter(tokens[:size])
    for i in range(max(1, len(tokens) - size + 1)):
        if i:
            window[tokens[i - 1]] -= 1
            if i + size - 1 < len(tokens):
                window[tokens[i + size - 1]] += 1
        hits = sum(min(c, window[t]) for t, c in want.items())
        if hits > best:
            best_i, best = i, hits
    return best_i, best / size


def _words_in(words: list[Word], start: float, end: float) -> list[Word]:
    return [w for w in words if start <= (w.start + w.end) / 2 < end]


@dataclass
class _Event:
    time: float
    kind: str
    figure_id: str | None
    text: str
    motion: str
    reason: str
    anchored: bool  # starts at a word (mention, quote), not merely at the segment start
    points: tuple[str, ...] = ()


def _segment_events(
    seg: AlignedSegment,
    seg_words: list[Word],
    mentions: list[FigureMention],
    graph: DocumentGraph,
    figures: dict[str, Figure],
    use_words: bool,
) -> list[_Event]:
    concept = main_concept(seg, graph)
    refs = [f for f in seg.referenced_figures if f in figures]
    own = [m for m in mentions if seg.start <= m.time < seg.end] if use_words else []
    if seg.type == "figure" and (refs or own):
        motion, rule = "ken_burns", "figure discussion"
    elif seg.type == "key_finding":
        motion, rule = "slow_pan", "figure named in a key finding"
    elif refs or own:
        motion, rule = "slow_pan", "segment references a figure"
    else:
        motion, rule = "none", ""
    quote = key_sentence(seg) if seg.type == "key_finding" else ""
    points = tuple(segment_points(seg, leave_out=quote))
    events = [
        _Event(seg.start, "title_card", None, concept, "none",
               f"main concept of a {seg.type} segment" + (" and what it says" if points else ""), False, points)
    ]  # fmt: skip
    if seg.type == "key_finding":
        time, how = seg.start, "segment start"
        if use_words and seg_words:
            tokens, owner = [], []
            for i, w in enumerate(seg_words):
                for t in normalize_text(w.word):
                    tokens.append(t)
                    owner.append(i)
            at, share = best_match(tokens, normalize_text(quote))
            if share > 0:
                time, how = seg_words[owner[at]].start, f"first word of the sentence ({share:.0%} matched)"
        events.append(
            _Event(time, "quote_card", None, quote, "none", f"key finding's key sentence; at {how}", True)
        )
    for m in own:
        caption = figures[m.figure_id].caption
        events.append(
            _Event(m.time, "figure", m.figure_id, caption, motion, f"{rule}; spoken '{m.words}'", True)
        )
    for fid in refs:
        if any(m.figure_id == fid for m in own) or seg.type == "key_finding":
            continue
        time, how = seg.start, "segment start (not named in the words)"
        if use_words:
            terms = _caption_terms(figures[fid])
            hit = next((w for w in seg_words if set(normalize_text(w.word)) & terms), None)
            if hit is not None:
                time, how = hit.start, f"caption term '{hit.word.strip()}'"
        events.append(_Event(time, "figure", fid, figures[fid].caption, motion, f"{rule}; at {how}", True))
    events.sort(key=lambda e: (e.time, e.kind == "title_card"))
    # The lead-in title card yields to a cue anchored at the segment start, and is dropped when too short.
    first_anchor = min((e.time for e in events if e.anchored), default=seg.end)
    if first_anchor - seg.start < MIN_CARD_S and any(e.anchored for e in events):
        events = [e for e in events if e.anchored]
    # Successive events showing the same thing are one cue.
    merged: list[_Event] = []
    for e in events:
        if merged and (merged[-1].kind, merged[-1].figure_id, merged[-1].text) == (
            e.kind,
            e.figure_id,
            e.text,
        ):
            continue
        merged.append(e)
    return merged


def align_visuals(
    segments: AlignedSegments, transcription: TranscriptionResult, graph: DocumentGraph
) -> VisualAlignment:
    """The visuals of the podcast on its audio timeline (see the module's docstring for the rules)."""
    warnings: list[str] = []
    words = sorted(transcription.words, key=lambda w: w.start)
    use_words = bool(words)
    if not use_words:
        warnings.append("the transcription has no word timestamps: visuals are timed by segment starts")
    if not graph.figures:
        warnings.append("the paper has no figures: title and quote cards only")
    segs = sorted(segments.segments, key=lambda s: s.start)
    duration = max(transcription.duration, segs[-1].end if segs else 0.0)
    figures = {f.id: f for f in graph.figures}
    by_number = graph.figure_ids_by_number()
    mentions = figure_mentions(words, by_number) if use_words else []
    atom_pages = {a.id: a.page for a in graph.atoms}

    cues: list[VisualCue] = []
    for seg in segs:
        seg_end = min(seg.end, duration)
        if seg_end <= seg.start:
            continue
        seg_words = _words_in(words, seg.start, seg_end) if use_words else []
        events = _segment_events(seg, seg_words, mentions, graph, figures, use_words)
        segment_page = next((atom_pages[a] for a in seg.primary_atoms if a in atom_pages), None)
        for e, nxt in zip(events, [*events[1:], None], strict=True):
            start = max(e.time, seg.start, cues[-1].end if cues else 0.0)
            end = seg_end if nxt is None else min(nxt.time, seg_end)
            if end <= start:
                continue
            cues.append(
                VisualCue(
                    kind=e.kind,
                    figure_id=e.figure_id,
                    text=e.text,
                    points=list(e.points),
                    start=round(start, 3),
                    end=round(end, 3),
                    motion=e.motion,
                    segment_id=seg.id,
                    reason=e.reason,
                    page=figures[e.figure_id].page if e.figure_id else segment_page,
                )
            )
    # No gap on screen: the opening shows the paper's title, a pause keeps the previous visual.
    if not cues or cues[0].start > 0:
        end = cues[0].start if cues else duration
        if end > 0:
            cues.insert(
                0,
                VisualCue(kind="title_card", text=graph.title, start=0.0, end=end, reason="opening", page=1),
            )
    for prev, nxt in itertools.pairwise(cues):
        prev.end = max(prev.end, nxt.start)
    if cues:
        cues[-1].end = round(duration, 3)
    return VisualAlignment(
        pair_id=segments.pair_id,
        aligner=ALIGNER,
        duration=round(duration, 3),
        cues=cues,
        timing="words" if use_words else "segments",
        segments=[SegmentSpan(id=s.id, start=s.start, end=min(s.end, duration), type=s.type) for s in segs],
        figure_numbers=by_number,
        warnings=warnings,
    )


def shifted(alignment: VisualAlignment, seconds: float) -> VisualAlignment:
    """The same cues `seconds` later (what a sync check must catch), cut at the end of the audio (the segments' spans are the audio's and
    stay)."""
    cues = []
    for c in alignment.cues:
        start, end = min(c.start + seconds, alignment.duration), min(c.end + seconds, alignment.duration)
        if end > start:
            cues.append(c.model_copy(update={"start": start, "end": end}))
    return alignment.model_copy(update={"cues": cues})
