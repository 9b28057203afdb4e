"""What the pairs sensor should do this tick: which partitions to add or remove and which pairs to run.

Pure: it takes what is on disk, what the instance knows and the sensor's remembered state, and returns
a plan. The state maps pair id -> {"fp": cheap fingerprint, "hash": content hash of the inputs}; the
content hash names the run (`<pair>:<hash>`), so an unchanged pair is never requested twice and a
changed one always is, unless the instance already holds a run or profiles for exactly those inputs
(`handled`: made by `podcast-assets train` or from the UI), which are then not run again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from podcast_assets.core.ingest.pairs import PairFiles


@dataclass(frozen=True)
class PairRun:
    pair_id: str
    manifest_hash: str

    @property
    def run_key(self) -> str:
        return f"{self.pair_id}:{self.manifest_hash}"


@dataclass
class SyncPlan:
    add_partitions: list[str] = field(default_factory=list)
    remove_partitions: list[str] = field(default_factory=list)
    runs: list[PairRun] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    state: dict[str, dict[str, str]] = field(default_factory=dict)

    def cursor(self) -> str:
        return json.dumps(self.state, sort_keys=True, separators=(",", ":"))


def load_state(cursor: str | None) -> dict[str, dict[str, str]]:
    if not cursor:
        return {}
    try:
        state = json.loads(cursor)
    except json.JSONDecodeError:
        return {}
    return state if isinstance(state, dict) else {}


def plan_sync(
    on_disk: dict[str, PairFiles],
    registered: set[str],
    cursor: str | None,
    *,
    max_runs: int = 10,
    handled: Callable[[str, str], bool] = lambda pair_id, manifest: False,
) -> SyncPlan:
    """Plan one tick. At most `max_runs` runs are requested; the rest are deferred to later ticks.
    `handled(pair_id, manifest)` says whether these exact inputs were already run."""
    previous = load_state(cursor)
    plan = SyncPlan()
    plan.add_partitions = sorted(set(on_disk) - registered)
    plan.remove_partitions = sorted(registered - set(on_disk))
    for pair_id, files in sorted(on_disk.items()):
        seen = previous.get(pair_id, {})
        fingerprint = files.fingerprint()
        if seen.get("fp") == fingerprint and seen.get("hash"):
            plan.state[pair_id] = seen
            continue
        manifest = files.manifest_hash()
        if seen.get("hash") == manifest or handled(pair_id, manifest):
            plan.state[pair_id] = {"fp": fingerprint, "hash": manifest}
        elif len(plan.runs) < max_runs:
            plan.runs.append(PairRun(pair_id, manifest))
            plan.state[pair_id] = {"fp": fingerprint, "hash": manifest}
        else:
            plan.deferred.append(pair_id)
    return plan
