"""The Optuna search over the offline writer's settings (`training.search: optuna`), beside refine.py's moves.

Optuna's TPE sampler proposes the next settings from every trial the session scored so far: each trial is one
point (its version's settings, the mean total loss of its train pairs; the validation pair is never shown to it).
The session is the record and the study is derived from it: every proposal rebuilds the study in memory from the
session's scored trials, seeded by the session id and the number of points, so a crash never leaves a study out
of step with its trials and the same history gives the same proposal. The rebuilt study (the points and the
trial just asked for) comes back as a journal file, kept beside the trials as `optuna.journal`.

The space is the six numeric settings; `type_weights` (the segment budget per type) is kept from the best trial,
as the moves' structure lever is the only one that changes it.
"""

from __future__ import annotations

import hashlib
import statistics
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import optuna
from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from podcast_assets.core.training.models import GenerationSettings, Refinement, TrialItem

MOVE = "optuna"
STARTUP_POINTS = 3
"""Points (scored trials, the first one included) before TPE models the loss; the first proposals are random."""
MAX_ATTEMPTS = 20
"""Proposals asked for one history at most when each one repeats a version already scored."""
SPACE: dict[str, BaseDistribution] = {
    "words_per_minute": FloatDistribution(110.0, 200.0, step=1.0),
    "concepts_per_segment": FloatDistribution(0.0, 6.0, step=0.5),
    "phrase_use": FloatDistribution(0.0, 1.0, step=0.05),
    "questions_per_minute": FloatDistribution(0.0, 4.0, step=0.1),
    "analogies_per_minute": FloatDistribution(0.0, 2.0, step=0.05),
    "max_sentence_words": IntDistribution(12, 40),
}


class Point(NamedTuple):
    """One scored trial as the study sees it."""

    trial_id: str
    settings: GenerationSettings
    loss: float


def points(items: Sequence[TrialItem], settings_of: Mapping[str, GenerationSettings]) -> list[Point]:
    """One point per trial with a scored train pair, in trial order: its version's settings (`settings_of`:
    trial id -> the settings of the version it scored) and the mean total loss of its train items."""
    by_trial: dict[str, list[TrialItem]] = {}
    for item in items:
        if item.split == "train":
            by_trial.setdefault(item.trial_id, []).append(item)
    return [
        Point(trial_id, settings_of[trial_id], statistics.fmean(i.losses.total for i in group))
        for trial_id, group in sorted(by_trial.items())
    ]


def _snap(name: str, value: float) -> float | int:
    """A setting as a value of its distribution: clipped to the range and rounded to the step."""
    dist = SPACE[name]
    low, high = dist.low, dist.high  # type: ignore[attr-defined]
    step = dist.step or 1  # type: ignore[attr-defined]
    snapped = low + round((min(max(value, low), high) - low) / step) * step
    return int(snapped) if isinstance(dist, IntDistribution) else round(float(snapped), 6)


def _params(settings: GenerationSettings) -> dict[str, float | int]:
    return {name: _snap(name, getattr(settings, name)) for name in SPACE}


def _seed(session_id: str, n_points: int, attempt: int) -> int:
    digest = hashlib.sha256(f"{session_id}:{n_points}:{attempt}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def propose(
    history: Sequence[Point],
    base: GenerationSettings,
    body: str,
    *,
    session_id: str,
    attempt: int = 0,
) -> tuple[Refinement, bytes]:
    """The next settings TPE asks for after `history` (at least one point), on top of `base` (the best trial's
    settings: what the space leaves out, type_weights, comes from it), and the study as an Optuna journal file's
    bytes. `attempt` counts proposals already refused for this history (their content was a version scored
    before), so a repeat asks for another point."""
    if not history:
        raise ValueError("the Optuna search needs at least one scored trial")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "optuna.journal"
        study = optuna.create_study(
            study_name=session_id,
            storage=JournalStorage(JournalFileBackend(str(path))),
            direction="minimize",
            sampler=optuna.samplers.TPESampler(
                seed=_seed(session_id, len(history), attempt), n_startup_trials=STARTUP_POINTS, multivariate=True
            ),
        )
        for point in history:
            study.add_trial(
                optuna.trial.create_trial(
                    params=_params(point.settings),
                    distributions=dict(SPACE),
                    value=point.loss,
                    user_attrs={"trial_id": point.trial_id},
                )
            )
        asked = study.ask(dict(SPACE))
        asked.set_user_attr("trial_id", f"after {history[-1].trial_id}")
        params = dict(asked.params)
        journal = path.read_bytes()
    new = base.model_copy(update=params)
    best = min(history, key=lambda p: p.loss)
    mode = "random (startup)" if len(history) < STARTUP_POINTS else "TPE"
    chosen = ", ".join(f"{name} {params[name]:g}" for name in SPACE)
    refinement = Refinement(
        move=MOVE,
        settings=new,
        body=body,
        reason=f"move:{MOVE}: {mode} point {len(history) + 1} after {len(history)} scored (best train loss "
        f"{best.loss:.4f} at {best.trial_id}): {chosen}",
        losses={"total": round(best.loss, 4)},
    )
    return refinement, journal

