"""The user's command line: `podcast-assets pairs add|list|remove`, `train`, `profile show|structure|style`,
the training loop's `status`, `trial`, `compare`, `plot-loss`, `export`, `export-prompts`, `evaluate`
and `generate`, `video`, and `review` (the transcript review page; `review apply`), `asr finetune|status|rollback`, and `oracle calibrate|label`.

Runs are recorded in the Dagster instance at $DAGSTER_HOME (default: `.dagster_home` in the project),
so what the CLI does shows up in `dagster dev` and `dagster asset materialize` sees its partitions.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from podcast_assets.cli.asr import add_command as add_asr_command
from podcast_assets.cli.interrupts import Stopped, stop_on_signals
from podcast_assets.cli.locking import artifact_root
from podcast_assets.cli.oracle import add_command as add_oracle_command
from podcast_assets.cli.pairs import cmd_pairs_add, cmd_pairs_list, cmd_pairs_remove
from podcast_assets.cli.profile import cmd_profile
from podcast_assets.cli.review import add_command as add_review_command
from podcast_assets.cli.train import cmd_train
from podcast_assets.cli.training import add_commands
from podcast_assets.cli.video import add_command as add_video_command
from podcast_assets.core.config import load_config
from podcast_assets.core.errors import PodcastAssetsError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="podcast-assets", description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, help="pipeline settings (default: configs/pipeline.yaml or $PODCAST_ASSETS_CONFIG)")
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument(
        "--verbose", action="store_true", help="print Dagster's own log, tracebacks included (always kept in the run's log)"
    )
    # commands that write the training state hold the artifact root's lock (cli/locking.py)
    writer = argparse.ArgumentParser(add_help=False)
    writer.add_argument("--wait", action="store_true", help="wait while another run writes the artifact root (default: refuse)")
    writer.set_defaults(lock="artifact_root")
    sub = parser.add_subparsers(dest="command", required=True)

    pairs = sub.add_parser("pairs", help="manage training pairs").add_subparsers(dest="pairs_command", required=True)
    add = pairs.add_parser(
        "add", parents=[writer], help="check a paper and its podcast, copy them into the pairs folder, register the partition"
    )
    add.add_argument("--pdf", type=Path, required=True, help="the paper (PDF)")
    add.add_argument("--audio", type=Path, required=True, help="the podcast (mp3, wav, m4a, flac, ogg)")
    add.add_argument("--id", help="pair id, [a-z0-9._-] (default: made from the PDF's file name)")
    add.add_argument("--speaker-gender", choices=["female", "male", "mixed", "unknown"], default="unknown")
    add.add_argument("--source", help="where the pair comes from (URL, repository, ...)")
    add.add_argument("--language", default="en", help="ISO 639 code of the podcast (default: en)")
    add.add_argument("--speakers", type=int, help="number of voices in the podcast")
    add.add_argument("--replace", action="store_true", help="replace an existing pair with the same id")
    add.set_defaults(func=cmd_pairs_add)
    pairs.add_parser("list", help="list the pairs and what is missing").set_defaults(func=cmd_pairs_list)
    remove = pairs.add_parser(
        "remove", parents=[verbose, writer], help="delete a pair folder and its partition, and re-learn the aggregate without it"
    )
    remove.add_argument("id")
    remove.set_defaults(func=cmd_pairs_remove)

    train = sub.add_parser(
        "train",
        parents=[verbose, writer],
        help="the main job: every per-pair asset for all pairs, the aggregate, then trials until convergence",
    )
    train.add_argument("--pair", action="append", help="only this pair (repeatable)")
    train.add_argument("--max-trials", type=int, help="stop after this many trials (default: convergence.max_trials)")
    train.add_argument(
        "--target-depth",
        choices=["reference", "overview", "standard", "deep_dive", "comprehensive"],
        help="length trial scripts aim at (default: training.target_depth, 'reference' = the reference's length)",
    )
    train.add_argument(
        "--convergence-threshold", type=float, help="relative improvement that counts (default: convergence.min_improvement)"
    )
    train.add_argument("--resume", action="store_true", help="continue the last training session where it stopped")
    train.add_argument("--no-trials", action="store_true", help="stop after the aggregated profile (no training loop)")
    train.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="lowest level shown (default: INFO)"
    )
    train.set_defaults(func=cmd_train)

    add_commands(sub, verbose)
    add_video_command(sub, verbose)
    add_review_command(sub, verbose, writer)
    add_asr_command(sub)
    add_oracle_command(sub, verbose, writer)

    profile = sub.add_parser("profile", help="print the learned profiles")
    profile.add_argument("what", choices=["show", "structure", "style"], help="show: the aggregated profile; structure / style: per pair")
    profile.add_argument("--pair", action="append", help="only this pair (repeatable; structure and style)")
    profile.set_defaults(func=cmd_profile)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with stop_on_signals():
            config = load_config(args.config)
            if getattr(args, "lock", None) == "artifact_root":
                with artifact_root(config, wait=args.wait):
                    return args.func(args, config)
            return args.func(args, config)
    except PodcastAssetsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Stopped as stop:
        print(f"\nstopped by {stop}: what finished is kept, so running the command again carries on"
              " (`train --resume` continues its training session)", file=sys.stderr)  # fmt: skip
        return stop.exit_code


if __name__ == "__main__":
    sys.exit(main())
