"""The learned podcast shape across pairs: canonical segment order, duration and depth targets, style.

Storing the versions is profile_store.py's job."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence

import numpy as np

from podcast_assets.core.analysis.models import (
    DEFINITION_STYLES,
    FIGURE_STYLES,
    PHRASE_ROLES,
    SEGMENT_TYPES,
    AggregatedProfile,
    DepthPlan,
    DurationTarget,
    PhraseShare,
    StructureProfile,
    StyleProfile,
    StyleVariant,
    ValueRange,
)
from podcast_assets.core.analysis.selection import Selection
from podcast_assets.core.config import DepthTarget
from podcast_assets.core.metrics import edit_distance
from podcast_assets.core.storage import cache_key

CANONICAL_METHOD = (
    "Each pair's segment sequence is run-compressed (repeats of one type collapse to one). The medoid is "
    "the input with the smallest sum of edit distances to all inputs (ties: shorter, then type order). "
    "Every input is aligned to the medoid (Levenshtein alignment, ties: match/substitute before delete "
    "before insert) and a star-alignment consensus is voted column by column: the most common symbol or "
    "gap per medoid column (ties keep the medoid's symbol), plus the most common inserted type in a gap "
    "that more than half of the inputs insert into. The better of medoid and consensus (ties: consensus) "
    "is refined by local search for the median sequence: the single deletion, substitution or insertion "
    "(types seen in the inputs, no adjacent repeats) that most lowers the sum of edit distances is applied "
    "until none lowers it (ties: deletions, then substitutions, then insertions, each by position, then "
    "type order)."
)


# --------------------------------------------------------------------------- canonical sequence


def compress_runs(sequence: Sequence[str]) -> list[str]:
    """The sequence with consecutive repeats collapsed: a a b a -> a b a."""
    return [t for i, t in enumerate(sequence) if i == 0 or t != sequence[i - 1]]


def _type_key(sequence: Sequence[str]) -> tuple[int, ...]:
    return tuple(SEGMENT_TYPES.index(t) for t in sequence)


def _cost(candidate: Sequence[str], inputs: Sequence[Sequence[str]]) -> int:
    return sum(edit_distance(candidate, s) for s in inputs)


def _align(reference: Sequence[str], other: Sequence[str]) -> tuple[list[str | None], list[list[str]]]:
    """Align `other` to `reference`: the symbol (or None for a gap) under each reference column, and the
    symbols `other` inserts before each column (index len(reference) holds insertions after the last)."""
    n, m = len(reference), len(other)
    dp = np.zeros((n + 1, m + 1), dtype=int)
    dp[:, 0] = np.arange(n + 1)
    dp[0, :] = np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            dp[i, j] = min(
                dp[i - 1, j - 1] + (reference[i - 1] != other[j - 1]), dp[i - 1, j] + 1, dp[i, j - 1] + 1
            )
    columns: list[str | None] = [None] * n
    inserts: list[list[str]] = [[] for _ in range(n + 1)]
    i, j = n, m
    while i or j:
        if i and j and dp[i, j] == dp[i - 1, j - 1] + (reference[i - 1] != other[j - 1]):
            columns[i - 1] = other[j - 1]
            i, j = i - 1, j - 1
        elif i and dp[i, j] == dp[i - 1, j] + 1:
            i -= 1
        else:
            inserts[i].insert(0, other[j - 1])
            j -= 1
    return columns, inserts


def _star_consensus(medoid: Sequence[str], inputs: Sequence[Sequence[str]]) -> list[str]:
    """Column vote over every input aligned to the medoid."""
    aligned = [_align(medoid, s) for s in inputs]
    consensus: list[str] = []
    for k in range(len(medoid) + 1):
        inserted = [ins[k] for _, ins in aligned if ins[k]]
        if 2 * len(inserted) > len(inputs):
            votes = Counter(t for ins in inserted for t in ins)
            consensus.append(max(votes, key=lambda t: (votes[t], -SEGMENT_TYPES.index(t))))
        if k == len(medoid):
            break
        column = Counter(cols[k] for cols, _ in aligned)
        best = max(column.values())
        if column[medoid[k]] == best:
            consensus.append(medoid[k])
        else:
            winners = [t for t, c in column.items() if c == best]
            if None not in winners:
                consensus.append(min(winners, key=lambda t: SEGMENT_TYPES.index(t)))
    return compress_runs(consensus)


def _neighbours(sequence: list[str], alphabet: Sequence[str]) -> list[list[str]]:
    """Single-edit variants without adjacent repeats: deletions, substitutions, insertions, in that order."""
    out = [sequence[:i] + sequence[i + 1 :] for i in range(len(sequence))]
    out += [
        sequence[:i] + [t] + sequence[i + 1 :]
        for i in range(len(sequence))
        for t in alphabet
        if t != sequence[i]
    ]
    out += [sequence[:i] + [t] + sequence[i:] for i in range(len(sequence) + 1) for t in alphabet]
    return [c for c in out if all(a != b for a, b in zip(c, c[1:]))]


def canonical_sequence(sequences: Sequence[Sequence[str]]) -> tuple[list[str], float]:
    """The consensus order of segment types across pairs (CANONICAL_METHOD) and its mean edit distance."""
    inputs = [compress_runs(s) for s in sequences]
    if not inputs:
        raise ValueError("no sequences to align")
    medoid = min(inputs, key=lambda s: (_cost(s, inputs), len(s), _type_key(s)))
    consensus = _star_consensus(medoid, inputs)
    current = consensus if _cost(consensus, inputs) <= _cost(medoid, inputs) else list(medoid)
    cost = _cost(current, inputs)
    alphabet = [t for t in SEGMENT_TYPES if any(t in s for s in inputs)]
    while True:
        scored = [(_cost(c, inputs), c) for c in _neighbours(current, alphabet)]
        best = min((c for c, _ in scored), default=cost)
        if best >= cost:
            return current, cost / len(inputs)
        cost, current = next((c, s) for c, s in scored if c == best)


# --------------------------------------------------------------------------- aggregation


def _range(values: Sequence[float]) -> ValueRange:
    p25, median, p75 = np.percentile(values, [25, 50, 75])
    return ValueRange(min=min(values), p25=float(p25), median=float(median), p75=float(p75), max=max(values))


def _duration_targets(structures: Sequence[StructureProfile]) -> dict[str, DurationTarget]:
    pooled: dict[str, list[float]] = defaultdict(list)
    for s in structures:
        for t, seconds in zip(s.segment_sequence, s.segment_durations):
            pooled[t].append(seconds)
    targets = {}
    for t in SEGMENT_TYPES:
        if not pooled[t]:
            continue
        p25, median, p75 = np.percentile(pooled[t], [25, 50, 75])
        targets[t] = DurationTarget(
            median_seconds=float(median),
            p25_seconds=float(p25),
            p75_seconds=float(p75),
            share=statistics.fmean(s.time_share_by_type.get(t, 0.0) for s in structures),
            segments=len(pooled[t]),
            pairs_with_type=sum(t in s.type_counts for s in structures),
        )
    return targets


def _depth_plans(
    structures: Sequence[StructureProfile],
    durations: Mapping[str, DurationTarget],
    canonical: Sequence[str],
    depths: Mapping[str, DepthTarget],
) -> dict[str, DepthPlan]:
    wpm = statistics.median(s.words_per_minute for s in structures)
    cpm = statistics.median(s.concepts_per_minute for s in structures)
    fpm = statistics.median(s.figures_per_minute for s in structures)
    runs = Counter(canonical)
    plans = {}
    for name, depth in depths.items():
        minutes = depth.target_minutes
        seconds = {t: d.share * minutes * 60 for t, d in durations.items() if d.share > 0}
        counts = {
            t: max(
                runs[t], round(sec / durations[t].median_seconds) if durations[t].median_seconds > 0 else 0
            )
            for t, sec in seconds.items()
        }
        counts = {t: n for t, n in counts.items() if n}
        plans[name] = DepthPlan(
            min_minutes=depth.min_minutes,
            max_minutes=depth.max_minutes,
            target_minutes=minutes,
            seconds_by_type=seconds,
            segment_counts=counts,
            segment_count=sum(counts.values()),
            key_concepts=depth.key_concepts,
            learned_concepts=round(cpm * minutes),
            words=round(wpm * minutes),
            min_words=round(wpm * depth.min_minutes),
            max_words=round(wpm * depth.max_minutes) if depth.max_minutes is not None else None,
            figures=round(fpm * minutes),
        )
    return plans


def _style_variant(styles: Sequence[StyleProfile]) -> StyleVariant:
    defining = [s for s in styles if s.definition_count]
    figure_votes = Counter(s.figure_style for s in styles)
    return StyleVariant(
        pairs=[s.pair_id for s in styles],
        mean_sentence_length=statistics.fmean(s.mean_sentence_length for s in styles),
        sentence_length_sd=statistics.fmean(s.sentence_length_sd for s in styles),
        vocabulary_complexity=statistics.fmean(s.vocabulary_complexity for s in styles),
        jargon_density=statistics.fmean(s.jargon_density for s in styles),
        questions_per_minute=statistics.fmean(s.questions_per_minute for s in styles),
        analogies_per_segment=statistics.fmean(s.analogies_per_segment for s in styles),
        example_frequency=statistics.fmean(s.example_frequency for s in styles),
        enthusiasm_per_minute=statistics.fmean(s.enthusiasm_per_minute for s in styles),
        definition_style={
            k: statistics.fmean(s.definition_style.get(k, 0.0) for s in defining)
            for k in DEFINITION_STYLES
            if defining
        },
        figure_style=max(figure_votes, key=lambda k: (figure_votes[k], -FIGURE_STYLES.index(k))),
    )


def _style_variants(styles: Sequence[StyleProfile]) -> dict[str, StyleVariant]:
    groups: dict[str, list[StyleProfile]] = {"all": list(styles)}
    for s in styles:
        if s.speaker_gender and s.speaker_gender != "unknown":
            groups.setdefault(f"gender:{s.speaker_gender}", []).append(s)
        if s.speaker_count is not None:
            groups.setdefault(f"speakers:{s.speaker_count}", []).append(s)
    return {key: _style_variant(groups[key]) for key in ["all", *sorted(k for k in groups if k != "all")]}


def _universal_phrases(styles: Sequence[StyleProfile]) -> dict[str, list[PhraseShare]]:
    result = {}
    for role in PHRASE_ROLES:
        support = Counter(p for s in styles for p in set(getattr(s, f"{role}_phrases")))
        common = {p: n for p, n in support.items() if 2 * n >= len(styles)}
        kept = [
            p
            for p, n in common.items()
            if not any(q != p and f" {p} " in f" {q} " and common[q] == n for q in common)
        ]
        kept.sort(key=lambda p: (-common[p], -len(p.split()), p))
        result[role] = [PhraseShare(phrase=p, pairs=common[p], share=common[p] / len(styles)) for p in kept]
    return result


def source_fingerprint(
    structures: Sequence[StructureProfile],
    styles: Sequence[StyleProfile],
    left_out: Mapping[str, str],
    depths: Mapping[str, DepthTarget],
) -> str:
    """Hash of the input profiles (in pair order), the pairs left out and the depth settings: equal inputs,
    equal fingerprint, so an unchanged set of pairs reuses its version."""
    return cache_key(
        [s.model_dump(mode="json") for s in sorted(structures, key=lambda s: s.pair_id)],
        [s.model_dump(mode="json") for s in sorted(styles, key=lambda s: s.pair_id)],
        dict(sorted(left_out.items())),
        {name: d.model_dump(mode="json") for name, d in sorted(depths.items())},
    )


def learn_aggregated_profile(
    selection: Selection, *, depths: Mapping[str, DepthTarget], version: int, created_at: str
) -> AggregatedProfile:
    """Combine the selected pairs' profiles into the learned shape (the left-out pairs are named in it)."""
    structures = sorted(selection.structures, key=lambda s: s.pair_id)
    styles = sorted(selection.styles, key=lambda s: s.pair_id)
    ids = [s.pair_id for s in structures]
    if not structures:
        raise ValueError("no profiles to aggregate")
    if ids != [s.pair_id for s in styles] or len(set(ids)) != len(ids):
        raise ValueError(f"structure and style profiles must cover the same distinct pairs: {ids}")
    canonical, distance = canonical_sequence([s.segment_sequence for s in structures])
    durations = _duration_targets(structures)
    return AggregatedProfile(
        version=version,
        created_at=created_at,
        pairs_used=ids,
        pairs_left_out=dict(sorted(selection.left_out.items())),
        source_fingerprint=source_fingerprint(structures, styles, selection.left_out, depths),
        canonical_sequence=canonical,
        canonical_sequence_method=CANONICAL_METHOD,
        canonical_mean_distance=distance,
        duration_targets=durations,
        depth_targets=_depth_plans(structures, durations, canonical, depths),
        style_variants=_style_variants(styles),
        universal_phrases=_universal_phrases(styles),
        wpm_range=_range([s.words_per_minute for s in structures]),
        concepts_per_minute_range=_range([s.concepts_per_minute for s in structures]),
    )


def _range_text(r: ValueRange, digits: int) -> str:
    values = [f"{v:.{digits}f}" for v in (r.min, r.p25, r.median, r.p75, r.max)]
    values[2] = f"**{values[2]}**"
    return " / ".join(values)


def _minutes_text(plan: DepthPlan) -> str:
    return f"{plan.min_minutes:g}+" if plan.max_minutes is None else f"{plan.min_minutes:g}-{plan.max_minutes:g}"


def aggregated_markdown(profile: AggregatedProfile) -> str:
    """Markdown summary of an aggregated profile for the UI."""
    lines = [
        f"## Aggregated profile v{profile.version}",
        "",
        f"{len(profile.pairs_used)} pairs ({', '.join(profile.pairs_used)}), created {profile.created_at}, "
        f"fingerprint `{profile.source_fingerprint[:12]}`",
        "",
        *(f"- left out **{pair}**: {reason}" for pair, reason in profile.pairs_left_out.items()),
        *([""] if profile.pairs_left_out else []),
        "**Canonical sequence**: " + " → ".join(profile.canonical_sequence),
        f"(mean edit distance to the pairs: {profile.canonical_mean_distance:.2f})",
        "",
        f"- words/min (min / p25 / median / p75 / max): {_range_text(profile.wpm_range, 0)}",
        f"- concepts/min: {_range_text(profile.concepts_per_minute_range, 2)}",
        "",
        "| type | median s | p25-p75 s | share | segments | pairs |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {t} | {d.median_seconds:.0f} | {d.p25_seconds:.0f}-{d.p75_seconds:.0f} | {d.share:.0%} | "
        f"{d.segments} | {d.pairs_with_type} |"
        for t, d in profile.duration_targets.items()
    ]
    lines += [
        "",
        "| depth | minutes (planned at) | segments | key concepts (references) | words | figures | segments per type |",
    ]
    lines += ["|---|---:|---:|---:|---:|---:|---|"]
    lines += [
        f"| {name} | {_minutes_text(p)} ({p.target_minutes:g}) | {p.segment_count} | {p.key_concepts} "
        f"({p.learned_concepts}) | {p.words} | {p.figures} | "
        f"{', '.join(f'{t} {n}' for t, n in p.segment_counts.items())} |"
        for name, p in profile.depth_targets.items()
    ]
    lines += [
        "",
        "| style | pairs | sentence len | rare words | jargon/100 | questions/min | examples/min | figures |",
    ]
    lines += ["|---|---:|---:|---:|---:|---:|---:|---|"]
    lines += [
        f"| {key} | {len(v.pairs)} | {v.mean_sentence_length:.1f} | {v.vocabulary_complexity:.1%} | "
        f"{v.jargon_density:.1f} | {v.questions_per_minute:.2f} | {v.example_frequency:.2f} | "
        f"{v.figure_style} |"
        for key, v in profile.style_variants.items()
    ]
    lines.append("")
    lines += [
        f"- **{role} phrases**: " + (", ".join(f'"{p.phrase}" ({p.share:.0%})' for p in phrases) or "none")
        for role, phrases in profile.universal_phrases.items()
    ]
    return "\n".join(lines)
