"""Which pairs the aggregated profile learns from, and why each other pair is left out.

A pair contributes only when its latest run finished every per-pair step and its podcast matches its
paper. Files an earlier run left behind never stand in for a failed or unfinished run: what the
orchestrator knows of the latest run (each step's status) decides, and the records are read only for
pairs that pass. One pair's unreadable record leaves that pair out; it never fails the aggregate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from podcast_assets.core.analysis.models import AlignedSegments, StructureProfile, StyleProfile
from podcast_assets.core.errors import StorageError
from podcast_assets.core.storage import LocalArtifactStore, pair_record_path

PAIR_RECORDS = ("document_graph", "transcription", "aligned_segments", "structure_profile", "style_profile")
"""The per-pair records in the order the pipeline makes them (one per per-pair asset)."""

Status = Literal["materialized", "failed", "in_progress"]
"""Outcome of a step's latest attempt for one pair; None where it never ran."""


@dataclass(frozen=True)
class PairStanding:
    """What the orchestrator knows of one registered pair: the status of each record's latest attempt."""

    pair_id: str
    statuses: Mapping[str, Status | None]

    def first(self, status: Status | None) -> str | None:
        """The first record, in pipeline order, whose latest attempt has this status."""
        return next((r for r in PAIR_RECORDS if self.statuses.get(r) == status), None)


@dataclass(frozen=True)
class PairRecords:
    aligned: AlignedSegments
    structure: StructureProfile
    style: StyleProfile


@dataclass
class Selection:
    used: list[PairRecords] = field(default_factory=list)
    left_out: dict[str, str] = field(default_factory=dict)

    @property
    def structures(self) -> list[StructureProfile]:
        return [p.structure for p in self.used]

    @property
    def styles(self) -> list[StyleProfile]:
        return [p.style for p in self.used]


Read = Callable[[str], PairRecords]
"""Reads a pair's analysis records; raises StorageError when one is missing or unreadable."""
ReadVerdict = Callable[[str], AlignedSegments]


def read_pair_records(store: LocalArtifactStore, pair_id: str) -> PairRecords:
    return PairRecords(
        aligned=store.read_model(pair_record_path(pair_id, "aligned_segments"), AlignedSegments),
        structure=store.read_model(pair_record_path(pair_id, "structure_profile"), StructureProfile),
        style=store.read_model(pair_record_path(pair_id, "style_profile"), StyleProfile),
    )


def select_from_store(standings: Sequence[PairStanding], store: LocalArtifactStore) -> Selection:
    """select_pairs reading the records from the artifact store."""
    return select_pairs(
        standings,
        read=lambda pair_id: read_pair_records(store, pair_id),
        read_aligned=lambda pair_id: store.read_model(pair_record_path(pair_id, "aligned_segments"), AlignedSegments),
    )


def select_pairs(standings: Sequence[PairStanding], read: Read, read_aligned: ReadVerdict) -> Selection:
    """Split the registered pairs into those the aggregate uses and those it leaves out (with the reason)."""
    selection = Selection()
    for standing in sorted(standings, key=lambda s: s.pair_id):
        pair_id = standing.pair_id
        reason = _unfinished(standing, read_aligned)
        if reason is None:
            try:
                records = read(pair_id)
            except StorageError as exc:
                reason = f"its stored records cannot be read ({exc}); run the pair again"
            else:
                if records.aligned.match.passed:
                    selection.used.append(records)
                    continue
                reason = f"the podcast does not match the paper: {records.aligned.match.description}"
        selection.left_out[pair_id] = reason
    return selection


def _unfinished(standing: PairStanding, read_aligned: ReadVerdict) -> str | None:
    """Why the pair's latest run gives the aggregate nothing, or None when every step materialized."""
    if (step := standing.first("in_progress")) is not None:
        return f"a run is in progress ({step}); the pair joins once it has finished"
    if (failed := standing.first("failed")) is not None:
        if standing.statuses.get("aligned_segments") == "materialized" and failed != "aligned_segments":
            try:
                verdict = read_aligned(standing.pair_id).match
            except StorageError:
                verdict = None
            if verdict is not None and not verdict.passed:
                return f"the podcast does not match the paper: {verdict.description}"
        return f"its latest run failed at {failed}; the run's log says why; fix the pair and run it again"
    if (missing := standing.first(None)) is not None:
        return f"not run yet ({missing} was never materialized)"
    return None
