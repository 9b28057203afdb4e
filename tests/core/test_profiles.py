from __future__ import annotations

import struct
from typing import Any

import pytest

from podcast_assets.core.analysis.models import AlignedSegment, AlignedSegments
from podcast_assets.core.analysis.pair_check import podcast_matches_paper
from podcast_assets.core.analysis.profiles import (
    profile_markdown,
    structure_profile,
    style_profile,
    timeline_png,
)
from podcast_assets.core.ingest.models import TranscriptionResult, TranscriptSegment
from podcast_assets.core.text import normalize_text

Spec = tuple[str, float, str] | tuple[str, float, str, dict[str, Any]]


def build_pair(
    pair_id: str, spec: list[Spec], *, duration: float | None = None, speaker: str | None = None
) -> tuple[AlignedSegments, TranscriptionResult]:
    """Segments laid end to end from (type, seconds, text[, extra segment fields]) plus a transcript."""
    segments, transcript, start = [], [], 0.0
    for i, (kind, seconds, text, *extra) in enumerate(spec):
        words = len(normalize_text(text))
        segments.append(
            AlignedSegment(
                id=f"seg{i:03d}",
                start=start,
                end=start + seconds,
                text=text,
                type=kind,
                type_confidence=1.0,
                word_count=words,
                words_per_minute=words / seconds * 60,
                density_score=0.0,
                **(extra[0] if extra else {}),
            )
        )
        transcript.append(
            TranscriptSegment(id=i, start=start, end=start + seconds, text=text, speaker=speaker)
        )
        start += seconds
    aligned = AlignedSegments(
        pair_id=pair_id,
        classifier="test",
        segments=segments,
        mean_alignment=0.5,
        concept_coverage=0.5,
        match=podcast_matches_paper(0.5, 0.5, 0.6),
    )
    transcription = TranscriptionResult(
        audio_sha256="0" * 64,
        provider="test",
        model="test",
        language="en",
        duration=start if duration is None else duration,
        segments=transcript,
        mean_confidence=0.9,
        processing_seconds=0.0,
    )
    return aligned, transcription


FIVE_PART = [
    (
        "intro",
        30,
        "Welcome to the show. Today we read a paper about attention.",
        {"key_concepts": ["attention"]},
    ),
    (
        "background",
        60,
        "So first some context, transformers changed language models.",
        {"key_concepts": ["Transformers"]},
    ),
    (
        "methodology",
        90,
        "Now let's move on to how it works. The model uses sparse attention in figure 2.",
        {"key_concepts": ["sparse attention", "Attention"], "referenced_figures": ["fig-2"]},
    ),
    (
        "key_finding",
        120,
        "The big result is a speedup. It is really important.",
        {"referenced_figures": ["fig-3", "fig-2"]},
    ),
    ("conclusion", 30, "So to wrap up, thanks for listening.", {}),
]


def test_structure_profile_of_a_five_part_podcast():
    segments, transcription = build_pair("p1", FIVE_PART)
    profile = structure_profile(segments, transcription)
    order = ["intro", "background", "methodology", "key_finding", "conclusion"]
    assert profile.segment_sequence == order
    assert profile.type_counts == dict.fromkeys(order, 1)
    assert profile.segment_count == 5
    assert profile.total_duration == profile.segmented_duration == 330
    assert profile.duration_by_type["key_finding"] == 120
    assert sum(profile.time_share_by_type.values()) == pytest.approx(1.0)
    assert profile.time_share_by_type["methodology"] == pytest.approx(90 / 330)
    words = sum(len(normalize_text(text)) for _, _, text, _ in FIVE_PART)
    assert profile.word_count == words
    assert profile.words_per_minute == pytest.approx(words / 5.5)
    assert profile.wpm_by_type["intro"] == pytest.approx(len(normalize_text(FIVE_PART[0][2])) * 2)
    assert profile.concept_count == 3  # attention, transformers, sparse attention (case-folded)
    assert profile.concepts_per_minute == pytest.approx(3 / 5.5)
    assert profile.figures_discussed == ["fig-2", "fig-3"]
    assert profile.figure_count == 2
    assert profile.type_change_openings == [
        "so first some context",
        "now let's move on to how it works",
        "the big result is a speedup",
        "so to wrap up",
    ]


def test_repeated_types_are_counted_and_averaged():
    spec = [
        ("intro", 10, "Hi."),
        ("background", 20, "One."),
        ("background", 40, "Two."),
        ("conclusion", 10, "Bye."),
    ]
    profile = structure_profile(*build_pair("p", spec, duration=100))
    assert profile.type_counts["background"] == 2
    assert profile.mean_duration_by_type["background"] == 30
    assert profile.total_duration == 100 and profile.segmented_duration == 80
    assert profile.time_share_by_type["background"] == pytest.approx(60 / 80)
    assert profile.type_change_openings == ["one", "bye"]


def test_style_counts_questions_examples_enthusiasm_and_sentences():
    spec = [
        ("intro", 60, "Welcome to the show! What is attention? Why does it matter? Wow, it is amazing."),
        ("methodology", 60, "For example, take a sentence. Such as this one, let\u2019s say. Who knew?"),
    ]
    style = style_profile(*build_pair("p", spec))
    assert style.question_count == 3
    assert style.questions_per_minute == pytest.approx(1.5)
    assert style.example_count == 3
    assert style.example_frequency == pytest.approx(1.5)
    assert style.enthusiasm_markers == {"amazing": 1, "wow": 1, "!": 1}
    assert style.enthusiasm_per_minute == pytest.approx(1.5)
    assert style.sentence_count == 7
    lengths = [4, 3, 4, 4, 5, 6, 2]
    assert style.mean_sentence_length == pytest.approx(sum(lengths) / 7)
    assert style.sentence_length_sd > 0
    assert style.word_count == sum(lengths)


def test_definitions_are_classified_by_style():
    terms = {"technical_terms": ["attention"], "key_concepts": ["softmax"]}
    spec = [
        (
            "background",
            60,
            "Attention is a way to weigh tokens. Think of softmax as a voting machine. "
            "Attention helps, for example, with long sentences. Attention was popular. The weather is nice.",
            terms,
        )
    ]
    style = style_profile(*build_pair("p", spec))
    assert style.definition_count == 3
    assert style.definition_style == pytest.approx({"analogy": 1 / 3, "copula": 1 / 3, "example": 1 / 3})
    # "attention" appears three times in 27 words
    assert style.jargon_density == pytest.approx(100 * 3 / style.word_count)


def test_vocabulary_complexity_rises_with_rare_words():
    plain = style_profile(*build_pair("a", [("intro", 60, "We like the house and the good dog.")]))
    rare = style_profile(*build_pair("b", [("intro", 60, "We like heteroscedastic eigendecomposition.")]))
    assert plain.vocabulary_complexity == 0
    assert rare.vocabulary_complexity == pytest.approx(2 / 4)
    assert rare.mean_word_zipf < plain.mean_word_zipf


def test_role_phrases_come_from_their_positions():
    spec = [
        ("intro", 20, "Welcome to the deep dive. Today we read a paper."),
        ("background", 30, "Let's move on to the background. The data came from labs."),
        ("methodology", 30, "Let's move on to the method. The key point here is the loss."),
        ("conclusion", 20, "Thanks for listening. See you next time."),
    ]
    style = style_profile(*build_pair("p", spec))
    assert "welcome to the deep" in style.intro_phrases
    assert "let's move on to" in style.transition_phrases
    assert style.transition_phrases[0] in {
        "let's move on",
        "move on to",
        "let's move on to",
        "let's move",
        "move on",
    }
    assert all(any(cue in p.split() for cue in ("key", "point")) for p in style.emphasis_phrases)
    assert "key point here" in style.emphasis_phrases
    assert "thanks for listening" in style.conclusion_phrases
    assert not set(style.intro_phrases) & {"thanks for listening"}


def test_figure_style_and_speakers():
    numbered = [
        ("figure", 30, "In figure 3 the loss drops."),
        ("key_finding", 30, "Figure 4 shows it again."),
    ]
    described = [("figure", 30, "The plot shows a curve going down.", {"referenced_figures": ["fig-1"]})]
    silent = [("intro", 30, "Hello there.")]
    assert style_profile(*build_pair("a", numbered)).figure_mentions == {"referenced_by_number": 2}
    assert style_profile(*build_pair("a", numbered)).figure_style == "referenced_by_number"
    assert style_profile(*build_pair("b", described)).figure_style == "described"
    quiet = style_profile(*build_pair("c", silent, speaker="SPEAKER_0"), speaker_gender="female")
    assert quiet.figure_style == "not_discussed" and quiet.figure_mentions == {}
    assert quiet.speaker_count == 1 and quiet.speaker_gender == "female"
    assert style_profile(*build_pair("c", silent), speakers=2).speaker_count == 2
    assert style_profile(*build_pair("c", silent)).speaker_count is None


def test_analogies_per_segment_uses_the_aligned_analogies():
    spec = [
        ("background", 30, "It is like a library.", {"analogies": ["like a library"]}),
        ("methodology", 30, "Plain text.", {}),
    ]
    style = style_profile(*build_pair("p", spec))
    assert style.analogy_count == 1 and style.analogies_per_segment == 0.5


def test_profile_markdown_has_a_row_per_type():
    segments, transcription = build_pair("p1", FIVE_PART)
    text = profile_markdown(
        structure_profile(segments, transcription), style_profile(segments, transcription)
    )
    assert "| type | segments |" in text
    for kind in ("intro", "background", "methodology", "key_finding", "conclusion"):
        assert f"| {kind} | 1 |" in text
    assert "questions / min" in text


def test_timeline_png_is_a_small_png():
    segments, transcription = build_pair("p1", FIVE_PART)
    png = timeline_png(segments, transcription.duration)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (900, 160)
    assert len(png) < 100_000
