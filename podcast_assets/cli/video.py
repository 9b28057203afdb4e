"""`podcast-assets video <pair>`: render a pair's podcast (or a trial's generated one) to an MP4 through the
`videos` asset, recorded in the Dagster instance like any other run, with progress as it renders."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from podcast_assets.cli.instance import dagster_instance, launched_tags, recover_dead_runs, register
from podcast_assets.cli.interrupts import execute
from podcast_assets.cli.progress import failure_reasons, run_config
from podcast_assets.cli.train import definitions
from podcast_assets.core.config import PipelineConfig
from podcast_assets.core.ingest.pairs import discover_pairs


def publish_copy(src: Path, out: Path) -> None:
    """Copy `src` to `out` through a hidden partial file, so `out` is either the old file or the whole new one."""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial-{os.getpid()}")
    try:
        shutil.copyfile(src, partial)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)


def cmd_video(args: argparse.Namespace, config: PipelineConfig) -> int:
    from podcast_assets.defs.jobs import VIDEO_JOB_NAME

    discovery = discover_pairs(config.pairs_dir)
    if args.pair not in discovery.pairs:
        print(f"error: no such pair in {config.pairs_dir}: {args.pair}", file=sys.stderr)
        return 2
    register(config, add=[args.pair])
    defs = definitions(config)
    instance = dagster_instance(config)
    for run_id in recover_dead_runs(instance):
        print(f"run {run_id} was left running by a killed process: marked failed, its pool slots freed")
    source = args.trial or "reference"
    video = config.video
    print(
        f"rendering {args.pair} ({source}) at {video.width}x{video.height}, {video.fps} fps ...", flush=True
    )
    logging = run_config(verbose=args.verbose)
    result = execute(defs.resolve_job_def(VIDEO_JOB_NAME),
        partition_key=args.pair,
        instance=instance,
        run_config={**logging, "ops": {"videos": {"config": {"source": source}}}},
        raise_on_error=False,
        tags=launched_tags(),
    )
    if not result.success:
        for reason in failure_reasons(result):
            print(f"    {reason}", file=sys.stderr)
        return 1
    [mat] = result.asset_materializations_for_node("videos")
    meta = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
    path = Path(meta["path"])
    how = (
        f"rendered in {meta['render_seconds']:.1f} s ({meta['video_seconds_per_render_second']:.1f} s of video per second)"
        if meta["rendered_now"]
        else "already rendered from the same inputs"
    )
    print(f"{meta['video_seconds']:.1f} s of video, {meta['size']}, {meta['megabytes']:.1f} MB: {how}")
    for warning in meta["warnings"]:
        print(f"    warning: {warning}")
    captions = {ext: Path(meta[key]) for ext, key in ((".vtt", "captions_webvtt"), (".srt", "captions_srt"))}
    if args.out:
        out = Path(args.out)
        publish_copy(path, out)
        for ext, src in captions.items():
            publish_copy(src, out.with_suffix(ext))
            captions[ext] = out.with_suffix(ext)
        path = out
    print(f"video: {path}")
    print(f"captions ({meta['captions']}): {captions['.vtt']}, {captions['.srt']}")
    return 0


def add_command(sub, verbose_parent) -> None:
    video = sub.add_parser(
        "video",
        parents=[verbose_parent],
        help="render a pair's podcast (or a trial's generated one) as an MP4",
    )
    video.add_argument("pair", help="pair id")
    video.add_argument(
        "--trial", help="a trial id (e.g. t003), or 'best': its generated podcast instead of the reference"
    )
    video.add_argument("--out", help="also copy the MP4 here (default: only the artifact store)")
    video.set_defaults(func=cmd_video)
