"""The pairs sensor: keeps the `training_pairs` partitions equal to the pair folders and runs new or changed pairs."""

import dagster as dg

from podcast_assets.core.ingest.pair_sync import plan_sync
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

MAX_RUNS_PER_TICK = 10


@dg.sensor(
    job=pair_pipeline,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Adds a partition for each new pair folder and runs it; re-runs a pair whose files changed; "
    "removes partitions of pairs whose folder is gone.",
)
def training_pairs_sensor(context: dg.SensorEvaluationContext, pairs: PairsResource) -> dg.SensorResult:
    discovery = pairs.discover()
    for problem in discovery.problems:
        context.log.warning(problem)
    registered = set(context.instance.get_dynamic_partitions(training_pairs.name))
    plan = plan_sync(
        discovery.pairs,
        registered,
        context.cursor,
        max_runs=MAX_RUNS_PER_TICK,
        handled=lambda pair_id, manifest: handled(context.instance, pair_id, manifest),
    )
    if plan.deferred:
        context.log.info(f"{len(plan.deferred)} pairs wait for the next tick: {', '.join(plan.deferred)}")
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
        cursor=plan.cursor(),
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
