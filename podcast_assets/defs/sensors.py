"""The pairs sensor: keeps the `training_pairs` partitions equal to the pair folders and runs new or changed pairs."""

import dagster as dg

from podcast_assets.core.pair_sync import plan_sync
from podcast_assets.defs.jobs import pair_pipeline
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
