"""What the Dagster instance knows of each pair: the status of every per-pair asset's latest attempt, and which
input files its profiles were made from. The sensors and the aggregate judge from this, not only from
their own cursors, so a run made by `podcast-assets train` or the UI counts as much as one they asked for."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from podcast_assets.core.analysis.selection import PAIR_RECORDS, PairStanding, Status
from podcast_assets.core.storage import cache_key
from podcast_assets.defs.partitions import training_pairs

PAIR_ASSETS = dict(
    zip(
        PAIR_RECORDS,
        map(
            dg.AssetKey,
            ("document_graphs", "transcriptions", "aligned_segments", "structure_profiles", "style_profiles"),
        ),
        strict=True,
    )
)
"""Per-pair record name -> the asset that writes it."""
PROFILE_ASSETS = (PAIR_ASSETS["structure_profile"], PAIR_ASSETS["style_profile"])
MANIFEST_TAG = "pair_manifest"
"""Run tag and materialization metadata key: the content hash of the pair's files (PairFiles.manifest_hash)."""
PAIR_RUN_STATUSES = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]

_STATUS: dict[str, Status] = {"MATERIALIZED": "materialized", "FAILED": "failed", "IN_PROGRESS": "in_progress"}


def pair_standings(instance: dg.DagsterInstance, pair_ids: list[str]) -> list[PairStanding]:
    """Each pair's per-asset status of the latest attempt (None: never attempted)."""
    by_record: dict[str, dict[str, object]] = {}
    for record, key in PAIR_ASSETS.items():
        found = instance.get_status_by_partition(key, pair_ids, training_pairs) if pair_ids else None
        by_record[record] = dict(found or {})
    return [
        PairStanding(
            pair_id,
            {
                record: _STATUS[status.value] if (status := statuses.get(pair_id)) is not None else None
                for record, statuses in by_record.items()
            },
        )
        for pair_id in pair_ids
    ]


@dataclass(frozen=True)
class AggregateSnapshot:
    """The inputs of the aggregate as the instance sees them now, and their fingerprint."""

    pair_ids: list[str]
    standings: list[PairStanding]
    fingerprint: str


def aggregate_snapshot(instance: dg.DagsterInstance) -> AggregateSnapshot:
    """Registered pairs, their standings and the newest analysis materializations: when any of these change
    (a pair added, re-run, failed or removed), the fingerprint changes and the aggregate is due."""
    pair_ids = sorted(instance.get_dynamic_partitions(training_pairs.name))
    standings = pair_standings(instance, pair_ids)
    newest = {
        key.to_user_string(): next(
            (r.storage_id for r in instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key), limit=1).records),
            None,
        )
        for key in (PAIR_ASSETS["aligned_segments"], *PROFILE_ASSETS)
    }
    fingerprint = cache_key([(s.pair_id, dict(s.statuses)) for s in standings], newest)
    return AggregateSnapshot(pair_ids, standings, fingerprint)


def last_aggregate(instance: dg.DagsterInstance) -> tuple[int | None, str | None]:
    """(storage id, inputs fingerprint) of the newest aggregated_profile materialization, (None, None) if none."""
    records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=dg.AssetKey("aggregated_profile")), limit=1).records
    if not records:
        return None, None
    value = records[0].asset_materialization.metadata.get("inputs_fingerprint")
    return records[0].storage_id, getattr(value, "value", None)


def handled(instance: dg.DagsterInstance, pair_id: str, manifest: str) -> bool:
    """Whether these exact input files of the pair were already run: its profiles are materialized from them,
    or a run for them was launched (by the sensor, `podcast-assets train` or anyone tagging it)."""
    if instance.get_run_ids(dg.RunsFilter(tags={MANIFEST_TAG: manifest, "dagster/partition": pair_id}), limit=1):
        return True
    return all((newest_metadata(instance, key, pair_id) or {}).get(MANIFEST_TAG) == manifest for key in PROFILE_ASSETS)


def newest_metadata(instance: dg.DagsterInstance, key: dg.AssetKey, pair_id: str) -> dict[str, object] | None:
    """The metadata values of the pair's newest materialization of `key` (None: never materialized)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[pair_id]), limit=1
    ).records
    if not records:
        return None
    return {name: getattr(value, "value", value) for name, value in records[0].asset_materialization.metadata.items()}


def pair_runs_in_flight(instance: dg.DagsterInstance, job_name: str) -> int:
    return instance.get_runs_count(dg.RunsFilter(job_name=job_name, statuses=PAIR_RUN_STATUSES))
