"""The visual alignment and its sync QA (core/video): real pairs for the timing, small synthetic cases for
the edges (no figures, no word timestamps)."""

from __future__ import annotations

import pytest

from podcast_assets.core.analysis.alignment import analyse_pair
from podcast_assets.core.analysis.models import AlignedSegment, AlignedSegments, MatchVerdict
from podcast_assets.core.ingest.models import (
    BBox,
    DocumentGraph,
    Figure,
    TranscriptionResult,
    TranscriptSegment,
    Word,
)
from podcast_assets.core.video.alignment import align_visuals, figure_mentions, key_sentence, shifted
from podcast_assets.core.video.sync import sync_qa

SHIFT_S = 10.0


@pytest.fixture(scope="module")
def real_alignments(real_pairs) -> dict:
    """{pair_id: (VisualAlignment, TranscriptionResult)} for every real pair."""
    if not real_pairs:
        pytest.skip("no real pair was ingested")
    out = {}
    for pair_id, (transcription, graph) in sorted(real_pairs.items()):
        segments = analyse_pair(pair_id, transcription, graph)
        out[pair_id] = (align_visuals(segments, transcription, graph), transcription)
    return out


def test_real_cues_lie_within_the_audio_and_do_not_overlap(real_alignments):
    for pair_id, (alignment, transcription) in real_alignments.items():
        assert alignment.timing == "words", pair_id
        assert alignment.cues, pair_id
        assert alignment.duration >= transcription.duration - 1e-3
        for c in alignment.cues:
            assert 0 <= c.start < c.end <= alignment.duration + 1e-6, (pair_id, c)
        for a, b in zip(alignment.cues, alignment.cues[1:], strict=False):
            assert a.end <= b.start + 1e-6, (pair_id, a, b)
        # no hole on screen
        assert alignment.cues[0].start == 0
        assert all(
            abs(a.end - b.start) < 1e-6 for a, b in zip(alignment.cues, alignment.cues[1:], strict=False)
        )


def test_real_title_cards_are_slides_of_what_their_segment_says(real_alignments, real_pairs):
    from podcast_assets.core.text import normalize_text
    from podcast_assets.core.video.alignment import POINT_WORDS

    for pair_id, (alignment, transcription) in real_alignments.items():
        segments = {s.id: s for s in analyse_pair(pair_id, transcription, real_pairs[pair_id][1]).segments}
        cards = [c for c in alignment.cues if c.kind == "title_card" and c.segment_id]
        with_points = [c for c in cards if c.points]
        assert len(with_points) >= 0.5 * len(cards), (pair_id, len(with_points), len(cards))
        for cue in with_points:
            said = set(normalize_text(segments[cue.segment_id].text))
            for point in cue.points:
                words = normalize_text(point)
                assert len(point.removesuffix(" …").split()) <= POINT_WORDS, point
                assert set(words) <= said, (pair_id, point)  # said in the segment, nothing made up
        print(pair_id, [c.points for c in with_points[:2]])


def test_real_figure_cues_start_at_a_mention_word(real_alignments):
    checked = 0
    for pair_id, (alignment, transcription) in real_alignments.items():
        mentions = figure_mentions(transcription.words, alignment.figure_numbers)
        word_starts = {round(w.start, 3) for w in transcription.words}
        mention_times = {(round(m.time, 3), m.figure_id) for m in mentions}
        for c in alignment.cues:
            if c.kind != "figure":
                continue
            if "spoken" in c.reason:
                assert (c.start, c.figure_id) in mention_times, (pair_id, c)
                checked += 1
            else:  # caption term or segment start: still at a word or a segment boundary
                spans = {round(s.start, 3) for s in alignment.segments}
                assert c.start in word_starts or c.start in spans, (pair_id, c)
        # every spoken mention inside a segment has its figure on screen at that moment
        for m in mentions:
            if any(s.start <= m.time < s.end for s in alignment.segments):
                on = [c for c in alignment.cues if c.start <= m.time + 1e-6 < c.end + 1e-6]
                assert any(c.figure_id == m.figure_id for c in on), (pair_id, m)
    if not checked:
        pytest.skip("no real transcript names a figure by number or ordinal (see the spliced test below)")


def _splice_mention(transcription: TranscriptionResult, at: float, number: int) -> TranscriptionResult:
    """The real transcript with the two words starting nearest `at` replaced by 'Figure <number>'."""
    segments = [s.model_copy(deep=True) for s in transcription.segments]
    words = [w for s in segments for w in s.words]
    i = min(range(len(words) - 1), key=lambda k: abs(words[k].start - at))
    words[i].word, words[i + 1].word = " Figure", f" {number}"
    for s in segments:
        s.text = "".join(w.word for w in s.words).strip()
    return transcription.model_copy(update={"segments": segments})


def test_a_figure_named_in_a_real_transcript_appears_at_its_word(real_pairs):
    """The real podcasts never say 'Figure <n>', so one mention is spliced into each real transcript in the
    middle of its third segment: the figure must appear at that word, and 10 s late it is missed."""
    spliced = 0
    for pair_id, (transcription, graph) in sorted(real_pairs.items()):
        numbers = sorted(f.number for f in graph.figures if f.number is not None)
        if not numbers:
            continue
        first = analyse_pair(pair_id, transcription, graph).segments
        if len(first) < 3:
            continue
        at = (first[2].start + first[2].end) / 2
        edited = _splice_mention(transcription, at, numbers[0])
        alignment = align_visuals(analyse_pair(pair_id, edited, graph), edited, graph)
        (mention,) = figure_mentions(edited.words, alignment.figure_numbers)
        shown = [c for c in alignment.cues if c.kind == "figure" and c.figure_id == mention.figure_id]
        assert any(c.start == round(mention.time, 3) for c in shown), (pair_id, mention, shown)
        real, late = sync_qa(alignment, edited), sync_qa(shifted(alignment, SHIFT_S), edited)
        assert real.figure_timing_accuracy == 1.0 and late.figure_timing_accuracy == 0.0, pair_id
        assert any(d.kind == "figure_late_or_missing" for d in late.desync_points)
        spliced += 1
    assert spliced


def test_real_alignment_syncs_and_shifting_it_by_10_s_fails(real_alignments):
    print()
    for pair_id, (alignment, transcription) in real_alignments.items():
        real = sync_qa(alignment, transcription)
        late = sync_qa(shifted(alignment, SHIFT_S), transcription)
        print(
            f"{pair_id}: real {real.sync_score:.1f} (coverage {real.visual_coverage:.2f}, figures "
            f"{real.figure_timing_accuracy} of {real.figure_mentions}, quotes {real.quote_timing_accuracy} of "
            f"{real.quote_cards}, {len(real.desync_points)} desyncs) | shifted +{SHIFT_S:.0f}s "
            f"{late.sync_score:.1f} (coverage {late.visual_coverage:.2f}, figures {late.figure_timing_accuracy}, "
            f"quotes {late.quote_timing_accuracy}, {len(late.desync_points)} desyncs)"
        )
        assert real.passed, (pair_id, real)
        assert not late.passed, (pair_id, late)
        assert late.sync_score <= real.sync_score - 20, pair_id
        assert len(late.desync_points) > len(real.desync_points), pair_id


# --------------------------------------------------------------------------- synthetic edges


def _words(text: str, start: float = 0.0, step: float = 0.5) -> list[Word]:
    return [
        Word(word=" " + w, start=start + i * step, end=start + i * step + step * 0.8, probability=0.9)
        for i, w in enumerate(text.split())
    ]


def _transcription(texts: list[str], *, with_words: bool = True) -> TranscriptionResult:
    segments, t = [], 0.0
    for i, text in enumerate(texts):
        words = _words(text, t)
        end = t + 0.5 * len(words)
        segments.append(
            TranscriptSegment(id=i, start=t, end=end, text=text, words=words if with_words else [])
        )
        t = end
    return TranscriptionResult(
        audio_sha256="x",
        provider="test",
        model="test",
        language="en",
        duration=t,
        segments=segments,
        mean_confidence=0.9,
        processing_seconds=0.0,
    )


def _segment(i: int, start: float, end: float, text: str, type_: str, **kw) -> AlignedSegment:
    return AlignedSegment(
        id=f"s{i:03d}",
        start=start,
        end=end,
        text=text,
        type=type_,
        type_confidence=0.8,
        word_count=len(text.split()),
        words_per_minute=120,
        density_score=1.0,
        **kw,
    )


def _graph(figures: int) -> DocumentGraph:
    return DocumentGraph(
        pdf_sha256="x",
        extractor_version="t",
        page_count=3,
        title="Wheat yields under heat stress",
        figures=[
            Figure(
                id=f"fig-{n}",
                number=n,
                caption=f"Yield anomaly map number {n}",
                page=2,
                bbox=BBox(x0=0, y0=0, x1=1, y1=1),
                image_path="x.png",
                width_px=10,
                height_px=10,
            )
            for n in range(1, figures + 1)
        ],
    )


TEXTS = [
    "Today we look at wheat yields and how heat stress lowers them across Europe in recent decades.",
    "The key result is clear. Heat stress cut wheat yields by 12 percent per degree of warming in the south.",
    "Now look at this carefully because Figure 2 shows the yield anomaly map for every region we studied.",
    "Finally the authors discuss adaptation and what farmers might do about heat stress next.",
]
TYPES = ["intro", "key_finding", "figure", "conclusion"]


def synthetic_case(figures: int, *, with_words: bool = True):
    transcription = _transcription(TEXTS, with_words=with_words)
    graph = _graph(figures)
    segs = [
        _segment(
            i + 1,
            s.start,
            s.end,
            s.text,
            TYPES[i],
            key_concepts=["heat stress", "wheat yields"],
            referenced_figures=["fig-2"] if figures >= 2 and i == 2 else [],
        )
        for i, s in enumerate(transcription.segments)
    ]
    aligned = AlignedSegments(
        pair_id="synthetic",
        classifier="test",
        segments=segs,
        mean_alignment=0.5,
        concept_coverage=0.5,
        match=MatchVerdict(passed=True, rule="test", figures={}, description=""),
    )
    return aligned, transcription, graph


def test_rules_and_word_timing_on_a_small_case():
    aligned, transcription, graph = synthetic_case(3)
    alignment = align_visuals(aligned, transcription, graph)
    assert alignment.timing == "words"
    by_segment = {}
    for c in alignment.cues:
        by_segment.setdefault(c.segment_id, []).append(c)
    assert [c.kind for c in by_segment["s001"]] == ["title_card"]
    assert by_segment["s001"][0].text == "heat stress"
    quote = [c for c in by_segment["s002"] if c.kind == "quote_card"]
    assert quote and quote[0].text.startswith("Heat stress cut wheat yields by 12 percent")
    spoken_at = next(w.start for w in transcription.words if w.word.strip() == "Heat")
    assert quote[0].start == spoken_at
    figure = [c for c in by_segment["s003"] if c.kind == "figure"]
    assert len(figure) == 1 and figure[0].figure_id == "fig-2" and figure[0].motion == "ken_burns"
    mention = next(w.start for w in transcription.words if w.word.strip() == "Figure")
    assert figure[0].start == mention > aligned.segments[2].start
    assert figure[0].end == aligned.segments[2].end
    report = sync_qa(alignment, transcription)
    assert report.figure_mentions == 1 and report.figure_timing_accuracy == 1.0
    assert report.quote_timing_accuracy == 1.0 and report.passed
    late = sync_qa(shifted(alignment, SHIFT_S), transcription)
    assert late.sync_score < report.sync_score and not late.passed


def test_key_sentence_prefers_concepts_and_numbers():
    seg = _segment(1, 0, 10, TEXTS[1], "key_finding", key_concepts=["heat stress"])
    assert key_sentence(seg).startswith("Heat stress cut")


def test_a_paper_without_figures_gives_title_and_quote_cards_only():
    aligned, transcription, graph = synthetic_case(0)
    alignment = align_visuals(aligned, transcription, graph)
    assert {c.kind for c in alignment.cues} == {"title_card", "quote_card"}
    assert any("no figures" in w for w in alignment.warnings)
    report = sync_qa(alignment, transcription)
    assert report.figure_mentions == 0 and report.figure_timing_accuracy is None
    assert 0 <= report.sync_score <= 100


def test_no_word_timestamps_falls_back_to_segment_timing_with_a_warning():
    aligned, transcription, graph = synthetic_case(3, with_words=False)
    alignment = align_visuals(aligned, transcription, graph)
    assert alignment.timing == "segments"
    assert any("no word timestamps" in w for w in alignment.warnings)
    starts = {s.start for s in aligned.segments} | {0.0}
    assert all(c.start in starts for c in alignment.cues)
    figure = [c for c in alignment.cues if c.kind == "figure"]
    assert figure and figure[0].start == aligned.segments[2].start
    report = sync_qa(alignment, transcription)
    assert report.timing == "segments" and any("no word timestamps" in w for w in report.warnings)
