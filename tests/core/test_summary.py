"""The training report as a reader sees it: each trial's loss with its interval, the decision's reason, the
leave-one-pair-out table, and a loss-curve picture."""

from podcast_assets.core.config import ConvergenceSettings
from podcast_assets.core.training.convergence import bootstrap, decide, leave_one_pair_out
from podcast_assets.core.training.summary import TrainingReport, TrialRow, loss_curve_png, report_markdown
from tests.core.test_convergence import scores

RULE = ConvergenceSettings(max_trials=3, min_improvement=0.01, patience=2)


def report_of(*rows) -> TrainingReport:
    history = scores(*rows)
    trials = [
        TrialRow(trial_id=s.trial_id, prompt_version=s.prompt_version, reason="test", train_loss=None,
                 validation_loss=None, loss=bootstrap(list(s.pair_losses.values())), losses={"total": 0.0},
                 pairs_scored=sorted(s.pair_losses))  # fmt: skip
        for s in history
    ]
    return TrainingReport(session_id="s", profile_version=1, target_depth="standard", split={}, validation_note="",
                          quality_methods=["rubric"], trials=trials, decision=decide(history, RULE),
                          cross_validated=leave_one_pair_out(history, RULE))  # fmt: skip


def test_the_report_shows_intervals_the_decision_and_every_fold():
    report = report_of((0.5, 0.6, 0.4, 0.5), (0.4, 0.5, 0.3, 0.45))
    text = report_markdown(report)
    assert "| t002 **(best)** | v2 | 0.4125 [" in text
    assert "over t001: gain 0.0875 [" in report.decision.reason
    assert "**Leave-one-pair-out:** loss 0.4125 [" in text
    for pair in ("a", "b", "c", "d"):
        assert f"| {pair} | t002 (v2) |" in text, "every fold's others choose t002: it wins on all four"
    assert loss_curve_png(report).startswith(b"\x89PNG")
