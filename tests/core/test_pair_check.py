"""The podcast-matches-paper verdict: the rule itself, then measured on real transcripts against their own paper
and against every other paper (each verdict is decided from the pair alone, in any order)."""

from __future__ import annotations

import itertools

from podcast_assets.core.analysis.alignment import analyse_pair
from podcast_assets.core.analysis.pair_check import ALIGNMENT_FLOOR, COVERAGE_FLOOR, podcast_matches_paper
from podcast_assets.core.ingest.pdf import extract_document_graph
from tests.conftest import other_topic_pdf


def test_the_rule_passes_at_the_floors_and_lets_one_strong_figure_make_up_for_a_weak_one():
    assert podcast_matches_paper(COVERAGE_FLOOR, ALIGNMENT_FLOOR).passed
    assert podcast_matches_paper(2 * COVERAGE_FLOOR, 0.0).passed
    assert podcast_matches_paper(0.0, 2 * ALIGNMENT_FLOOR).passed
    weak = podcast_matches_paper(0.9 * COVERAGE_FLOOR, 0.9 * ALIGNMENT_FLOOR)
    assert not weak.passed and "another paper" in weak.description and weak.figures["score"] < 1
    assert not podcast_matches_paper(0.0, 0.0).passed


def test_every_real_podcast_matches_its_own_paper_and_no_other(real_pairs):
    scores = {}
    for t, p in itertools.product(real_pairs, repeat=2):
        verdict = analyse_pair(t, real_pairs[t][0], real_pairs[p][1]).match
        scores[t, p] = verdict.figures["score"]
        assert verdict.passed == (t == p), (t, p, verdict.description)
    own = [scores[t, t] for t in real_pairs]
    cross = [s for (t, p), s in scores.items() if t != p]
    print(f"\nmatch score (pass at 1): own papers {min(own):.2f}-{max(own):.2f}, "
          f"other papers {min(cross, default=0):.2f}-{max(cross, default=0):.2f}")


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
