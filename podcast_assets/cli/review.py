"""`podcast-assets review`: serve the transcript review page (127.0.0.1:8080 unless configured otherwise), and
`podcast-assets review apply [PAIR ...]`: put reviewed segments into those pairs' transcripts now, re-making only
what depends on each pair's transcript (the review sensor does the same in `dagster dev`)."""

from __future__ import annotations

import argparse
import sys

from podcast_assets.cli.instance import dagster_instance, launched_tags, recover_dead_runs, register
from podcast_assets.cli.interrupts import execute
from podcast_assets.cli.progress import failure_reasons, run_config
from podcast_assets.core.config import PipelineConfig
from podcast_assets.core.ingest.pairs import discover_pairs
from podcast_assets.core.review.store import ReviewStore
from podcast_assets.resources.review import ReviewStoreResource
from podcast_assets.resources.storage import open_store as open_artifacts


def open_store(config: PipelineConfig) -> ReviewStore:
    return ReviewStoreResource.from_config(config).open()


def cmd_serve(args: argparse.Namespace, config: PipelineConfig) -> int:
    import uvicorn

    from podcast_assets.definitions import recogniser_model
    from podcast_assets.web.review_app import create_app
    from podcast_assets.web.training_panel import TrainingControl

    store = open_store(config)
    stats = store.stats()
    host = args.host or config.review.host
    port = config.review.port if args.port is None else args.port
    print(f"review store: {store.path} ({stats['reviewed']} of {stats['total']} segments reviewed)")
    if not stats["total"]:
        print(
            "    no segments yet: `podcast-assets train` (or a pair run) fills the store from each pair's transcript"
        )
    print(f"review page: http://{host}:{port}/   (Ctrl+C stops it)", flush=True)
    training = TrainingControl(config.storage.root, lambda: recogniser_model(config), config.source)
    artifacts = open_artifacts(config.storage)
    print(f"inference API: POST http://{host}:{port}/api/type-segments and /api/judge (docs: /api/docs)")
    app = create_app(store, training, host=host, artifacts=artifacts)
    uvicorn.run(app, host=host, port=port, log_level="warning")
    return 0


def cmd_apply(args: argparse.Namespace, config: PipelineConfig) -> int:
    from podcast_assets.cli.train import definitions
    from podcast_assets.defs.jobs import TRANSCRIPT_ONWARD_JOB_NAME
    from podcast_assets.defs.review import unapplied_reviews

    discovery = discover_pairs(config.pairs_dir)
    states = open_store(config).review_states()
    instance = dagster_instance(config)
    for run_id in recover_dead_runs(instance):
        print(f"run {run_id} was left running by a killed process: marked failed, its pool slots freed")
    if args.pairs:
        unknown = [p for p in args.pairs if p not in discovery.pairs]
        if unknown:
            print(f"error: no such pair in {config.pairs_dir}: {', '.join(unknown)}", file=sys.stderr)
            return 2
        todo = list(args.pairs)
    else:
        todo = [pair_id for pair_id, _, _ in unapplied_reviews(instance, states, sorted(discovery.pairs))]
        if not todo:
            print("every pair's transcript already has its reviewed segments")
            return 0
    register(config, add=todo)
    job = definitions(config).resolve_job_def(TRANSCRIPT_ONWARD_JOB_NAME)
    failed = 0
    for pair_id in todo:
        print(f"{pair_id}: applying reviewed segments ...", flush=True)
        result = execute(job,
            partition_key=pair_id, instance=instance, run_config=run_config(verbose=args.verbose),
            raise_on_error=False, tags=launched_tags(),
        )  # fmt: skip
        if not result.success:
            failed += 1
            for reason in failure_reasons(result):
                print(f"    {reason}", file=sys.stderr)
            continue
        [mat] = result.asset_materializations_for_node("transcriptions")
        meta = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
        wer = meta.get("review_word_error_rate")
        print(
            f"    {meta['reviewed_segments']} reviewed segment(s), {meta['reviewed_segments_changed']} changed"
            + (f"; the recogniser's word error rate on them: {wer:.1%}" if wer is not None else "")
        )
    if not failed:
        print("done: the aggregate sensor re-learns the profile (or run `podcast-assets train --no-trials`)")
    return 1 if failed else 0


def add_command(sub, verbose_parent, writer_parent) -> None:
    review = sub.add_parser(
        "review",
        parents=[verbose_parent],
        help="serve the transcript review page; `review apply [PAIR ...]` puts reviewed text into the transcripts",
    )
    review.add_argument("--host", help="address to listen on (default: review.host, 127.0.0.1)")
    review.add_argument("--port", type=int, help="port (default: review.port, 8080)")
    review.set_defaults(func=cmd_serve)
    actions = review.add_subparsers(dest="review_command")
    apply = actions.add_parser(
        "apply",
        parents=[verbose_parent, writer_parent],
        help="re-make the transcripts (and what depends on them) of pairs with new reviews",
    )
    apply.add_argument(
        "pairs", nargs="*", metavar="PAIR", help="these pairs (default: every pair whose reviews changed)"
    )
    apply.set_defaults(func=cmd_apply)
