"""The Optuna search (training.search: optuna): one point per scored trial from its train pairs only, the same
history gives the same proposal, a refused proposal gets another, TPE lowers a known loss, and the study it
rebuilds is written beside the trials where Optuna opens it."""

from __future__ import annotations

import statistics

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from podcast_assets.core.config import ConvergenceSettings
from podcast_assets.core.training import search
from podcast_assets.core.training.models import GenerationSettings
from podcast_assets.core.training.prompts import REFINED
from podcast_assets.core.training.session import next_trial, session_dir, session_failures, session_items
from podcast_assets.core.training.summary import build_report
from podcast_assets.defs.training import optuna_refiner
from tests.core.test_refine import item, scored, world  # noqa: F401 (world is a fixture)


def test_a_point_is_the_mean_train_loss_of_one_trial_and_never_sees_the_validation_pair():
    slow, fast = GenerationSettings(), GenerationSettings(words_per_minute=180)
    items = [item("a", "t002", quality=0.5), item("a", "t001"), item("c", "t001", quality=0.9),
             item("b", "t001", "validation", quality=0.0)]  # fmt: skip
    points = search.points(items, {"t001": slow, "t002": fast})
    assert [p.trial_id for p in points] == ["t001", "t002"]
    assert points[0].loss == pytest.approx(statistics.fmean([items[1].losses.total, items[2].losses.total]))
    assert points[0].settings is slow and points[1].settings is fast


def test_the_same_history_gives_the_same_proposal_and_a_refused_one_another():
    base = GenerationSettings(type_weights={"intro": 1.5})
    history = [search.Point("t001", GenerationSettings(), 0.30)]
    first, _ = search.propose(history, base, "body", session_id="s1")
    assert search.propose(history, base, "body", session_id="s1")[0].settings == first.settings
    assert search.propose(history, base, "body", session_id="s1", attempt=1)[0].settings != first.settings
    assert first.move == "optuna" and first.reason.startswith("move:optuna: random (startup) point 2")
    assert first.settings.type_weights == {"intro": 1.5}, "the space leaves the segment budget to the best trial"
    for name, dist in search.SPACE.items():
        assert dist.low <= getattr(first.settings, name) <= dist.high


def test_tpe_lowers_a_known_loss_below_its_random_start():
    def loss(s: GenerationSettings) -> float:
        return ((s.words_per_minute - 170) / 90) ** 2 + ((s.questions_per_minute - 3) / 4) ** 2 + (s.phrase_use - 0.8) ** 2

    history = [search.Point("t001", GenerationSettings(), loss(GenerationSettings()))]
    for n in range(2, 21):
        proposal, _ = search.propose(history, GenerationSettings(), "body", session_id="known")
        history.append(search.Point(f"t{n:03d}", proposal.settings, loss(proposal.settings)))
    startup = min(p.loss for p in history[: search.STARTUP_POINTS])
    assert min(p.loss for p in history) < startup * 0.5
    assert "TPE point" in proposal.reason


def test_the_study_is_written_where_optuna_opens_it(tmp_path):
    journal = tmp_path / "optuna.journal"
    history = [search.Point(f"t00{n}", GenerationSettings(phrase_use=n / 10), 0.3 - n / 100) for n in (1, 2, 3)]
    journal.write_bytes(search.propose(history, GenerationSettings(), "body", session_id="s2")[1])
    study = optuna.load_study(study_name="s2", storage=JournalStorage(JournalFileBackend(str(journal))))
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3 + [TrialState.RUNNING]
    assert [t.user_attrs["trial_id"] for t in study.trials[:3]] == ["t001", "t002", "t003"]
    assert study.best_trial.params["phrase_use"] == pytest.approx(0.3)


def test_a_session_searched_by_optuna_adds_its_proposal_and_the_study(world):  # noqa: F811
    store, library, session = world
    scored(store, session, "t001", 0.5, 0.5)
    items = session_items(store, session)
    report = build_report(session, items, session_failures(store, session), ConvergenceSettings(max_trials=3))
    entry = next_trial(store, library, session, report, optuna_refiner(store, library, session, items))
    assert entry is not None and entry.reason.startswith("move:optuna") and entry.parent_trial == "t001"
    assert library.get(REFINED, entry.prompt_version).settings != GenerationSettings()
    assert store.exists(f"{session_dir(session)}/optuna.journal")
