"""The training summary: trials x pairs x losses as a polars frame, the curves, the decision, the report."""

from __future__ import annotations

import io
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence

import polars as pl
from pydantic import Field

from podcast_assets.core.config import ConvergenceSettings
from podcast_assets.core.records import Record
from podcast_assets.core.training.convergence import (
    CrossValidation,
    Decision,
    Interval,
    TrialScore,
    bootstrap,
    decide,
    leave_one_pair_out,
)
from podcast_assets.core.training.models import TrainingSession, TrialItem

LOSSES = ("duration", "coverage", "structure", "quality", "rouge", "total")


class TrialRow(Record):
    trial_id: str
    prompt_version: int
    reason: str
    train_loss: float | None
    validation_loss: float | None
    loss: Interval | None = Field(
        default=None, description="Mean total loss over every pair scored, with its 90% bootstrap interval."
    )
    losses: dict[str, float] = Field(
        description="Mean of each loss over every pair scored (train and validation)."
    )
    pairs_scored: list[str]
    pairs_failed: dict[str, str] = Field(default_factory=dict)
    copied_share: float | None = Field(default=None, description="Mean share of script words copied in 12-word runs.")
    prompting_share: float | None = Field(default=None, description="Mean share of turns that ask or react.")
    checks_failed: dict[str, int] = Field(
        default_factory=dict, description="{check: pairs whose script failed it} (core/training/script_checks.py)."
    )


class TrainingReport(Record):
    session_id: str
    profile_version: int
    target_depth: str
    split: dict[str, str]
    validation_note: str
    quality_methods: list[str] = Field(description="'rubric' (offline) and/or 'llm-judge'.")
    trials: list[TrialRow]
    decision: Decision
    cross_validated: CrossValidation | None = Field(
        default=None, description="Leave-one-pair-out: each pair's loss under the version the others choose."
    )


def frame(items: Sequence[TrialItem]) -> pl.DataFrame:
    """One row per (trial, pair): the five losses, the total and how the audio came out."""
    rows = [
        {
            "trial_id": i.trial_id,
            "prompt_version": i.prompt_version,
            "pair_id": i.pair_id,
            "split": i.split,
            **{name: getattr(i.losses, name) for name in LOSSES},
            "audio_seconds": i.speech.audio_seconds,
            "reference_seconds": i.details.reference_seconds,
            "round_trip_wer": i.speech.round_trip_wer,
            "passes": i.speech.passes,
            "quality_method": i.details.quality_method,
            "copied_share": i.checks.copied_share if i.checks else None,
            "checks_passed": i.checks.passed if i.checks else None,
        }
        for i in items
    ]
    schema = {"trial_id": pl.String, "prompt_version": pl.String, "pair_id": pl.String, "split": pl.String,
              **{name: pl.Float64 for name in LOSSES}, "audio_seconds": pl.Float64,
              "reference_seconds": pl.Float64, "round_trip_wer": pl.Float64, "passes": pl.Int64,
              "quality_method": pl.String, "copied_share": pl.Float64, "checks_passed": pl.Boolean}  # fmt: skip
    return pl.DataFrame(rows, schema=schema).sort(["trial_id", "pair_id"])


def _mean(values: Sequence[float]) -> float | None:
    return round(statistics.fmean(values), 4) if values else None


def build_report(
    session: TrainingSession,
    items: Sequence[TrialItem],
    failures: Mapping[str, Mapping[str, str]],
    convergence: ConvergenceSettings,
) -> TrainingReport:
    """Per trial, the mean total loss on train and on validation pairs; the best trial and whether to stop.
    A trial counts only once each of the session's pairs is scored or failed."""
    rows, history = [], []
    for entry in session.trials:
        mine = [i for i in items if i.trial_id == entry.trial_id]
        failed = dict(failures.get(entry.trial_id, {}))
        if {i.pair_id for i in mine} | set(failed) < set(session.split):
            continue  # still running
        train = [i.losses.total for i in mine if i.split == "train"]
        validation = [i.losses.total for i in mine if i.split == "validation"]
        row = TrialRow(
            trial_id=entry.trial_id,
            prompt_version=entry.prompt_version,
            reason=entry.reason,
            train_loss=_mean(train),
            validation_loss=_mean(validation),
            loss=bootstrap([i.losses.total for i in mine]) if mine else None,
            losses={name: _mean([getattr(i.losses, name) for i in mine]) or 0.0 for name in LOSSES},
            pairs_scored=sorted(i.pair_id for i in mine),
            pairs_failed=failed,
            copied_share=_mean([i.checks.copied_share for i in mine if i.checks]),
            prompting_share=_mean([i.checks.prompting_share for i in mine if i.checks]),
            checks_failed=dict(Counter(f.check for i in mine if i.checks for f in i.checks.findings if not f.passed)),
        )
        rows.append(row)
        history.append(TrialScore(trial_id=row.trial_id, prompt_version=row.prompt_version,
                                  pair_losses={i.pair_id: i.losses.total for i in mine},
                                  train_loss=row.train_loss, validation_loss=row.validation_loss))  # fmt: skip
    held = sorted(p for p, s in session.split.items() if s == "validation")
    note = (
        f"the refiner learns from the train pairs only (validation: {', '.join(held)}); a version becomes best "
        "only by a paired gain over every pair scored whose 90% bootstrap interval is above 0, and the "
        "leave-one-pair-out table scores each pair under the version the other pairs choose"
        if held
        else "no validation set: with a single training pair, best is chosen on that pair's loss, which "
        "measures fit to it and not how well a version generalises"
    )
    return TrainingReport(
        session_id=session.session_id,
        profile_version=session.profile_version,
        target_depth=session.target_depth,
        split=dict(session.split),
        validation_note=note,
        quality_methods=sorted({i.details.quality_method for i in items}),
        trials=rows,
        decision=decide(history, convergence),
        cross_validated=leave_one_pair_out(history, convergence),
    )


def loss_curve_png(report: TrainingReport) -> bytes:
    """Train and validation loss per trial (left) and each trial's mean losses broken down (right)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.6), dpi=100)
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    ids = [r.trial_id for r in report.trials]
    for label, values, style in (
        ("train", [r.train_loss for r in report.trials], "o-"),
        ("validation", [r.validation_loss for r in report.trials], "s--"),
    ):
        points = [(i, v) for i, v in enumerate(values) if v is not None]
        if points:
            left.plot([p[0] for p in points], [p[1] for p in points], style, label=label)
    band = [(i, r.loss) for i, r in enumerate(report.trials) if r.loss is not None]
    if band:
        xs = [i for i, _ in band]
        left.plot(xs, [b.mean for _, b in band], "k.-", lw=0.8, label="all pairs (90% interval)")
        left.fill_between(xs, [b.low for _, b in band], [b.high for _, b in band], color="grey", alpha=0.2)
    if report.decision.best_trial in ids:
        left.axvline(ids.index(report.decision.best_trial), color="grey", lw=0.8, ls=":", label="best")
    left.set_xticks(range(len(ids)), ids, rotation=45, fontsize=8)
    left.set_ylabel("total loss")
    left.set_title("loss per trial")
    left.legend(fontsize=8)
    bottom = [0.0] * len(ids)
    stacked = ("duration", "coverage", "structure", "quality", "rouge")
    for name in stacked:
        values = [r.losses.get(name, 0.0) for r in report.trials]
        right.bar(range(len(ids)), values, bottom=bottom, label=name)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    right.set_xticks(range(len(ids)), ids, rotation=45, fontsize=8)
    right.set_title("mean of each loss (unweighted, stacked)")
    right.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def report_markdown(report: TrainingReport) -> str:
    lines = [
        f"# Training session {report.session_id}",
        "",
        (
            f"Aggregated profile v{report.profile_version}; target length: {report.target_depth}; quality "
            f"scored by: {', '.join(report.quality_methods) or '-'} (rubric = the offline, transparent rubric, "
            "not an LLM)."
        ),
        "",
        report.validation_note,
        "",
        f"**Decision:** {'converged' if report.decision.converged else 'go on'}: {report.decision.reason}",
        "",
        "| trial | version | total loss [90% interval] | train loss | validation loss | duration | coverage | structure | quality | rouge | why this version |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report.trials:
        best = " **(best)**" if r.trial_id == report.decision.best_trial else ""
        reason = r.reason.replace("|", "/")
        total = "-" if r.loss is None else f"{r.loss.mean:.4f} [{r.loss.low:.4f}, {r.loss.high:.4f}]"
        lines.append(
            f"| {r.trial_id}{best} | v{r.prompt_version} | {total} | {_cell(r.train_loss)} | {_cell(r.validation_loss)} | "
            + " | ".join(
                _cell(r.losses.get(n)) for n in ("duration", "coverage", "structure", "quality", "rouge")
            )
            + f" | {reason} |"
        )
        for pair, error in r.pairs_failed.items():
            lines.append(f"|  | failed: {pair} | {error.replace('|', '/')} |  |  |  |  |  |  |  |  |")
    checked = [r for r in report.trials if r.copied_share is not None]
    if checked:
        lines += [
            "",
            "**Script checks** (each pair's script; core/training/script_checks.py):",
            "",
            "| trial | words copied in 12-word runs | turns that ask or react | failed (pairs) |",
            "|---|---|---|---|",
            *(f"| {r.trial_id} | {r.copied_share:.0%} | {_share(r.prompting_share)} | "
              + (", ".join(f"{c} ({n})" for c, n in sorted(r.checks_failed.items())) or "none") + " |"
              for r in checked),
        ]  # fmt: skip
    cv = report.cross_validated
    if cv is not None:
        lines += [
            "",
            f"**Leave-one-pair-out:** loss {cv.loss}; over the first trial: {cv.over_first}",
            "",
            "| pair left out | chosen by the others | its loss there | first trial's loss |",
            "|---|---|---|---|",
            *(f"| {f.pair_id} | {f.chosen_trial} (v{f.chosen_version}) | {f.loss:.4f} | {f.first_loss:.4f} |"
              for f in cv.folds),
            *(f"| {p} | - (a version failed on it) | - | - |" for p in cv.unscored),
        ]  # fmt: skip
    return "\n".join(lines) + "\n"
