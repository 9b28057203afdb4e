"""Does a podcast discuss the paper it is paired with? Judged against the other pairs, not a fixed number.

A podcast about another paper mentions few of the paper's key concepts and its segments find no
paragraph they resemble. Each pair's two figures (concept coverage, mean segment similarity) are
divided by the median of the other pairs'; the pair fails when the mean of the two ratios is below
one half, i.e. it reaches on average less than half of what the other pairs reach. With fewer than
two other pairs there is no reference, and only a near-total absence of shared concepts fails.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from podcast_assets.core.analysis.models import AlignedSegments

RELATIVE_FLOOR = 0.5
"""Fail when the mean ratio of the pair's figures to the other pairs' medians is below this."""
ABSOLUTE_COVERAGE_FLOOR = 0.1
"""Fail, whatever the other pairs say, when fewer than this share of the key concepts is mentioned."""


@dataclass(frozen=True)
class Verdict:
    passed: bool
    description: str
    metadata: dict[str, float | int | str] = field(default_factory=dict)


def podcast_matches_paper(pair: AlignedSegments, others: list[AlignedSegments]) -> Verdict:
    metadata: dict[str, float | int | str] = {
        "concept_coverage": round(pair.concept_coverage, 3),
        "mean_alignment": round(pair.mean_alignment, 3),
        "pairs_compared": len(others),
    }
    if pair.concept_coverage < ABSOLUTE_COVERAGE_FLOOR:
        return Verdict(
            False,
            f"the podcast mentions only {pair.concept_coverage:.0%} of the paper's key concepts: "
            "it is probably about another paper; check that the pair's PDF and audio belong together",
            metadata,
        )
    if len(others) < 2:
        return Verdict(True, "shares key concepts with the paper (too few other pairs to compare with)", metadata)
    median_coverage = statistics.median(o.concept_coverage for o in others)
    median_alignment = statistics.median(o.mean_alignment for o in others)
    metadata |= {"median_coverage_of_others": round(median_coverage, 3), "median_alignment_of_others": round(median_alignment, 3)}
    ratio = (_ratio(pair.concept_coverage, median_coverage) + _ratio(pair.mean_alignment, median_alignment)) / 2
    metadata["relative_alignment"] = round(ratio, 3)
    if ratio < RELATIVE_FLOOR:
        return Verdict(
            False,
            f"alignment to the paper is far below the other pairs' (concept coverage {pair.concept_coverage:.2f} "
            f"vs median {median_coverage:.2f}; segment similarity {pair.mean_alignment:.2f} vs {median_alignment:.2f}): "
            "the podcast is probably about another paper; check that the pair's PDF and audio belong together",
            metadata,
        )
    return Verdict(True, "alignment to the paper is in line with the other pairs", metadata)


def _ratio(value: float, reference: float) -> float:
    return value / reference if reference > 0 else 1.0
