"""The podcast-matches-paper verdict: the rule itself, then measured on real transcripts against their own
paper, against every other paper (each verdict is decided from the pair alone, in any order), and against
their own paper padded with the other real papers."""

from __future__ import annotations

import itertools

import pymupdf
import pytest

from podcast_assets.core.analysis.alignment import analyse_pair
from podcast_assets.core.analysis.pair_check import (
    ALIGNMENT_FLOOR,
    COVERAGE_FLOOR,
    SPAN_FLOOR,
    paper_span,
    podcast_matches_paper,
)
from podcast_assets.core.ingest.pdf import extract_document_graph
from tests.conftest import other_topic_pdf, require_shared_pairs


def test_the_rule_passes_at_the_floors_and_lets_one_strong_figure_make_up_for_a_weak_one():
    spread = 0.6
    assert podcast_matches_paper(COVERAGE_FLOOR, ALIGNMENT_FLOOR, spread).passed
    assert podcast_matches_paper(2 * COVERAGE_FLOOR, 0.0, spread).passed
    assert podcast_matches_paper(0.0, 2 * ALIGNMENT_FLOOR, spread).passed
    weak = podcast_matches_paper(0.9 * COVERAGE_FLOOR, 0.9 * ALIGNMENT_FLOOR, spread)
    assert not weak.passed and "another paper" in weak.description and weak.figures["score"] < 1
    assert not podcast_matches_paper(0.0, 0.0, spread).passed
    narrow = podcast_matches_paper(2 * COVERAGE_FLOOR, 2 * ALIGNMENT_FLOOR, SPAN_FLOOR)
    assert not narrow.passed and "covers only part of the paper" in narrow.description


def test_the_paper_span_is_the_narrowest_stretch_holding_80_percent_of_the_weight():
    assert paper_span([0.1, 0.2, 0.3, 0.4, 0.5], [1, 1, 1, 1, 1]) == pytest.approx(0.3)  # 4 of the 5
    assert paper_span([0.05, 0.1, 0.15, 0.9], [1, 1, 1, 0.5]) == pytest.approx(0.1)  # a weak outlier left out
    assert paper_span([0.05, 0.1, 0.15, 0.9], [1, 1, 1, 3]) == pytest.approx(0.8)  # a strong one is not
    assert paper_span([0.5], [0.2]) == 0.0 and paper_span([], []) == 0.0


def test_every_real_podcast_matches_its_own_paper_and_no_other(real_pairs):
    scores, spans = {}, {}
    for t, p in itertools.product(real_pairs, repeat=2):
        verdict = analyse_pair(t, real_pairs[t][0], real_pairs[p][1]).match
        scores[t, p], spans[t, p] = verdict.figures["score"], verdict.figures["paper_span"]
        assert verdict.passed == (t == p), (t, p, verdict.description)
    own = [scores[t, t] for t in real_pairs]
    cross = [s for (t, p), s in scores.items() if t != p]
    print(
        f"\nmatch score (pass at 1): own papers {min(own):.2f}-{max(own):.2f}, "
        f"other papers {min(cross, default=0):.2f}-{max(cross, default=0):.2f}"
    )
    print(
        "paper span of each podcast on its own paper: "
        + ", ".join(f"{t} {spans[t, t]:.3f}" for t in real_pairs)
    )


@pytest.fixture(scope="module")
def padded_papers(real_pairs, tmp_path_factory) -> dict:
    """{pair id: (the document graph of its paper followed by the three other shared papers, share of the
    pages that are its own)}, each PDF put together here with pymupdf."""
    pairs = {p.name: p / "paper.pdf" for p in require_shared_pairs() if p.name in real_pairs}
    if len(pairs) < 4:
        pytest.skip("needs the four shared pairs")
    folder = tmp_path_factory.mktemp("padded")
    padded = {}
    for first in pairs:
        doc = pymupdf.open()
        for pair_id in [first, *(p for p in pairs if p != first)]:
            with pymupdf.open(pairs[pair_id]) as paper:
                doc.insert_pdf(paper)
                if pair_id == first:
                    own_pages = paper.page_count
        doc.save(folder / f"{first}.pdf")
        graph, _ = extract_document_graph(folder / f"{first}.pdf")
        padded[first] = (graph, own_pages / doc.page_count)
        doc.close()
    return padded


def test_a_paper_padded_with_three_other_papers_fails_as_covered_only_in_part(real_pairs, padded_papers):
    """The floor is not tuned to one file: it has to lie between every real podcast's span on its own paper
    and its span on that paper followed by the three others (each of the four pairs in turn)."""
    own = {t: analyse_pair(t, transcript, graph).match for t, (transcript, graph) in real_pairs.items()}
    padded = {t: analyse_pair(t, real_pairs[t][0], graph).match for t, (graph, _) in padded_papers.items()}
    print(f"\npaper span (pass above {SPAN_FLOOR:.2f}):")
    for t in padded:
        print(
            f"  {t}: own paper {own[t].figures['paper_span']:.3f}; "
            f"padded to {padded_papers[t][0].page_count} "
            f"pages, {padded_papers[t][1]:.0%} its own: {padded[t].figures['paper_span']:.3f} "
            f"(score {padded[t].figures['score']:.2f})"
        )
    assert max(v.figures["paper_span"] for v in padded.values()) < SPAN_FLOOR
    assert min(v.figures["paper_span"] for v in own.values()) > SPAN_FLOOR
    for t, verdict in padded.items():
        # the score still passes (the podcast matches the part of the PDF that is its paper): the span refuses
        assert not verdict.passed and "covers only part of the paper" in verdict.description, (t, verdict)
        assert own[t].passed


def test_a_real_podcast_against_a_paper_on_another_topic_fails(real_pairs, tmp_path):
    """Runs on the bundled example too: the podcast against a real PDF written here about something else."""
    (tmp_path / "other.pdf").write_bytes(other_topic_pdf())
    other, _ = extract_document_graph(tmp_path / "other.pdf")
    for pair_id, (transcription, graph) in real_pairs.items():
        assert analyse_pair(pair_id, transcription, graph).match.passed, pair_id
        verdict = analyse_pair(pair_id, transcription, other).match
        assert not verdict.passed and "another paper" in verdict.description, (pair_id, verdict.figures)


def test_the_llm_typer_is_asked_only_when_the_podcast_matches_its_paper(real_pairs, tmp_path):
    """analyse_and_type: the local analysis decides first, so a mismatched pair costs no LLM call."""
    from podcast_assets.core.analysis.alignment import analyse_and_type
    from podcast_assets.core.analysis.local_typer import local_typer

    calls = []

    def paid_typer(segments, graph):
        calls.append(len(segments))
        result = local_typer(segments, graph)
        return type(result)(classifier="llm:spy", labels=result.labels)

    pair_id, (transcription, graph) = next(iter(real_pairs.items()))
    matched = analyse_and_type(pair_id, transcription, graph, llm_typer=paid_typer)
    assert matched.match.passed and matched.classifier == "llm:spy" and calls == [len(matched.segments)]
    (tmp_path / "other.pdf").write_bytes(other_topic_pdf())
    other, _ = extract_document_graph(tmp_path / "other.pdf")
    mismatched = analyse_and_type(pair_id, transcription, other, llm_typer=paid_typer)
    assert not mismatched.match.passed and mismatched.classifier != "llm:spy" and len(calls) == 1
