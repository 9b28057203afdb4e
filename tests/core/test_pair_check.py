"""The mismatched-pair rule, on the figures measured for the four real pairs (own paper vs others')."""

from __future__ import annotations

import pytest

from podcast_assets.core.analysis.models import AlignedSegments
from podcast_assets.core.analysis.pair_check import podcast_matches_paper


def figures(alignment: float, coverage: float) -> AlignedSegments:
    return AlignedSegments(pair_id="p", classifier="t", segments=[], mean_alignment=alignment, concept_coverage=coverage)


# measured with `analyse_pair` on ../shared/data/pairs: each transcript against its own paper
OWN = [figures(0.182, 0.40), figures(0.176, 0.73), figures(0.199, 0.73), figures(0.157, 0.53)]


@pytest.mark.parametrize("index", range(4))
def test_each_real_pair_passes_against_the_other_three(index):
    others = OWN[:index] + OWN[index + 1 :]
    assert podcast_matches_paper(OWN[index], others).passed


@pytest.mark.parametrize(
    ("alignment", "coverage"),
    # the same transcripts against another pair's paper (the closest cross pairings measured)
    [(0.103, 0.07), (0.092, 0.13), (0.091, 0.07), (0.078, 0.07), (0.061, 0.0)],
)
def test_a_transcript_against_another_paper_fails(alignment, coverage):
    verdict = podcast_matches_paper(figures(alignment, coverage), OWN)
    assert not verdict.passed
    assert "another paper" in verdict.description


def test_without_other_pairs_only_a_near_total_absence_of_concepts_fails():
    assert podcast_matches_paper(figures(0.15, 0.4), []).passed
    assert not podcast_matches_paper(figures(0.15, 0.0), []).passed
