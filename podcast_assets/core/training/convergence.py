"""Which version is best and when to stop refining: a paired comparison over pairs, with its interval.

Every trial scores its version on every pair of the session, so two versions can be compared pair by pair.
A candidate replaces the best so far only when its paired improvement is real: the mean of (best's loss -
candidate's loss) over the pairs both scored is at least `min_improvement` of the best's mean loss, and the
lower end of its 90% paired-bootstrap interval (pairs resampled with replacement, seeded, so the same losses
always give the same decision) is above zero. One pair's noise can no longer decide: with two pairs both must
improve, with four one loss may go against it only if the others outweigh it. A single pair gives no
interval (its bounds are the point) and the reason says so. Stopping uses the same rule: `patience` trials in
a row that do not pass it, or `max_trials`.

`leave_one_pair_out` estimates how the choice generalises: for each pair, the rule picks a version from the
other pairs' losses alone, and that version is scored on the pair left out. The refiner sees the train pairs
only (split.py), so for a train pair the fold is left out of the choice, not of the refinement.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence

import numpy as np
from pydantic import Field

from podcast_assets.core.config import ConvergenceSettings
from podcast_assets.core.records import Record

RESAMPLES = 4000
"""Bootstrap resamples of the pairs (the interval's ends move by < 0.001 between seeds at this count)."""
INTERVAL = 0.90
"""Two-sided coverage of the paired interval: its lower end is a one-sided 95% bound."""


class TrialScore(Record):
    trial_id: str
    prompt_version: int
    pair_losses: dict[str, float] = Field(description="Total loss per pair scored (train and validation).")
    train_loss: float | None = Field(default=None, description="Mean total loss over the train pairs scored.")
    validation_loss: float | None = Field(
        default=None, description="Mean over the validation pairs; None: none."
    )


class Interval(Record):
    """A mean over pairs with its 90% bootstrap interval."""

    mean: float
    low: float
    high: float
    pairs: int

    def __str__(self) -> str:
        return f"{self.mean:.4f} [{self.low:.4f}, {self.high:.4f}] over {self.pairs} pair(s)"


def bootstrap(values: Sequence[float], *, seed: int = 0) -> Interval:
    """The mean of `values` (one per pair) and its 90% percentile-bootstrap interval."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        raise ValueError("bootstrap of no values")
    means = data[np.random.default_rng(seed).integers(0, data.size, (RESAMPLES, data.size))].mean(axis=1)
    tail = (1 - INTERVAL) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return Interval(mean=round(float(data.mean()), 4), low=round(float(low), 4), high=round(float(high), 4),
                    pairs=int(data.size))  # fmt: skip


class Improvement(Record):
    """Incumbent's loss minus candidate's, paired by pair: positive is better."""

    gain: Interval
    relative: float = Field(description="Mean gain over the incumbent's mean loss on the same pairs.")
    wins: int = Field(description="Pairs on which the candidate's loss is lower.")

    def passes(self, settings: ConvergenceSettings) -> bool:
        return self.gain.low > 0 and self.relative >= settings.min_improvement

    def __str__(self) -> str:
        return f"gain {self.gain} ({self.relative:+.1%}), better on {self.wins} of {self.gain.pairs}"


def paired_improvement(incumbent: Mapping[str, float], candidate: Mapping[str, float]) -> Improvement | None:
    """The candidate's paired gain over the incumbent on the pairs both scored; None: no pair in common."""
    shared = sorted(set(incumbent) & set(candidate))
    if not shared:
        return None
    gains = [incumbent[p] - candidate[p] for p in shared]
    base = statistics.fmean(incumbent[p] for p in shared)
    return Improvement(
        gain=bootstrap(gains),
        relative=round(statistics.fmean(gains) / base, 4) if base > 0 else 0.0,
        wins=sum(g > 0 for g in gains),
    )


class Decision(Record):
    converged: bool
    best_trial: str | None
    best_version: int | None
    trials: int
    trials_since_best: int
    reason: str
    best_loss: Interval | None = Field(default=None, description="The best trial's mean loss over its pairs.")
    over_first: Improvement | None = Field(
        default=None, description="The best trial's paired gain over the session's first trial."
    )


def _only(score: TrialScore, pairs: set[str] | None) -> TrialScore:
    if pairs is None:
        return score
    return score.model_copy(
        update={"pair_losses": {p: v for p, v in score.pair_losses.items() if p in pairs}}
    )


def decide(
    history: Sequence[TrialScore], settings: ConvergenceSettings, *, pairs: set[str] | None = None
) -> Decision:
    """Best trial and whether to stop (the module docstring's rule); `pairs` restricts what it may look at."""
    scores = [_only(s, pairs) for s in history]
    best: TrialScore | None = None
    since = 0
    for score in scores:
        if not score.pair_losses:
            since += 1
            continue
        if best is None:
            best, since = score, 0
            continue
        step = paired_improvement(best.pair_losses, score.pair_losses)
        if step is not None and step.passes(settings):
            best, since = score, 0
        else:
            since += 1
    if best is None:
        return Decision(converged=len(scores) >= settings.max_trials, best_trial=None, best_version=None,
                        trials=len(scores), trials_since_best=since,
                        reason=f"no trial scored yet ({len(scores)} run)")  # fmt: skip
    loss = bootstrap(list(best.pair_losses.values()))
    first = next(s for s in scores if s.pair_losses)
    over_first = None if first is best else paired_improvement(first.pair_losses, best.pair_losses)
    point = " (one pair: no interval, its bounds are the point)" if loss.pairs == 1 else ""
    where = f"best is {best.trial_id} (mean loss {loss}{point}"
    where += f"; over {first.trial_id}: {over_first})" if over_first else ")"
    rule = f"a paired gain of at least {settings.min_improvement:.0%} with its 90% interval above 0"
    if len(scores) >= settings.max_trials:
        converged, reason = True, f"reached max_trials={settings.max_trials}; {where}"
    elif since >= settings.patience:
        converged = True
        reason = f"no trial passed {rule} for {since} trial(s) (patience {settings.patience}); {where}"
    else:
        converged = False
        reason = (
            f"{where}; {since} of {settings.patience} trial(s) without {rule}, "
            f"{len(scores)} of {settings.max_trials} trials"
        )
    return Decision(
        converged=converged,
        best_trial=best.trial_id,
        best_version=best.prompt_version,
        trials=len(scores),
        trials_since_best=since,
        reason=reason,
        best_loss=loss,
        over_first=over_first,
    )


class Fold(Record):
    """One pair left out of the choice: the version the other pairs choose, and its loss on this pair."""

    pair_id: str
    chosen_trial: str
    chosen_version: int
    loss: float = Field(description="The chosen version's total loss on the pair left out.")
    first_loss: float = Field(description="The session's first trial's loss on the same pair.")


class CrossValidation(Record):
    folds: list[Fold]
    unscored: list[str] = Field(
        default_factory=list, description="Pairs whose fold's choice (or the first trial) failed on them."
    )
    loss: Interval = Field(description="Mean over folds of the left-out pair's loss under the choice.")
    over_first: Improvement = Field(description="Paired gain of the folds' choices over the first trial.")


def leave_one_pair_out(
    history: Sequence[TrialScore], settings: ConvergenceSettings
) -> CrossValidation | None:
    """The cross-validated loss of the choice (module docstring); None with fewer than two pairs."""
    scored = [s for s in history if s.pair_losses]
    if not scored:
        return None
    first = scored[0]
    pairs = sorted(set().union(*(s.pair_losses for s in scored)))
    if len(pairs) < 2:
        return None
    folds, unscored = [], []
    for pair in pairs:
        chosen = decide(scored, settings, pairs=set(pairs) - {pair})
        trial = next((s for s in scored if s.trial_id == chosen.best_trial), first)
        if pair not in trial.pair_losses or pair not in first.pair_losses:
            unscored.append(pair)
            continue
        folds.append(Fold(pair_id=pair, chosen_trial=trial.trial_id, chosen_version=trial.prompt_version,
                          loss=trial.pair_losses[pair], first_loss=first.pair_losses[pair]))  # fmt: skip
    improvement = paired_improvement(
        {f.pair_id: f.first_loss for f in folds}, {f.pair_id: f.loss for f in folds}
    )
    if improvement is None:
        return None
    return CrossValidation(folds=folds, unscored=unscored, loss=bootstrap([f.loss for f in folds]),
                           over_first=improvement)  # fmt: skip
