"""The selection rule: a paired gain over every pair with its bootstrap interval above 0 and at least
min_improvement, patience, max_trials; and the leave-one-pair-out estimate of the choice."""

from podcast_assets.core.config import ConvergenceSettings
from podcast_assets.core.training.convergence import (
    TrialScore,
    bootstrap,
    decide,
    leave_one_pair_out,
    paired_improvement,
)

RULE = ConvergenceSettings(max_trials=6, min_improvement=0.05, patience=2)
PAIRS = ("a", "b", "c", "d")


def scores(*rows):
    """One trial per row of per-pair losses (in PAIRS order; None: that pair failed)."""
    return [
        TrialScore(
            trial_id=f"t{n:03d}",
            prompt_version=n,
            pair_losses={p: v for p, v in zip(PAIRS, row, strict=False) if v is not None},
        )
        for n, row in enumerate(rows, 1)
    ]


def test_a_gain_on_every_pair_makes_a_new_best():
    d = decide(scores((0.5, 0.6, 0.4, 0.5), (0.4, 0.5, 0.35, 0.45)), RULE)
    assert not d.converged and d.best_trial == "t002" and d.trials_since_best == 0
    assert d.over_first is not None and d.over_first.wins == 4 and d.over_first.gain.low > 0


def test_one_pair_cannot_decide_a_mean_gain_that_the_others_contradict():
    # t002's mean is 11% lower, all of it from pair a; b, c and d got worse
    d = decide(scores((0.6, 0.3, 0.3, 0.3), (0.2, 0.32, 0.31, 0.33)), RULE)
    assert d.best_trial == "t001" and d.trials_since_best == 1


def test_a_real_but_small_gain_does_not_count():
    d = decide(scores((0.5, 0.5, 0.5, 0.5), (0.49, 0.49, 0.49, 0.49), (0.48, 0.49, 0.48, 0.49)), RULE)
    assert d.converged and d.best_trial == "t001" and "patience 2" in d.reason


def test_stops_at_max_trials_naming_the_best_with_its_interval():
    d = decide(scores(*[[1.0 - 0.1 * n - 0.01 * k for k in range(4)] for n in range(6)]), RULE)
    assert d.converged and d.best_trial == "t006" and "max_trials=6" in d.reason
    assert d.best_loss is not None and d.best_loss.low <= d.best_loss.mean <= d.best_loss.high
    assert "over 4 pair(s)" in d.reason


def test_a_single_pair_decides_on_its_loss_and_says_it_has_no_interval():
    d = decide([TrialScore(trial_id="t001", prompt_version=1, pair_losses={"a": 0.5}),
                TrialScore(trial_id="t002", prompt_version=2, pair_losses={"a": 0.4})], RULE)  # fmt: skip
    assert d.best_trial == "t002" and "one pair: no interval" in d.reason


def test_pairs_are_compared_only_where_both_trials_scored():
    history = scores((0.5, 0.5, 0.5, 0.5), (0.4, 0.4, 0.4, None))
    step = paired_improvement(history[0].pair_losses, history[1].pair_losses)
    assert step is not None and step.gain.pairs == 3 and step.wins == 3
    assert decide(history, RULE).best_trial == "t002"


def test_the_bootstrap_is_seeded_and_brackets_the_mean():
    values = [0.1, 0.3, 0.2, 0.25, 0.15]
    first, again = bootstrap(values), bootstrap(values)
    assert first == again and first.low < first.mean < first.high and first.pairs == 5
    assert bootstrap([0.2, 0.2, 0.2]).low == bootstrap([0.2, 0.2, 0.2]).high == 0.2


def test_leave_one_pair_out_scores_each_pair_under_the_others_choice():
    # t002 is better on a, b and c but much worse on d: chosen whenever d is left out of the choice?
    history = scores((0.5, 0.5, 0.5, 0.5), (0.3, 0.3, 0.3, 0.9))
    cv = leave_one_pair_out(history, RULE)
    assert cv is not None
    chosen = {f.pair_id: f.chosen_trial for f in cv.folds}
    assert chosen["d"] == "t002", "without d, t002 wins on every pair"
    assert chosen["a"] == "t001", "with d, one pair against it and the interval reaches below 0"
    by_pair = {f.pair_id: f.loss for f in cv.folds}
    assert by_pair == {"a": 0.5, "b": 0.5, "c": 0.5, "d": 0.9}
    assert cv.over_first.wins == 0 and cv.loss.mean == 0.6


def test_leave_one_pair_out_needs_two_pairs():
    assert leave_one_pair_out(scores((0.5,), (0.4,)), RULE) is None
