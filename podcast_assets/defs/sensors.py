"""The pairs sensor: keeps the `training_pairs` partitions equal to the pair folders and runs new or changed pairs."""

import dagster as dg

from podcast_assets.core.ingest.pair_sync import plan_sync
from podcast_assets.defs.jobs import PAIR_JOB_NAME, aggregate_job, pair_pipeline
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
    plan = plan_sync(discovery.pairs, registered, context.cursor, max_runs=MAX_RUNS_PER_TICK)
    if plan.deferred:
        context.log.info(f"{len(plan.deferred)} pairs wait for the next tick: {', '.join(plan.deferred)}")
    requests = []
    if plan.add_partitions:
        requests.append(training_pairs.build_add_request(plan.add_partitions))
    if plan.remove_partitions:
        requests.append(training_pairs.build_delete_request(plan.remove_partitions))
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(run_key=run.run_key, partition_key=run.pair_id, tags={"pair_manifest": run.manifest_hash})
            for run in plan.runs
        ],
        dynamic_partitions_requests=requests,
        cursor=plan.cursor(),
    )


PROFILE_ASSETS = (dg.AssetKey("structure_profiles"), dg.AssetKey("style_profiles"))


@dg.sensor(
    job=aggregate_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Re-learns the aggregated profile after pairs' profiles change, once no pair run is in flight.",
)
def aggregate_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    last_seen = int(context.cursor or 0)
    newest = last_seen
    for key in PROFILE_ASSETS:
        records = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, after_storage_id=last_seen), limit=1
        ).records
        if records:
            newest = max(newest, records[0].storage_id)
    if newest == last_seen:
        return dg.SkipReason("no pair profile changed since the last aggregation")
    in_flight = context.instance.get_runs_count(
        dg.RunsFilter(job_name=PAIR_JOB_NAME, statuses=[dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING])
    )
    if in_flight:
        return dg.SkipReason(f"waiting for {in_flight} pair run(s) to finish before aggregating")
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=f"aggregate-{newest}")], cursor=str(newest))
