"""The pairs sensor: keeps the `training_pairs` partitions equal to the pair folders and runs new or changed pairs."""

import dagster as dg

from podcast_assets.core.ingest.pair_sync import load_state, plan_sync, save_state
from podcast_assets.defs.jobs import PAIR_JOB_NAME, aggregate_job, pair_pipeline
from podcast_assets.defs.pair_state import (
    MANIFEST_TAG,
    aggregate_snapshot,
    handled,
    last_aggregate,
    pair_runs_in_flight,
)
from podcast_assets.defs.partitions import training_pairs
from podcast_assets.resources.pairs import PairsResource
from podcast_assets.resources.storage import ArtifactStoreResource

MAX_RUNS_PER_TICK = 10
"""Pairs hashed and runs requested per tick, at most."""
MAX_PAIR_RUNS_IN_FLIGHT = 20
"""No new pair run is requested while this many are queued or running: the run queue stays short."""


@dg.sensor(
    job=pair_pipeline,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Adds a partition for each new pair folder and runs it; re-runs a pair whose files changed; "
    "removes partitions of pairs whose folder is gone. Launches at most 10 runs a tick, and none while 20 "
    "pair runs are queued or running.",
)
def training_pairs_sensor(
    context: dg.SensorEvaluationContext, pairs: PairsResource, artifacts: ArtifactStoreResource
) -> dg.SensorResult:
    discovery = pairs.discover()
    for problem in discovery.problems:
        context.log.warning(problem)
    store = artifacts.open()
    registered = set(context.instance.get_dynamic_partitions(training_pairs.name))
    in_flight = pair_runs_in_flight(context.instance, PAIR_JOB_NAME)
    plan = plan_sync(
        discovery.pairs,
        registered,
        load_state(store, context.cursor),
        max_runs=max(0, min(MAX_RUNS_PER_TICK, MAX_PAIR_RUNS_IN_FLIGHT - in_flight)),
        handled=lambda pair_id, manifest: handled(context.instance, pair_id, manifest),
    )
    if plan.deferred:
        shown = ", ".join(plan.deferred[:10]) + (f" and {len(plan.deferred) - 10} more" if len(plan.deferred) > 10 else "")
        context.log.info(f"{len(plan.deferred)} changed pair(s) wait for a later tick ({in_flight} pair runs in flight): {shown}")
    requests = []
    if plan.add_partitions:
        requests.append(training_pairs.build_add_request(plan.add_partitions))
    if plan.remove_partitions:
        requests.append(training_pairs.build_delete_request(plan.remove_partitions))
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(run_key=run.run_key, partition_key=run.pair_id, tags={MANIFEST_TAG: run.manifest_hash})
            for run in plan.runs
        ],
        dynamic_partitions_requests=requests,
        cursor=save_state(store, plan),
    )


@dg.sensor(
    job=aggregate_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Re-learns the aggregated profile when the pairs it would learn from change (a pair added, "
    "re-run, failed or removed), once no pair run is in flight.",
)
def aggregate_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    snapshot = aggregate_snapshot(context.instance)
    if not snapshot.pair_ids:
        return dg.SkipReason("no pair is registered")
    last_id, last_fingerprint = last_aggregate(context.instance)
    if snapshot.fingerprint == last_fingerprint:
        return dg.SkipReason("the aggregated profile is up to date with every pair's latest run")
    if in_flight := pair_runs_in_flight(context.instance, PAIR_JOB_NAME):
        return dg.SkipReason(f"waiting for {in_flight} pair run(s) to finish before aggregating")
    # the key names both the inputs and the aggregation they follow, so returning to an earlier set of pairs
    # (remove a pair, add it back) is aggregated again, while one state is never requested twice
    run_key = f"aggregate-{snapshot.fingerprint[:16]}-after-{last_id or 0}"
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=run_key)], cursor=snapshot.fingerprint)
