"""Does a podcast discuss the paper it is paired with, and is the PDF that paper? Decided from the pair alone,
so the verdict never depends on which other pairs exist or in which order they were run.

A podcast that explains a paper names its most specific concepts and its segments resemble the paper's
paragraphs; a podcast about another paper does neither. Two figures of the pair's analysis measure that:
concept coverage (share of the paper's top key concepts the podcast names) and mean alignment (mean
TF-IDF cosine of each segment to its best paper paragraph). Each is divided by its floor and the pair
passes when the mean of the two ratios reaches 1, so a strong figure can make up for a weak one but a
podcast about another paper, weak on both, fails.

The floors sit in the middle of the gap measured on the real pairs (every transcript against every
paper; tests/core/test_pair_check.py measures it again): own papers reach coverage 0.40-0.73 and
alignment 0.16-0.20, other papers at most 0.13 and 0.10.

A PDF that holds the paper and much else (other papers, a proceedings volume, a thesis) passes both: the
podcast matches the part that is its paper. A third figure sees it, the paper span: each segment placed at
its best-matching paragraph (its position in the paper's body, by characters, references left out) and
weighted by that cosine, the narrowest stretch of the body holding 80% of the weight. A podcast that
explains its paper spreads over it; one whose paper is a quarter of the PDF stays inside that quarter.
Measured on the four real pairs: own papers 0.42-0.82 (the lowest, a 3-minute podcast on the first half of
a 43-page survey), each paper followed by the three others 0.14-0.16; the floor, a quarter, sits between.
(With 70% of the weight a short podcast's own span falls to 0.22; with 90%, stray segments push a padded
one to 0.43: 80% is in the middle of the shares that keep the two apart.)
"""

from __future__ import annotations

from collections.abc import Sequence

from podcast_assets.core.analysis.models import MatchVerdict

RULE = "pair-alone-v2"
COVERAGE_FLOOR = 0.27
"""About 4 of the paper's 15 most specific concepts named."""
ALIGNMENT_FLOOR = 0.13
"""Mean best-paragraph cosine of the segments."""
SPAN_SHARE = 0.8
"""The paper span is the narrowest stretch of the paper's body holding this share of the alignment weight
..."""
SPAN_FLOOR = 0.25
"""... and must be more than this share of the body."""


def paper_span(positions: Sequence[float], weights: Sequence[float], share: float = SPAN_SHARE) -> float:
    """The narrowest stretch of the paper (0-1) holding `share` of the weight of the segments placed at
    `positions` (each segment's best paragraph, as a share of the body before it) with `weights`."""
    points = sorted((p, w) for p, w in zip(positions, weights, strict=True) if w > 0)
    need = share * sum(w for _, w in points)
    if not points:
        return 0.0
    best, held, end = 1.0, 0.0, 0
    for start, (low, _) in enumerate(points):
        while end < len(points) and held < need - 1e-12:
            held += points[end][1]
            end += 1
        if held < need - 1e-12:
            break
        best = min(best, points[end - 1][0] - low)
        held -= points[start][1]
    return best


def podcast_matches_paper(concept_coverage: float, mean_alignment: float, span: float) -> MatchVerdict:
    """The verdict on one pair from its own analysis figures (`span`: its `paper_span`)."""
    score = (concept_coverage / COVERAGE_FLOOR + mean_alignment / ALIGNMENT_FLOOR) / 2
    figures = {
        "concept_coverage": round(concept_coverage, 3),
        "mean_alignment": round(mean_alignment, 3),
        "score": round(score, 3),
        "paper_span": round(span, 3),
    }
    measured = (
        f"concept coverage {concept_coverage:.2f} (floor {COVERAGE_FLOOR}), "
        f"mean alignment {mean_alignment:.3f} (floor {ALIGNMENT_FLOOR}), score {score:.2f} (pass at 1); "
        f"{SPAN_SHARE:.0%} of the discussion within {span:.0%} of the paper's body "
        f"(pass above {SPAN_FLOOR:.0%})"
    )
    if score < 1:
        return MatchVerdict(
            passed=False,
            rule=RULE,
            figures=figures,
            description=f"the podcast is probably about another paper ({measured}); check that the pair's "
            "PDF and audio belong together. A mismatched pair is never profiled or aggregated",
        )
    if span <= SPAN_FLOOR:
        return MatchVerdict(
            passed=False,
            rule=RULE,
            figures=figures,
            description=f"the podcast covers only part of the paper ({measured}): the PDF probably holds "
            "more than the paper it discusses (other papers, a proceedings volume or a thesis); keep only "
            "that paper's pages. A mismatched pair is never profiled or aggregated",
        )
    return MatchVerdict(
        passed=True, rule=RULE, figures=figures, description=f"the podcast discusses this paper: {measured}"
    )
