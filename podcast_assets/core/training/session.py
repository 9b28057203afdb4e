"""A training session in the artifact store: its trials, their items and failures, and the next trial.

    training/current.json                                  which session is current: its id, nothing else
    training/sessions/<session>/session.json               the session (TrainingSession)
    training/sessions/<session>/<trial>/<pair>.json        a scored item (TrialItem)
    training/sessions/<session>/<trial>/<pair>.failed.json why that pair's item failed (TrialFailure)
    training/sessions/<session>/report.{json,md,png}, trials.parquet   written by training_summary
    cache/trial_items/<key>.json                           every finished item by the hash of its inputs:
                                                           a finished (pair, version, inputs) is never redone

The sensor and `podcast-assets train` both advance a session with `next_trial`, so the two drive the same
loop: refine from the best trial until the convergence rule stops it. A run addresses its session by id from
its start to its end (`load_session(store, session_id)`); only starting a session moves the current pointer, so
a run never writes into a session another run started.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from podcast_assets.core.analysis.models import AggregatedProfile
from podcast_assets.core.config import ConvergenceSettings
from podcast_assets.core.errors import StorageError, TrainingError
from podcast_assets.core.llm import CallRecord
from podcast_assets.core.records import Record
from podcast_assets.core.storage import LocalArtifactStore
from podcast_assets.core.training.models import (
    GenerationSettings,
    Refinement,
    TrainingSession,
    TrialEntry,
    TrialItem,
)
from podcast_assets.core.training.prompts import REFINED, PromptLibrary
from podcast_assets.core.training.summary import TrainingReport, build_report

CURRENT_PATH = "training/current.json"
LEGACY_SESSION_PATH = "training/session.json"
"""Where releases before sessions by id kept the current session whole; moved on first read."""
ITEM_CACHE = "trial_items"
_MOVE = re.compile(r"move:(\w+)")


class CurrentSession(Record):
    session_id: str


class TrialFailure(Record):
    pair_id: str
    trial_id: str
    error: str
    failed_at: str


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def session_dir(session: TrainingSession) -> str:
    return f"training/sessions/{session.session_id}"


def session_path(session_id: str) -> str:
    return f"training/sessions/{session_id}/session.json"


def item_path(session: TrainingSession, trial_id: str, pair_id: str) -> str:
    return f"{session_dir(session)}/{trial_id}/{pair_id}.json"


def failure_path(session: TrainingSession, trial_id: str, pair_id: str) -> str:
    return f"{session_dir(session)}/{trial_id}/{pair_id}.failed.json"


def current_session_id(store: LocalArtifactStore) -> str | None:
    """The id of the current session (the one last started), or None."""
    if store.exists(CURRENT_PATH):
        return store.read_model(CURRENT_PATH, CurrentSession).session_id
    if store.exists(LEGACY_SESSION_PATH):
        legacy = store.read_model(LEGACY_SESSION_PATH, TrainingSession)
        if not store.exists(session_path(legacy.session_id)):
            store.write_model(session_path(legacy.session_id), legacy)
        store.write_model(CURRENT_PATH, CurrentSession(session_id=legacy.session_id))
        store.delete(LEGACY_SESSION_PATH)
        return legacy.session_id
    return None


def load_session(store: LocalArtifactStore, session_id: str | None = None) -> TrainingSession | None:
    """The session `session_id`, or without one the current session; None when there is none."""
    session_id = session_id or current_session_id(store)
    if session_id is None:
        return None
    if not store.exists(session_path(session_id)):
        raise TrainingError(
            f"no training session {session_id} in the artifact store",
            fix="name a session that exists (training/sessions/), or start one with `podcast-assets train`",
        )
    return store.read_model(session_path(session_id), TrainingSession)


def save_session(store: LocalArtifactStore, session: TrainingSession) -> None:
    store.write_model(session_path(session.session_id), session)


def start_session(
    store: LocalArtifactStore,
    library: PromptLibrary,
    profile: AggregatedProfile,
    split: Mapping[str, str],
    *,
    target_depth: str,
    first_version: int | None = None,
    reason: str | None = None,
    make_current: bool = False,
) -> TrainingSession:
    """A new session whose first trial scores the library's script_writer version (its highest, or
    `first_version`, then `reason` says why) on every pair the aggregate used, made the current one. Without
    `make_current`, when a session is current already (another pair's run started one a moment ago), that session
    is returned instead: pair runs that start together share one session."""
    if not split:
        raise TrainingError(
            "no pair can train: the aggregated profile used none",
            fix="add a pair whose podcast explains its paper (podcast-assets pairs add) and train again",
        )
    version = library.get(REFINED, first_version)
    session = TrainingSession(
        session_id=datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6],
        created_at=_now(),
        profile_version=profile.version,
        split=dict(split),  # type: ignore[arg-type]
        target_depth=target_depth,
        trials=[TrialEntry(trial_id="t001", prompt_version=version.version, reason=reason or version.reason)],
    )
    store.write_model(session_path(session.session_id), session, replace=False)
    current_session_id(store)  # an older store's session moves to its own folder before the pointer is written
    try:
        store.write_model(CURRENT_PATH, CurrentSession(session_id=session.session_id), replace=make_current)
    except StorageError:
        # pair runs that start together (a backfill) race to start the session: the first one wins
        store.delete(session_path(session.session_id))
        return load_session(store)  # type: ignore[return-value]
    return session


class SpendEntry(Record):
    task: str
    usd: float
    at: str


def record_spend(store: LocalArtifactStore, session: TrainingSession, record: CallRecord) -> None:
    """One paid LLM call of the session, written when its reply (or its failure) arrives: failed items, the
    refiner and replies a killed run received all count against the spend cap."""
    if record.cached or not record.cost_usd:
        return
    entry = SpendEntry(task=record.task, usd=record.cost_usd, at=_now())
    store.write_model(f"{session_dir(session)}/spend/{uuid.uuid4().hex}.json", entry, replace=False)


def session_spend(store: LocalArtifactStore, session: TrainingSession) -> float:
    """Money the session's LLM calls cost so far (the ledger of record_spend)."""
    entries = [rel for rel in store.list(f"{session_dir(session)}/spend") if rel.endswith(".json")]
    return sum(SpendEntry.model_validate_json(store.read_bytes(rel)).usd for rel in entries)


def record_item(store: LocalArtifactStore, session: TrainingSession, item: TrialItem) -> None:
    store.cache_model(ITEM_CACHE, item.key, item)
    if store.exists(failure_path(session, item.trial_id, item.pair_id)):
        store.delete(failure_path(session, item.trial_id, item.pair_id))
    store.write_model(item_path(session, item.trial_id, item.pair_id), item)


def record_failure(
    store: LocalArtifactStore, session: TrainingSession, trial_id: str, pair_id: str, error: str
) -> None:
    failure = TrialFailure(pair_id=pair_id, trial_id=trial_id, error=error, failed_at=_now())
    store.write_model(failure_path(session, trial_id, pair_id), failure)


def cached_item(store: LocalArtifactStore, key: str) -> TrialItem | None:
    return store.cached_model(ITEM_CACHE, key, TrialItem)


def session_items(store: LocalArtifactStore, session: TrainingSession) -> list[TrialItem]:
    found = []
    for entry in session.trials:
        for pair_id in session.split:
            rel = item_path(session, entry.trial_id, pair_id)
            if store.exists(rel):
                found.append(store.read_model(rel, TrialItem))
    return found


def session_failures(store: LocalArtifactStore, session: TrainingSession) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for entry in session.trials:
        for pair_id in session.split:
            rel = failure_path(session, entry.trial_id, pair_id)
            if store.exists(rel) and not store.exists(item_path(session, entry.trial_id, pair_id)):
                found.setdefault(entry.trial_id, {})[pair_id] = store.read_model(rel, TrialFailure).error
    return found


def trial_complete(store: LocalArtifactStore, session: TrainingSession, trial_id: str) -> bool:
    """Every pair of the session has an item or a failure for this trial."""
    return all(
        store.exists(item_path(session, trial_id, p)) or store.exists(failure_path(session, trial_id, p))
        for p in session.split
    )


def kept_trial(store: LocalArtifactStore, session: TrainingSession, rule: ConvergenceSettings) -> TrialEntry | None:
    """The trial whose version the session's selection keeps so far (None before a trial is complete): where a
    new session after this one starts."""
    report = build_report(session, session_items(store, session), session_failures(store, session), rule)
    return session.trial(report.decision.best_trial) if report.decision.best_trial else None


def next_trial(
    store: LocalArtifactStore,
    library: PromptLibrary,
    session: TrainingSession,
    report: TrainingReport,
    refine: Callable[[Sequence[TrialItem], GenerationSettings, str, set[str]], Refinement | None],
) -> TrialEntry | None:
    """Stop (record why, return None) or add the next trial: a version refined from the best trial's train
    items. A proposal whose content equals a version already scored in this session counts as tried."""
    if session.stopped:
        return None
    if report.trials and report.trials[-1].trial_id != session.current.trial_id:
        raise TrainingError(
            f"trial {session.current.trial_id} is not complete: its summary cannot decide the next one",
            fix="materialize trial_results for every training pair first",
        )
    if report.decision.converged:
        session.stopped = report.decision.reason
        save_session(store, session)
        return None
    parent_id = report.decision.best_trial or session.current.trial_id
    parent = session.trial(parent_id)
    parent_version = library.get(REFINED, parent.prompt_version)
    items = [i for i in session_items(store, session) if i.trial_id == parent_id and i.split == "train"]
    if not items:
        session.stopped = f"trial {parent_id} scored no train pair: nothing to refine from"
        save_session(store, session)
        return None
    tried = {
        m.group(1) for e in session.trials if e.parent_trial == parent_id and (m := _MOVE.match(e.reason))
    }
    scored = {e.prompt_version for e in session.trials}
    while True:
        proposal = refine(items, parent_version.settings or GenerationSettings(), parent_version.body, tried)
        if proposal is None:
            session.stopped = f"refinement search exhausted from {parent_id}: every move was tried"
            save_session(store, session)
            return None
        version = library.add(
            REFINED,
            parent=parent_version.version,
            reason=proposal.reason,
            body=proposal.body,
            settings=proposal.settings,
            losses=proposal.losses,
        )
        tried.add(proposal.move)
        if version.version not in scored:
            break
    entry = TrialEntry(
        trial_id=f"t{len(session.trials) + 1:03d}",
        prompt_version=version.version,
        parent_trial=parent_id,
        reason=proposal.reason,
    )
    session.trials.append(entry)
    save_session(store, session)
    return entry
