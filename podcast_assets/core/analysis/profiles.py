"""Per-pair profiles: the structure (segment types, durations, rates) and the style of one podcast."""

from __future__ import annotations

import io
import re
import statistics
from collections import Counter
from collections.abc import Iterable

from wordfreq import zipf_frequency

from podcast_assets.core.analysis.models import (
    FIGURE_STYLES,
    SEGMENT_TYPES,
    AlignedSegment,
    AlignedSegments,
    StructureProfile,
    StyleProfile,
)
from podcast_assets.core.ingest.models import TranscriptionResult
from podcast_assets.core.text import (
    ANALOGY,
    STOPWORDS,
    VISUAL_NOUNS,
    fold,
    is_question,
    names_a_numbered_visual,
    normalize_text,
    sentences,
)

_CLAUSE_END = re.compile(r"[,.;:!?\u2014]")
_OPENING_MAX_WORDS = 8
_NGRAM_SIZES = (2, 3, 4)
_RARE_ZIPF = 3.0
_ALPHA = re.compile(r"[a-z]+(?:'[a-z]+)?")

ENTHUSIASM_WORDS = (
    "amazing", "awesome", "brilliant", "cool", "exciting", "excited", "fantastic", "fascinating",
    "incredible", "remarkable", "stunning", "wonderful", "wow",
)  # fmt: skip
EMPHASIS_CUES = frozenset(
    "important crucial critical essential key remember notice really main takeaway bottom point highlight "
    "fundamental significant noting".split()
)
_EXAMPLE = re.compile(r"\b(?:for example|for instance|such as|let's say)\b")


def _opening(text: str) -> str:
    """The first clause of a text, lowercased, at most _OPENING_MAX_WORDS words."""
    return " ".join(normalize_text(_CLAUSE_END.split(text.strip(), maxsplit=1)[0])[:_OPENING_MAX_WORDS])


def _per_minute(count: float, seconds: float) -> float:
    return count * 60 / seconds if seconds > 0 else 0.0


def _audio_seconds(segments: AlignedSegments, transcription: TranscriptionResult) -> float:
    if transcription.duration > 0:
        return transcription.duration
    return max((s.end for s in segments.segments), default=0.0)


def _type_changes(segments: list[AlignedSegment]) -> list[AlignedSegment]:
    """Segments whose type differs from the previous segment's."""
    return [s for prev, s in zip(segments, segments[1:]) if s.type != prev.type]


def structure_profile(segments: AlignedSegments, transcription: TranscriptionResult) -> StructureProfile:
    """Sequence, durations, shares and rates of one podcast's typed segments."""
    segs = sorted(segments.segments, key=lambda s: (s.start, s.end))
    audio = _audio_seconds(segments, transcription)
    counts: Counter[str] = Counter()
    seconds: Counter[str] = Counter()
    words: Counter[str] = Counter()
    for s in segs:
        counts[s.type] += 1
        seconds[s.type] += s.duration
        words[s.type] += s.word_count
    order = [t for t in SEGMENT_TYPES if counts[t]]
    segmented = sum(seconds.values())
    concepts = {c.casefold() for s in segs for c in s.key_concepts}
    figures = list(dict.fromkeys(f for s in segs for f in s.referenced_figures))
    word_count = sum(words.values())
    return StructureProfile(
        pair_id=segments.pair_id,
        segment_sequence=[s.type for s in segs],
        segment_durations=[s.duration for s in segs],
        type_counts={t: counts[t] for t in order},
        duration_by_type={t: seconds[t] for t in order},
        mean_duration_by_type={t: seconds[t] / counts[t] for t in order},
        time_share_by_type={t: seconds[t] / segmented if segmented > 0 else 1 / len(order) for t in order},
        total_duration=audio,
        segmented_duration=segmented,
        segment_count=len(segs),
        word_count=word_count,
        words_per_minute=_per_minute(word_count, audio),
        wpm_by_type={t: _per_minute(words[t], seconds[t]) for t in order},
        concept_count=len(concepts),
        concepts_per_minute=_per_minute(len(concepts), audio),
        figures_discussed=figures,
        figure_count=len(figures),
        figures_per_minute=_per_minute(len(figures), audio),
        type_change_openings=[p for s in _type_changes(segs) if (p := _opening(s.text))],
    )


def _ngrams(text: str) -> Iterable[str]:
    """Word n-grams of the text that do not cross a clause or sentence boundary."""
    for clause in _CLAUSE_END.split(text):
        words = normalize_text(clause)
        for n in _NGRAM_SIZES:
            for i in range(len(words) - n + 1):
                yield " ".join(words[i : i + n])


def _role_phrases(
    role_texts: list[str], everywhere: Counter[str], must_contain: frozenset[str] | None = None
) -> list[str]:
    """N-grams of the role's texts that have at least half of their uses there; most frequent first."""
    role: Counter[str] = Counter(g for text in role_texts for g in _ngrams(text))
    kept = [
        g
        for g, c in role.items()
        if 2 * c >= everywhere[g]
        and any(w not in STOPWORDS for w in g.split())
        and (must_contain is None or any(w in must_contain for w in g.split()))
    ]
    return sorted(kept, key=lambda g: (-role[g], -len(g.split()), g))


def _term_alternation(terms: Iterable[str]) -> str | None:
    """A regex group matching any of the terms (case-folded, longest first), or None without terms."""
    alternatives = sorted({re.escape(fold(t)) for t in terms if t.strip()}, key=len, reverse=True)
    return "(?:" + "|".join(alternatives) + ")" if alternatives else None


def _definition_kind(sentence: str, terms: str | None) -> str | None:
    """'analogy', 'example' or 'copula' when the sentence defines one of the terms, else None."""
    lowered = fold(sentence)
    if terms is None or not re.search(rf"\b{terms}\b", lowered):
        return None
    if ANALOGY.search(lowered):
        return "analogy"
    if _EXAMPLE.search(lowered):
        return "example"
    stated = re.search(
        rf"\b{terms}\s+(?:is|are|means|refers to|stands for)\b"
        rf"|\b(?:called|known as)\s+(?:an?\s+|the\s+)?{terms}\b",
        lowered,
    )
    return "copula" if stated else None


def _jargon_occurrences(segment: AlignedSegment) -> int:
    text = fold(segment.text)
    return sum(
        max(1, len(re.findall(rf"\b{re.escape(fold(term))}\b", text)))
        for term in dict.fromkeys(segment.technical_terms)
    )


def _figure_mention(segment: AlignedSegment) -> str | None:
    if names_a_numbered_visual(segment.text):
        return "referenced_by_number"
    if segment.type == "figure" or segment.referenced_figures or VISUAL_NOUNS.search(segment.text):
        return "described"
    return None


def _speaker_count(segments: AlignedSegments, transcription: TranscriptionResult) -> int | None:
    labels = {s.speaker for s in transcription.segments if s.speaker}
    labels |= {label for s in segments.segments for label in s.speakers}
    return len(labels) or None


def style_profile(
    segments: AlignedSegments,
    transcription: TranscriptionResult,
    *,
    speaker_gender: str | None = None,
    speakers: int | None = None,
) -> StyleProfile:
    """Sentence shape, vocabulary, questions, analogies, definitions, stock phrases and figure talk."""
    segs = sorted(segments.segments, key=lambda s: (s.start, s.end))
    audio = _audio_seconds(segments, transcription)
    per_segment = [sentences(s.text) for s in segs]
    all_sentences = [sent for group in per_segment for sent in group]
    lengths = [len(normalize_text(sent)) for sent in all_sentences]
    tokens = [w for s in segs for w in normalize_text(s.text)]
    alpha = [w for w in tokens if _ALPHA.fullmatch(w)]
    zipfs = [zipf_frequency(w, "en") for w in alpha]
    lowered = fold(" ".join(s.text for s in segs))

    enthusiasm = Counter(w for w in tokens if w in ENTHUSIASM_WORDS)
    markers = {w: enthusiasm[w] for w in ENTHUSIASM_WORDS if enthusiasm[w]}
    if lowered.count("!"):
        markers["!"] = lowered.count("!")

    definitions: Counter[str] = Counter()
    for seg, group in zip(segs, per_segment):
        terms = _term_alternation([*seg.technical_terms, *seg.key_concepts])
        definitions.update(k for sent in group if (k := _definition_kind(sent, terms)))
    n_definitions = sum(definitions.values())

    mentions = Counter(m for s in segs if (m := _figure_mention(s)))
    figure_style = (
        max(mentions, key=lambda k: (mentions[k], -FIGURE_STYLES.index(k))) if mentions else "not_discussed"
    )

    everywhere: Counter[str] = Counter(g for s in segs for g in _ngrams(s.text))
    intro = [s.text for s in segs if s.type == "intro"] or [s.text for s in segs[:1]]
    conclusion = [s.text for s in segs if s.type == "conclusion"] or [s.text for s in segs[-1:]]
    transition = [
        group[0]
        for i, (s, group) in enumerate(zip(segs, per_segment))
        if group and (s.type == "transition" or (i > 0 and s.type != segs[i - 1].type))
    ]
    emphasis = [sent for sent in all_sentences if EMPHASIS_CUES & set(normalize_text(sent))]

    examples = len(_EXAMPLE.findall(lowered))
    questions = sum(map(is_question, all_sentences))
    analogies = sum(len(s.analogies) for s in segs)
    return StyleProfile(
        pair_id=segments.pair_id,
        sentence_count=len(all_sentences),
        word_count=len(tokens),
        mean_sentence_length=statistics.fmean(lengths) if lengths else 0.0,
        sentence_length_sd=statistics.pstdev(lengths) if lengths else 0.0,
        vocabulary_complexity=sum(z < _RARE_ZIPF for z in zipfs) / len(zipfs) if zipfs else 0.0,
        mean_word_zipf=statistics.fmean(zipfs) if zipfs else 0.0,
        jargon_density=100 * sum(_jargon_occurrences(s) for s in segs) / len(tokens) if tokens else 0.0,
        question_count=questions,
        questions_per_minute=_per_minute(questions, audio),
        analogy_count=analogies,
        analogies_per_segment=analogies / len(segs) if segs else 0.0,
        enthusiasm_markers=markers,
        enthusiasm_per_minute=_per_minute(sum(markers.values()), audio),
        definition_count=n_definitions,
        definition_style={k: definitions[k] / n_definitions for k in sorted(definitions)},
        example_count=examples,
        example_frequency=_per_minute(examples, audio),
        intro_phrases=_role_phrases(intro, everywhere),
        transition_phrases=_role_phrases(transition, everywhere),
        emphasis_phrases=_role_phrases(emphasis, everywhere, EMPHASIS_CUES),
        conclusion_phrases=_role_phrases(conclusion, everywhere),
        figure_mentions=dict(sorted(mentions.items())),
        figure_style=figure_style,
        speaker_gender=speaker_gender,
        speaker_count=speakers if speakers is not None else _speaker_count(segments, transcription),
    )


def _fmt(value: float) -> str:
    return f"{value:.2f}"


def profile_markdown(structure: StructureProfile, style: StyleProfile, *, phrases_shown: int = 5) -> str:
    """Markdown tables of one pair's structure (per type) and style (per metric)."""
    lines = [
        f"### {structure.pair_id}",
        "",
        f"{structure.segment_count} segments, {structure.total_duration / 60:.1f} min of audio, "
        f"{structure.words_per_minute:.0f} words/min, {structure.concepts_per_minute:.2f} concepts/min, "
        f"{structure.figure_count} figures",
        "",
        "Sequence: " + " → ".join(structure.segment_sequence),
        "",
        "| type | segments | seconds | mean s | share | wpm |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {t} | {n} | {structure.duration_by_type[t]:.0f} | {structure.mean_duration_by_type[t]:.1f} | "
        f"{structure.time_share_by_type[t]:.0%} | {structure.wpm_by_type[t]:.0f} |"
        for t, n in structure.type_counts.items()
    ]
    rows = [
        (
            "mean sentence length (words)",
            f"{_fmt(style.mean_sentence_length)} ± {_fmt(style.sentence_length_sd)}",
        ),
        ("vocabulary complexity (rare-word share)", f"{style.vocabulary_complexity:.1%}"),
        ("jargon density (terms / 100 words)", _fmt(style.jargon_density)),
        ("questions / min", _fmt(style.questions_per_minute)),
        ("analogies / segment", _fmt(style.analogies_per_segment)),
        ("examples / min", _fmt(style.example_frequency)),
        ("enthusiasm / min", _fmt(style.enthusiasm_per_minute)),
        ("definitions", ", ".join(f"{k} {v:.0%}" for k, v in style.definition_style.items()) or "none"),
        ("figure style", style.figure_style),
        ("speakers", f"{style.speaker_count or '?'} ({style.speaker_gender or 'unknown'})"),
    ]
    rows += [
        (f"{role} phrases", "; ".join(getattr(style, f"{role}_phrases")[:phrases_shown]) or "none")
        for role in ("intro", "transition", "emphasis", "conclusion")
    ]
    lines += ["", "| style | value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines)


def type_colour(segment_type: str) -> tuple[float, ...]:
    """A fixed colour per segment type, the same in every chart."""
    from matplotlib import colormaps

    palette = colormaps["tab20"].colors
    slot = 2 * SEGMENT_TYPES.index(segment_type)
    return (*palette[slot % len(palette) + slot // len(palette)], 1.0)


def timeline_png(
    segments: AlignedSegments, duration: float, *, width_px: int = 900, height_px: int = 160
) -> bytes:
    """A PNG timeline of the typed segments over the audio: one colour per type, with a legend."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    dpi = 100
    fig = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.02, 0.3, 0.74, 0.6))
    present = [t for t in SEGMENT_TYPES if any(s.type == t for s in segments.segments)]
    for t in present:
        spans = [(s.start, s.duration) for s in segments.segments if s.type == t]
        ax.broken_barh(spans, (0, 1), facecolors=type_colour(t), edgecolor="white", linewidth=0.3)
    end = max(duration, max((s.end for s in segments.segments), default=0.0)) or 1.0
    ax.set_xlim(0, end)
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    ax.tick_params(axis="x", labelsize=6)
    ax.set_xlabel("seconds", fontsize=6, labelpad=1)
    ax.set_title(segments.pair_id, fontsize=7, loc="left", pad=2)
    fig.legend(
        handles=[Patch(color=type_colour(t), label=t) for t in present],
        loc="center right",
        ncol=2,
        fontsize=5.5,
        frameon=False,
        handlelength=1,
        columnspacing=0.8,
    )
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()
