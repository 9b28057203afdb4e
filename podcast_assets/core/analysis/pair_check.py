"""Does a podcast discuss the paper it is paired with? Decided from the pair alone, so the verdict never
depends on which other pairs exist or in which order they were run.

A podcast that explains a paper names its most specific concepts and its segments resemble the paper's
paragraphs; a podcast about another paper does neither. Two figures of the pair's analysis measure that:
concept coverage (share of the paper's top key concepts the podcast names) and mean alignment (mean
TF-IDF cosine of each segment to its best paper paragraph). Each is divided by its floor and the pair
passes when the mean of the two ratios reaches 1, so a strong figure can make up for a weak one but a
podcast about another paper, weak on both, fails.

The floors sit in the middle of the gap measured on the real pairs (every transcript against every
paper; tests/core/test_pair_check.py measures it again): own papers reach coverage 0.40-0.73 and
alignment 0.16-0.20, other papers at most 0.13 and 0.10.
"""

from __future__ import annotations

from podcast_assets.core.analysis.models import MatchVerdict

RULE = "pair-alone-v1"
COVERAGE_FLOOR = 0.27
"""About 4 of the paper's 15 most specific concepts named."""
ALIGNMENT_FLOOR = 0.13
"""Mean best-paragraph cosine of the segments."""


def podcast_matches_paper(concept_coverage: float, mean_alignment: float) -> MatchVerdict:
    """The verdict on one pair from its own analysis figures."""
    score = (concept_coverage / COVERAGE_FLOOR + mean_alignment / ALIGNMENT_FLOOR) / 2
    figures = {
        "concept_coverage": round(concept_coverage, 3),
        "mean_alignment": round(mean_alignment, 3),
        "score": round(score, 3),
    }
    measured = (
        f"concept coverage {concept_coverage:.2f} (floor {COVERAGE_FLOOR}), "
        f"mean alignment {mean_alignment:.3f} (floor {ALIGNMENT_FLOOR}), score {score:.2f} (pass at 1)"
    )
    if score >= 1:
        return MatchVerdict(passed=True, rule=RULE, figures=figures, description=f"the podcast discusses this paper: {measured}")
    return MatchVerdict(
        passed=False,
        rule=RULE,
        figures=figures,
        description=f"the podcast is probably about another paper ({measured}); check that the pair's PDF and "
        "audio belong together. A mismatched pair is never profiled or aggregated",
    )
