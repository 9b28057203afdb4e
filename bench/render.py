"""How fast a podcast becomes a video at the configured render settings (default 1280x720, 12 fps, x264 veryfast).

    python bench/render.py [--config configs/pipeline.yaml] [--repeat 1] [--source reference|best|tNNN] [--all-figures]

It needs an artifact store where the pairs' runs are done (run `podcast-assets train` with the same config
first). Per pair it aligns the visuals and renders them into a throw-away folder (never from the render
cache), and prints seconds of video per second of rendering (target: 1.0 or better, so a 4-minute podcast
renders in under 4 minutes on 2 cores), frames per second, megabytes per minute of video, and the cues shown.
`--all-figures` measures the worst case: every cue a figure zooming in, so every frame is drawn anew.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from podcast_assets.core.config import load_config
from podcast_assets.core.ingest.pairs import discover_pairs
from podcast_assets.core.storage import pair_record_path
from podcast_assets.core.video.alignment import align_visuals
from podcast_assets.core.video.render import render_video
from podcast_assets.core.video.sources import best_trial, figure_files, reference_source, trial_source
from podcast_assets.resources.storage import open_store

TARGET = 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, help="pipeline settings (default: configs/pipeline.yaml)")
    parser.add_argument("--repeat", type=int, default=1, help="renders per pair (the median is reported)")
    parser.add_argument("--source", default="reference", help="reference, best, or a trial id")
    parser.add_argument("--all-figures", action="store_true",
                        help="worst case: every cue a figure zooming in (Ken Burns), for pairs whose paper has figures")  # fmt: skip
    args = parser.parse_args()
    config = load_config(args.config)
    store = open_store(config.storage)
    settings = config.video
    pairs = discover_pairs(config.pairs_dir).pairs
    ready = [p for p in pairs if store.exists(pair_record_path(p, "aligned_segments"))]
    if not ready:
        raise SystemExit(f"no analysed pair in {config.storage.root}: run `podcast-assets train` first")
    trial = best_trial(store, config.convergence) if args.source == "best" else args.source
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; {settings.width}x{settings.height} "
          f"at {settings.fps} fps, x264 {settings.preset} crf {settings.crf}, {settings.threads} threads; "
          f"source: {trial}\n")  # fmt: skip
    print(
        "| pair | video min | render s (median) | video s per render s | frames per s | MB per min | cues |"
    )
    print("|---|---|---|---|---|---|---|")
    total_video = total_render = 0.0
    for pair_id in ready:
        if trial == "reference":
            source = reference_source(store, pair_id, pairs[pair_id].audio)
        else:
            source = trial_source(store, pair_id, trial)
        alignment = align_visuals(source.segments, source.transcription, source.graph)
        if args.all_figures:
            if not source.graph.figures:
                continue
            ids = [f.id for f in source.graph.figures]
            cues = [c.model_copy(update={"kind": "figure", "figure_id": ids[i % len(ids)], "motion": "ken_burns"})
                    for i, c in enumerate(alignment.cues)]  # fmt: skip
            alignment = alignment.model_copy(update={"cues": cues})
        seconds, result = [], None
        with tempfile.TemporaryDirectory() as tmp:
            for n in range(args.repeat):
                result = render_video(alignment, source.graph, figure_files(store, source.graph), source.audio,
                                      Path(tmp) / f"{n}.mp4", settings,
                                      captions=source.captions)  # fmt: skip
                seconds.append(result.seconds)
        media, render_s = result.probe, statistics.median(seconds)
        total_video += media.video_seconds
        total_render += render_s
        cues = ", ".join(f"{k} {v}" for k, v in sorted(result.cues.items()))
        print(f"| {pair_id} | {media.video_seconds / 60:.2f} | {render_s:.1f} | {media.video_seconds / render_s:.1f} | "
              f"{media.frames / render_s:.0f} | {media.size_bytes / 1e6 / (media.video_seconds / 60):.2f} | {cues} |")  # fmt: skip
        for warning in result.warnings:
            print(f"|  | warning: {warning} | | | | | |")
    ratio = total_video / total_render
    verdict = "meets" if ratio >= TARGET else "misses"
    print(f"\nall pairs: {total_video / 60:.1f} min of video in {total_render:.1f} s: {ratio:.1f} s of video per "
          f"second of rendering ({verdict} the target of {TARGET:g}: a 4-minute podcast in "
          f"{240 / ratio:.0f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
