"""The plan of a script: its segments in order, each with a word budget (`segment_plan`), and the same plan
rationed to what the paper holds (`ration`).

The depth plan's seconds per type, scaled to the target length and multiplied by `settings.type_weights`,
become segments of about the type's learned median length, laid out along the profile's canonical sequence.
Documented expansion of the canonical sequence: each of its positions becomes a run of one or more segments
of that type (the type's segments shared evenly over its positions, earlier positions first); a type with a
budget that the canonical sequence lacks is inserted once, before the first position whose type comes later
in the narrative order (intro, background, problem, methodology, key_finding, figure, implication,
limitation, conclusion); a type too small for one segment (and tangent or transition outside the canonical
sequence) gives its seconds to the planned types pro rata. So the run-compressed script types are the
canonical sequence with those insertions (and without types whose weight is 0).
"""

from __future__ import annotations

from dataclasses import dataclass

from podcast_assets.core.analysis.aggregate import compress_runs
from podcast_assets.core.analysis.models import SEGMENT_TYPES, AggregatedProfile, DepthPlan
from podcast_assets.core.training.models import GenerationSettings
from podcast_assets.core.training.writer.paper import Paper

NARRATIVE_ORDER: tuple[str, ...] = tuple(t for t in SEGMENT_TYPES if t not in ("tangent", "transition"))
"""Where a type missing from the canonical sequence is inserted (see the module docstring)."""


@dataclass(frozen=True)
class PlannedSegment:
    type: str
    words: float


def _depth_plan(profile: AggregatedProfile, target_seconds: float, depth: str | None) -> DepthPlan | None:
    if depth is not None:
        if depth not in profile.depth_targets:
            known = ", ".join(sorted(profile.depth_targets)) or "none"
            raise ValueError(f"depth {depth!r} is not in the aggregated profile (it has: {known})")
        return profile.depth_targets[depth]
    if not profile.depth_targets:
        return None
    return min(
        profile.depth_targets.values(),
        key=lambda p: (abs(p.target_minutes * 60 - target_seconds), p.target_minutes),
    )


def _insert_missing(order: list[str], segment_type: str) -> list[str]:
    rank = NARRATIVE_ORDER.index(segment_type)
    later = [i for i, t in enumerate(order) if t in NARRATIVE_ORDER and NARRATIVE_ORDER.index(t) > rank]
    at = later[0] if later else len(order)
    return [*order[:at], segment_type, *order[at:]]


def segment_plan(
    profile: AggregatedProfile,
    settings: GenerationSettings,
    *,
    target_seconds: float,
    depth: str | None = None,
) -> list[PlannedSegment]:
    """The script's segments, in order, each with its word budget (see the module docstring).

    Seconds per type: the depth plan's (the named depth, else the one whose target length is nearest)
    scaled to `target_seconds`, times the type's weight; without depth plans, the learned time shares of
    `duration_targets`. Words = seconds x words_per_minute / 60."""
    plan = _depth_plan(profile, target_seconds, depth)
    if plan is not None and sum(plan.seconds_by_type.values()) > 0:
        scale = target_seconds / sum(plan.seconds_by_type.values())
        base = {t: s * scale for t, s in plan.seconds_by_type.items() if s > 0}
    else:
        total_share = sum(d.share for d in profile.duration_targets.values()) or 1.0
        base = {
            t: d.share / total_share * target_seconds for t, d in profile.duration_targets.items() if d.share
        }
    seconds = {t: s * settings.type_weights.get(t, 1.0) for t, s in base.items()}
    seconds = {t: s for t, s in seconds.items() if s > 0}

    def median(t: str) -> float:
        target = profile.duration_targets.get(t)
        if target and target.median_seconds > 0:
            return target.median_seconds
        count = plan.segment_counts.get(t, 1) if plan else 1
        return base[t] / max(1, count)

    order = compress_runs([t for t in profile.canonical_sequence if t in seconds])
    spare = 0.0
    for t in sorted(seconds, key=SEGMENT_TYPES.index):
        if t in order:
            continue
        if t in NARRATIVE_ORDER and round(seconds[t] / median(t)) >= 1:
            order = _insert_missing(order, t)
        else:
            spare += seconds.pop(t)
    if not order:
        return []
    kept = sum(seconds.values())
    seconds = {t: s + spare * s / kept for t, s in seconds.items()}
    positions = {t: order.count(t) for t in seconds}
    counts = {t: max(positions[t], round(s / median(t))) for t, s in seconds.items()}
    seen: dict[str, int] = {}
    planned = []
    for t in order:
        k = seen.get(t, 0)
        seen[t] = k + 1
        n = counts[t] // positions[t] + (1 if k < counts[t] % positions[t] else 0)
        words = seconds[t] * settings.words_per_minute / 60 / counts[t]
        planned.extend(PlannedSegment(type=t, words=words) for _ in range(n))
    return planned


def ration(plan: list[PlannedSegment], paper: Paper) -> list[PlannedSegment]:
    """The plan with each type's segments shrunk to what the paper holds for that type (its pool's words,
    less a margin for sentences a segment skips), so a scarce type still reaches every one of its runs
    instead of being spent by the first; the words it cannot fill go to the other types when the draft is
    fitted to the budget."""
    planned: dict[str, float] = {}
    for slot in plan:
        planned[slot.type] = planned.get(slot.type, 0.0) + slot.words
    later = set(planned)
    supply = {
        t: sum(
            len(s.split())
            for a in paper.pools.get(t, [])
            if paper.best_type(a) == t or paper.best_type(a) not in later
            for s in paper.spoken[a]
        )
        for t in planned
    }
    scale = {
        t: min(1.0, RATION_MARGIN * supply[t] / words) if supply[t] and t in _RATIONED else 1.0
        for t, words in planned.items()
    }
    return [PlannedSegment(type=p.type, words=p.words * scale[p.type]) for p in plan]


_RATIONED = frozenset({"methodology", "key_finding"})
"""The types that never borrow: their runs must share what the paper has."""
RATION_MARGIN = 0.8
