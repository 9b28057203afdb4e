"""TimelineSyncQA: how well a visual alignment keeps time with the podcast's audio.

Measures (`tolerance_s` is the allowed lead or lag, default 2 s):
- visual_coverage: share of the audio during which the cue on screen belongs to the segment being spoken
  (outside every segment, any cue counts). A visual shown late or early covers the wrong segment.
- figure_timing_accuracy: share of the figure mentions in the words ("figure 3", "the third figure") with that
  figure on screen at some moment within `tolerance_s` of the mention's first word. None without mentions.
- quote_timing_accuracy: share of quote cards whose text is spoken inside their window widened by
  `tolerance_s`: the best run of spoken words as long as the quote holds at least QUOTE_MATCH of its words.
  None without quote cards.

sync_score = 100 × the weighted mean of the measures that exist, with weights W_COVERAGE, W_FIGURES and
W_QUOTES (renormalised over the measures that are not None); passed = sync_score >= threshold.

Desync points, with severity:
- a figure mention without that figure on screen within tolerance: low if it shows within 2×tolerance, medium
  within 5×tolerance, high if later or never;
- a quote card whose sentence is not spoken in its window: high if matched below half, else medium;
- a stretch longer than tolerance with no visual: medium, high beyond 5×tolerance;
- a segment less than half of whose time shows one of its own visuals (also listed in
  segments_without_visuals): medium, high below a tenth.
"""

from __future__ import annotations

from podcast_assets.core.ingest.models import TranscriptionResult
from podcast_assets.core.text import normalize_text
from podcast_assets.core.video.alignment import best_match, figure_mentions
from podcast_assets.core.video.models import DesyncPoint, SyncReport, VisualAlignment, VisualCue

W_COVERAGE = 0.4
W_FIGURES = 0.35
W_QUOTES = 0.25
QUOTE_MATCH = 0.7
SEGMENT_MIN_SHARE = 0.5


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def sync_qa(
    alignment: VisualAlignment,
    transcription: TranscriptionResult,
    *,
    tolerance_s: float = 2.0,
    threshold: float = 80.0,
) -> SyncReport:
    """Measure `alignment` against the spoken words of `transcription` (formulas in the module docstring).
    The segments' spans and the figure numbers are the alignment's record of the audio; only its cues are
    judged."""
    warnings: list[str] = []
    duration = max(alignment.duration, transcription.duration)
    words = sorted(transcription.words, key=lambda w: w.start)
    cues = sorted(alignment.cues, key=lambda c: c.start)
    if alignment.timing == "segments" or not words:
        warnings.append("no word timestamps: visuals are timed by segment starts, timing measures are coarse")
    spans = {s.id: (s.start, s.end) for s in alignment.segments}
    desync: list[DesyncPoint] = []

    # Coverage: time showing a visual of the segment being spoken.
    good = 0.0
    covered_by_segment: dict[str, float] = dict.fromkeys(spans, 0.0)
    for c in cues:
        start, end = max(0.0, c.start), min(duration, c.end)
        if end <= start:
            continue
        in_segments = 0.0
        for sid, (s0, s1) in spans.items():
            part = _overlap(start, end, s0, s1)
            in_segments += part
            if sid == c.segment_id:
                good += part
                covered_by_segment[sid] += part
        good += max(0.0, (end - start) - in_segments)
    coverage = min(1.0, good / duration) if duration > 0 else 0.0

    # Gaps without a visual.
    at = 0.0
    for c in [*cues, VisualCue(kind="title_card", start=duration, end=duration, reason="end")]:
        gap = c.start - at
        if gap > tolerance_s:
            severity = "high" if gap > 5 * tolerance_s else "medium"
            desync.append(
                DesyncPoint(
                    time=round(at, 3),
                    kind="no_visual",
                    severity=severity,
                    detail=f"{gap:.1f} s without a visual",
                )
            )
        at = max(at, c.end)

    without: list[str] = []
    for sid, (s0, s1) in spans.items():
        length = s1 - s0
        share = covered_by_segment[sid] / length if length > 0 else 1.0
        if share < SEGMENT_MIN_SHARE:
            without.append(sid)
            desync.append(
                DesyncPoint(
                    time=round(s0, 3),
                    kind="wrong_segment",
                    severity="high" if share < 0.1 else "medium",
                    detail=f"segment {sid}: {share:.0%} of its time shows its own visuals",
                )
            )

    # Figure timing.
    mentions = [(m.time, m.figure_id) for m in figure_mentions(words, alignment.figure_numbers)]
    on_time = 0
    for t, fid in mentions:
        shown = [c for c in cues if c.kind == "figure" and c.figure_id == fid]
        distance = min((max(0.0, c.start - t, t - c.end) for c in shown), default=None)
        if distance is not None and distance <= tolerance_s:
            on_time += 1
            continue
        if distance is None or distance > 5 * tolerance_s:
            severity = "high"
        else:
            severity = "low" if distance <= 2 * tolerance_s else "medium"
        detail = f"{fid} mentioned at {t:.1f} s, " + (
            "never on screen" if distance is None else f"nearest on screen {distance:.1f} s away"
        )
        desync.append(
            DesyncPoint(time=round(t, 3), kind="figure_late_or_missing", severity=severity, detail=detail)
        )
    figure_accuracy = on_time / len(mentions) if mentions else None

    # Quote timing.
    quotes = [c for c in cues if c.kind == "quote_card"]
    spoken = 0
    for c in quotes:
        window = [w for w in words if w.start >= c.start - tolerance_s and w.end <= c.end + tolerance_s]
        tokens = [t for w in window for t in normalize_text(w.word)]
        _, share = best_match(tokens, normalize_text(c.text))
        if share >= QUOTE_MATCH:
            spoken += 1
        else:
            desync.append(
                DesyncPoint(
                    time=round(c.start, 3),
                    kind="quote_not_spoken",
                    severity="high" if share < 0.5 else "medium",
                    detail=f"quote card of {c.segment_id}: {share:.0%} of its words spoken in its window",
                )
            )
    quote_accuracy = spoken / len(quotes) if quotes else None

    parts = [(W_COVERAGE, coverage), (W_FIGURES, figure_accuracy), (W_QUOTES, quote_accuracy)]
    present = [(w, v) for w, v in parts if v is not None]
    score = 100 * sum(w * v for w, v in present) / sum(w for w, _ in present)
    score = round(min(100.0, max(0.0, score)), 2)
    desync.sort(key=lambda d: d.time)
    return SyncReport(
        pair_id=alignment.pair_id,
        source=alignment.source,
        timing=alignment.timing,
        tolerance_s=tolerance_s,
        visual_coverage=round(coverage, 4),
        figure_mentions=len(mentions),
        figure_timing_accuracy=None if figure_accuracy is None else round(figure_accuracy, 4),
        quote_cards=len(quotes),
        quote_timing_accuracy=None if quote_accuracy is None else round(quote_accuracy, 4),
        desync_points=desync,
        segments_without_visuals=without,
        sync_score=score,
        passed=score >= threshold,
        threshold=threshold,
        warnings=warnings,
    )
