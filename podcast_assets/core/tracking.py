"""What is logged to the experiment tracker (MLflow, through resources/tracking.py): a training session as a parent
run with one child run per trial, and each fitted segment typer as a run of its own. Every run has a stable key, so
logging a session again after its next trial updates the runs it already has and adds the new ones."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from podcast_assets.core.analysis.typer_export import TyperCard, typer_folder
from podcast_assets.core.training.models import TrainingSession, TrialItem
from podcast_assets.core.training.summary import TrainingReport

KEY_TAG = "podcast_assets.key"


def session_key(session_id: str) -> str:
    """The key of a training session's run (its trials' runs are keyed under it)."""
    return f"training/{session_id}"


@dataclass(frozen=True)
class TrackedRun:
    """One run as the tracker shows it: `key` is its identity (a tag), `parent` the key of the run it nests under."""

    key: str
    name: str
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str] = field(default_factory=dict)
    artifacts: dict[str, bytes] = field(default_factory=dict)
    parent: str | None = None


def session_runs(
    session: TrainingSession, report: TrainingReport, items: Sequence[TrialItem], artifacts: dict[str, bytes]
) -> list[TrackedRun]:
    """The session's run (its split, the decision, the best trial's and the cross-validated loss, the report's
    files as `artifacts`), then one run per scored trial: its prompt version and parent, the mean of each loss with
    the total's interval, train and validation loss, and every pair's total."""
    key = session_key(session.session_id)
    best = report.decision.best_trial
    metrics: dict[str, float] = {"trials_complete": float(len(report.trials))}
    if report.decision.best_loss is not None:
        metrics["best_loss"] = report.decision.best_loss.mean
    if report.decision.over_first is not None:
        metrics["best_gain_over_first"] = report.decision.over_first.gain.mean
    if (cv := report.cross_validated) is not None:
        metrics |= {"cv_loss": cv.loss.mean, "cv_loss_low": cv.loss.low, "cv_loss_high": cv.loss.high,
                    "cv_gain_over_first": cv.over_first.gain.mean}  # fmt: skip
    parent = TrackedRun(
        key=key,
        name=f"session {session.session_id}",
        params={
            "profile_version": str(report.profile_version),
            "target_depth": report.target_depth,
            "train_pairs": ",".join(sorted(p for p, s in report.split.items() if s == "train")),
            "validation_pairs": ",".join(sorted(p for p, s in report.split.items() if s == "validation")) or "-",
        },
        metrics=metrics,
        tags={"best_trial": best or "-", "converged": str(report.decision.converged).lower(),
              "decision": report.decision.reason, "quality_methods": ",".join(report.quality_methods)},  # fmt: skip
        artifacts=artifacts,
    )
    entries = {t.trial_id: t for t in session.trials}
    runs = [parent]
    for row in report.trials:
        entry = entries.get(row.trial_id)
        trial_metrics = {f"mean_{name}": value for name, value in row.losses.items()}
        if row.loss is not None:
            trial_metrics |= {"total_loss": row.loss.mean, "total_loss_low": row.loss.low, "total_loss_high": row.loss.high}
        if row.train_loss is not None:
            trial_metrics["train_loss"] = row.train_loss
        if row.validation_loss is not None:
            trial_metrics["validation_loss"] = row.validation_loss
        for item in items:
            if item.trial_id == row.trial_id:
                trial_metrics[f"pair_total.{item.pair_id}"] = item.losses.total
        runs.append(
            TrackedRun(
                key=f"{key}/{row.trial_id}",
                name=row.trial_id,
                params={"prompt_version": f"script_writer/v{row.prompt_version}",
                        "parent_trial": (entry.parent_trial if entry else None) or "-", "reason": row.reason[:500]},  # fmt: skip
                metrics=trial_metrics,
                tags={"best": str(row.trial_id == best).lower(), "pairs_failed": ",".join(sorted(row.pairs_failed)) or "-"},
                parent=key,
            )
        )
    return runs


def typer_run(card: TyperCard, artifacts: dict[str, bytes]) -> TrackedRun:
    """A fitted segment typer: what it was trained on, its leave-one-pair-out figures beside the cue typer's, and
    ONNX parity; keyed by the model's content address, so the same model is one run however often it is fitted."""
    ev = card.evaluation
    metrics = {"learned_accuracy": ev.learned, "cue_accuracy": ev.cue, "majority_accuracy": ev.majority,
               "learned_macro_f1": ev.macro_f1, "cue_macro_f1": ev.cue_macro_f1,
               "parity_segments": float(card.parity_segments), "segments": float(card.segments)}  # fmt: skip
    metrics |= {f"held_out_learned.{f.pair_id}": f.learned for f in ev.folds}
    metrics |= {f"f1.{t.type}": t.f1 for t in ev.per_type}
    return TrackedRun(
        key=typer_folder(card.model_sha256),
        name=f"segment_typer {card.model_sha256[:12]}",
        params={"kind": card.kind, "sequence": str(card.sequence).lower(), "classes": ",".join(card.classes),
                "trained_on": ",".join(f"{p}@{h}" for p, h in sorted(card.trained_on.items()))},  # fmt: skip
        metrics=metrics,
        tags={"model_sha256": card.model_sha256, "beats_cue_typer": str(card.beats_cue_typer).lower()},
        artifacts=artifacts,
    )
