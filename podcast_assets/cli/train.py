"""`podcast-assets train`: every per-pair asset for each pair, one pair at a time in this process, then the
aggregated profile, then the training loop (cli/training.py); recorded in the Dagster instance like any
other run."""

from __future__ import annotations

import argparse
import sys
import time

from podcast_assets.cli.instance import dagster_instance, launched_tags, recover_dead_runs, register
from podcast_assets.cli.interrupts import execute
from podcast_assets.cli.progress import failure_reasons, progress_logger, run_config
from podcast_assets.core.config import PipelineConfig
from podcast_assets.core.ingest.pairs import discover_pairs
from podcast_assets.core.storage import PAIRS_PREFIX


def definitions(config: PipelineConfig):
    import dagster as dg

    from podcast_assets.definitions import build_definitions

    return build_definitions(config, loggers={"console": dg.colored_console_logger, "progress": progress_logger})


def aggregate(defs, instance, config: dict) -> bool:
    """Learn the aggregated profile from the pairs whose latest run succeeded; print the outcome."""
    from podcast_assets.defs.jobs import AGGREGATE_JOB_NAME

    print("aggregating the profiles of all pairs ...", flush=True)
    result = execute(defs.resolve_job_def(AGGREGATE_JOB_NAME),
        instance=instance, run_config=config, raise_on_error=False, tags=launched_tags()
    )
    if not result.success:
        for reason in failure_reasons(result):
            print(f"    {reason}", file=sys.stderr)
        return False
    [mat] = result.asset_materializations_for_node("aggregated_profile")
    meta = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
    print(f"aggregated profile v{meta['version']} from {len(meta['pairs_used'])} pair(s): {meta['canonical_sequence']}")
    for pair_id, reason in meta["pairs_left_out"].items():
        print(f"    left out {pair_id}: {reason}")
    return True


def align_best_visuals(defs, instance, pair_ids: list[str], config: dict) -> None:
    """Align each pair's visuals again now that training has a best trial, and print the sync scores."""
    from podcast_assets.defs.jobs import VISUALS_JOB_NAME

    print("aligning visuals to the reference and the best trial's podcasts ...", flush=True)
    job = defs.resolve_job_def(VISUALS_JOB_NAME)
    for pair_id in pair_ids:
        result = execute(job, partition_key=pair_id, instance=instance, run_config=config,
                                        raise_on_error=False, tags=launched_tags())  # fmt: skip
        if not result.success:
            print(f"    {pair_id}: " + "; ".join(failure_reasons(result)), file=sys.stderr)
            continue
        [mat] = result.asset_materializations_for_node("sync_qa")
        scores = mat.metadata["sync_scores"].value
        print(f"    {pair_id}: sync score " + ", ".join(f"{k} {v:.1f}" for k, v in scores.items()))
    print("render one: podcast-assets video <pair> [--trial best] --out video.mp4")


def cmd_train(args: argparse.Namespace, config: PipelineConfig) -> int:
    """Run every per-pair asset for each pair (or the chosen ones), one pair at a time, in this process; then
    the aggregate and the trials until convergence."""
    from podcast_assets.cli.training import run_training, with_overrides
    from podcast_assets.defs.jobs import PAIR_JOB_NAME

    config = with_overrides(config, args)
    from podcast_assets.defs.pair_state import MANIFEST_TAG

    discovery = discover_pairs(config.pairs_dir)
    for problem in discovery.problems:
        print(f"! {problem}", file=sys.stderr)
    pair_ids = args.pair or list(discovery.pairs)
    unknown = [p for p in pair_ids if p not in discovery.pairs]
    if unknown:
        print(f"error: no such pair(s) in {config.pairs_dir}: {', '.join(unknown)}", file=sys.stderr)
        return 2
    if not pair_ids:
        print(f"error: no training pairs in {config.pairs_dir}; add one with `podcast-assets pairs add`", file=sys.stderr)
        return 2
    home = register(config, add=pair_ids)
    defs = definitions(config)
    job = defs.resolve_job_def(PAIR_JOB_NAME)
    instance = dagster_instance(config)
    for run_id in recover_dead_runs(instance):
        print(f"run {run_id} was left running by a killed process: marked failed, its pool slots freed")
    logging_config = run_config(verbose=args.verbose, log_level=args.log_level)
    failed: list[str] = []
    print(f"training on {len(pair_ids)} pair(s) from {config.pairs_dir}; Dagster instance: {home}")
    for n, pair_id in enumerate(pair_ids, 1):
        started = time.perf_counter()
        print(f"[{n}/{len(pair_ids)}] {pair_id} ...", flush=True)
        manifest = discovery.pairs[pair_id].manifest_hash()
        result = execute(job,
            partition_key=pair_id,
            instance=instance,
            run_config=logging_config,
            raise_on_error=False,
            tags={**launched_tags(), MANIFEST_TAG: manifest},
        )
        status = "ok" if result.success else "FAILED"
        print(f"[{n}/{len(pair_ids)}] {pair_id}: {status} in {time.perf_counter() - started:.1f} s (run {result.run_id})", flush=True)
        if not result.success:
            failed.append(pair_id)
            for reason in failure_reasons(result):
                print(f"    {reason}", file=sys.stderr)
    aggregated_ok = aggregate(defs, instance, logging_config) if len(failed) < len(pair_ids) else False
    print(f"\nper-pair results: {config.storage.root / PAIRS_PREFIX}/<pair_id>/*.json")
    if aggregated_ok:
        print(f"aggregated profile: {config.storage.root / 'profiles' / 'current.json'}  (podcast-assets profile show)")
    trained = True
    if aggregated_ok and not args.no_trials:
        trained = run_training(defs, instance, config, args, logging_config)
        if trained:
            align_best_visuals(defs, instance, [p for p in pair_ids if p not in failed], logging_config)
    print(f"browse them: DAGSTER_HOME={home} dagster dev   (then open http://127.0.0.1:3000)")
    if failed:
        hint = "" if args.verbose else "; tracebacks are in each run's log (the UI), or re-run with --verbose"
        print(f"{len(failed)} of {len(pair_ids)} pair(s) failed: {', '.join(failed)}{hint}", file=sys.stderr)
    return 0 if aggregated_ok and trained and not failed else 1
