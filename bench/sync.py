"""Can the sync check tell an in-sync video from a late one? Each pair's visuals aligned to its reference podcast,
scored as they are and shown 10 s late.

    python bench/sync.py [--config configs/pipeline.yaml] [--late 10]

It needs an artifact store where the pairs' runs are done (run `podcast-assets train` with the same config
first). Per pair it prints the sync score (out of 100; the check passes at `video.sync_threshold`) with its parts
(visual coverage, figure and quote timing, desync points), in sync and late.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from podcast_assets.core.config import load_config
from podcast_assets.core.ingest.pairs import discover_pairs
from podcast_assets.core.storage import pair_record_path
from podcast_assets.core.video.alignment import align_visuals, shifted
from podcast_assets.core.video.sources import reference_source
from podcast_assets.core.video.sync import sync_qa
from podcast_assets.resources.storage import open_store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, help="pipeline settings (default: configs/pipeline.yaml)")
    parser.add_argument("--late", type=float, default=10.0, help="seconds the late video lags the audio")
    args = parser.parse_args()
    config = load_config(args.config)
    store = open_store(config.storage)
    pairs = discover_pairs(config.pairs_dir).pairs
    ready = [p for p in pairs if store.exists(pair_record_path(p, "aligned_segments"))]
    if not ready:
        raise SystemExit(f"no analysed pair in {config.storage.root}: run `podcast-assets train` first")
    threshold = config.video.sync_threshold
    print(f"check passes at {threshold:g}; late = {args.late:g} s\n")
    print("| pair | in sync | coverage | figures | quotes | desyncs | late | coverage | figures | quotes | desyncs |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for pair_id in ready:
        source = reference_source(store, pair_id, pairs[pair_id].audio)
        alignment = align_visuals(source.segments, source.transcription, source.graph)
        row = [pair_id]
        for report in (sync_qa(alignment, source.transcription),
                       sync_qa(shifted(alignment, args.late), source.transcription)):  # fmt: skip
            figures = "-" if report.figure_timing_accuracy is None else f"{report.figure_timing_accuracy:.2f}"
            quotes = "-" if report.quote_timing_accuracy is None else f"{report.quote_timing_accuracy:.2f}"
            verdict = "pass" if report.sync_score >= threshold else "FAIL"
            row += [f"{report.sync_score:.1f} ({verdict})", f"{report.visual_coverage:.2f}", figures, quotes,
                    str(len(report.desync_points))]  # fmt: skip
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
