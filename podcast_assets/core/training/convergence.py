"""When to stop refining: the seed's rule on the validation loss (the train loss when there is no
validation set), with `min_improvement` relative, `patience` trials and `max_trials`."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from podcast_assets.core.config import ConvergenceSettings
from podcast_assets.core.records import Record


class TrialScore(Record):
    trial_id: str
    prompt_version: int
    train_loss: float | None = Field(description="Mean total loss over the train pairs scored.")
    validation_loss: float | None = Field(
        description="Mean total loss over the validation pairs; None: none."
    )

    @property
    def selection_loss(self) -> float | None:
        """What decides "best": validation when there is a validation set, else train."""
        return self.validation_loss if self.validation_loss is not None else self.train_loss


class Decision(Record):
    converged: bool
    best_trial: str | None
    best_version: int | None
    trials: int
    trials_since_best: int
    reason: str


def decide(history: Sequence[TrialScore], settings: ConvergenceSettings) -> Decision:
    """Best trial and whether to stop. A trial becomes best only if it beats the best so far by at least
    `min_improvement` (relative); stop after `patience` trials without that, or at `max_trials`."""
    best: TrialScore | None = None
    since = 0
    for score in history:
        loss = score.selection_loss
        if loss is None:
            since += 1
            continue
        if best is None or loss < best.selection_loss * (1 - settings.min_improvement):  # type: ignore[operator]
            best, since = score, 0
        else:
            since += 1
    kind = "validation" if best is not None and best.validation_loss is not None else "train"
    if best is None:
        converged = len(history) >= settings.max_trials
        reason = f"no trial scored yet ({len(history)} run)"
    elif len(history) >= settings.max_trials:
        converged = True
        reason = f"reached max_trials={settings.max_trials}; best is {best.trial_id} ({kind} loss {best.selection_loss:.4f})"
    elif since >= settings.patience:
        converged = True
        reason = (
            f"{kind} loss has not improved by {settings.min_improvement:.0%} for {since} trial(s) "
            f"(patience {settings.patience}); best is {best.trial_id} ({best.selection_loss:.4f})"
        )
    else:
        converged = False
        reason = (
            f"best is {best.trial_id} ({kind} loss {best.selection_loss:.4f}); {since} of {settings.patience} "
            f"trial(s) without improvement, {len(history)} of {settings.max_trials} trials"
        )
    return Decision(
        converged=converged,
        best_trial=best.trial_id if best else None,
        best_version=best.prompt_version if best else None,
        trials=len(history),
        trials_since_best=since,
        reason=reason,
    )
