"""What the pairs sensor should do this tick: which partitions to add or remove and which pairs to run.

It takes what is on disk, what the instance knows and the sensor's remembered state, and returns a plan.
The state maps pair id -> {"fp": cheap fingerprint, "hash": content hash of the inputs}; the content hash
names the run (`<pair>:<hash>`), so an unchanged pair is never requested twice and a changed one always
is, unless the instance already holds a run or profiles for exactly those inputs (`handled`: made by
`podcast-assets train` or from the UI), which are then not run again.

A tick hashes at most `max_runs` pairs (the runs it may launch): with a thousand new pairs, the first
tick registers all of them, hashes and launches the first batch, and leaves the rest, unhashed, to the
next ticks. The state lives in the artifact store, named by its content (`save_state`), so the sensor's
cursor is that name: a few bytes however many pairs there are.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from podcast_assets.core.ingest.pairs import PairFiles
from podcast_assets.core.storage import LocalArtifactStore, sha256_bytes


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
    hashed: int = 0
    """Pairs whose files were hashed this tick."""

    def state_json(self) -> str:
        return json.dumps(self.state, sort_keys=True, separators=(",", ":"))


def parse_state(text: str | None) -> dict[str, dict[str, str]]:
    """The state from its JSON text; empty when there is none or it is not a state (nothing is then lost but
    a re-hash of each pair, whose runs the instance still knows through `handled`)."""
    if not text:
        return {}
    try:
        state = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return state if isinstance(state, dict) else {}


STATE_DIR = "sensors/training_pairs"
STATES_KEPT = 3
STATE_LOG = f"{STATE_DIR}/newest.txt"


def save_state(store: LocalArtifactStore, plan: SyncPlan) -> str:
    """Write the plan's state under its content hash (once) and return that hash: the sensor's cursor. The
    newest STATES_KEPT states are kept, so a tick whose cursor was never committed still finds its state."""
    data = plan.state_json().encode()
    key = sha256_bytes(data)[:24]
    log = _state_log(store)
    if log[:1] == [key]:  # an unchanged state (most ticks): nothing to write
        return key
    rel = f"{STATE_DIR}/{key}.json"
    if not store.exists(rel):
        store.write_bytes(rel, data)
    others = [k for k in log if k != key]
    for old in others[STATES_KEPT - 1 :]:
        store.delete(f"{STATE_DIR}/{old}.json")
    store.write_bytes(STATE_LOG, "\n".join([key, *others][:STATES_KEPT]).encode())
    return key


def _state_log(store: LocalArtifactStore) -> list[str]:
    """The newest states' keys, newest first (kept in a small file: object stores keep no useful mtimes)."""
    return store.read_bytes(STATE_LOG).decode().split() if store.exists(STATE_LOG) else []


def load_state(store: LocalArtifactStore, cursor: str | None) -> dict[str, dict[str, str]]:
    """The state the cursor names; a cursor of the older kind (the state's JSON itself) is read as it is."""
    if not cursor:
        return {}
    if cursor.lstrip().startswith("{"):
        return parse_state(cursor)
    rel = f"{STATE_DIR}/{cursor}.json"
    return parse_state(store.read_bytes(rel).decode()) if store.exists(rel) else {}


def plan_sync(
    on_disk: dict[str, PairFiles],
    registered: set[str],
    previous: dict[str, dict[str, str]],
    *,
    max_runs: int = 10,
    handled: Callable[[str, str], bool] = lambda pair_id, manifest: False,
) -> SyncPlan:
    """Plan one tick from the `previous` state. At most `max_runs` pairs are hashed and at most `max_runs`
    runs requested; changed pairs past that are deferred to later ticks, unhashed. `handled(pair_id,
    manifest)` says whether these exact inputs were already run."""
    plan = SyncPlan()
    plan.add_partitions = sorted(set(on_disk) - registered)
    plan.remove_partitions = sorted(registered - set(on_disk))
    for pair_id, files in sorted(on_disk.items()):
        seen = previous.get(pair_id, {})
        fingerprint = files.fingerprint()
        if seen.get("fp") == fingerprint and seen.get("hash"):
            plan.state[pair_id] = seen
            continue
        if plan.hashed >= max_runs:
            plan.deferred.append(pair_id)
            if seen:  # keep what is known of it until it is hashed again
                plan.state[pair_id] = seen
            continue
        manifest = files.manifest_hash()
        plan.hashed += 1
        if seen.get("hash") != manifest and not handled(pair_id, manifest):
            plan.runs.append(PairRun(pair_id, manifest))
        plan.state[pair_id] = {"fp": fingerprint, "hash": manifest}
    return plan
