"""The convergence rule: best on validation (train when there is none), min_improvement relative,
patience, max_trials."""

from podcast_assets.core.config import ConvergenceSettings
from podcast_assets.core.training.convergence import TrialScore, decide

RULE = ConvergenceSettings(max_trials=6, min_improvement=0.05, patience=2)


def scores(*pairs):
    return [
        TrialScore(trial_id=f"t{n:03d}", prompt_version=n, train_loss=t, validation_loss=v)
        for n, (t, v) in enumerate(pairs, 1)
    ]


def test_goes_on_while_validation_improves():
    d = decide(scores((0.5, 0.6), (0.4, 0.5)), RULE)
    assert not d.converged and d.best_trial == "t002" and d.trials_since_best == 0


def test_a_train_gain_without_a_validation_gain_is_not_best():
    d = decide(scores((0.5, 0.6), (0.2, 0.61)), RULE)
    assert d.best_trial == "t001" and d.trials_since_best == 1


def test_a_gain_smaller_than_min_improvement_does_not_count():
    d = decide(scores((0.5, 0.60), (0.5, 0.58), (0.5, 0.575)), RULE)
    assert d.converged and d.best_trial == "t001" and "patience 2" in d.reason


def test_stops_at_max_trials_naming_the_best():
    history = scores(*[(0.5, 1.0 - 0.1 * n) for n in range(6)])
    d = decide(history, RULE)
    assert d.converged and d.best_trial == "t006" and "max_trials=6" in d.reason


def test_without_a_validation_set_the_train_loss_decides():
    d = decide(scores((0.5, None), (0.4, None)), RULE)
    assert d.best_trial == "t002" and "train loss" in d.reason
