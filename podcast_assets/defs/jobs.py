"""Jobs: the per-pair pipeline (run by the pairs sensor for each new or changed pair, and by
`podcast-assets train`), the aggregation across pairs (run once the pairs are done), and the rendering of a
pair's video (on demand: `podcast-assets video`)."""

from __future__ import annotations

import dagster as dg

PAIR_JOB_NAME = "pair_pipeline"
AGGREGATE_JOB_NAME = "aggregate_pairs"
VIDEO_JOB_NAME = "render_video"
VISUALS_JOB_NAME = "align_visuals"

pair_pipeline = dg.define_asset_job(
    PAIR_JOB_NAME,
    selection=dg.AssetSelection.groups("ingest", "analysis", "video")
    - dg.AssetSelection.assets("aggregated_profile", "videos"),
    description="Every per-pair asset for one training pair (but its video, rendered on demand).",
)

aggregate_job = dg.define_asset_job(
    AGGREGATE_JOB_NAME,
    selection=dg.AssetSelection.assets("aggregated_profile"),
    description="Learn the aggregated profile from every pair's structure and style profiles.",
)

visuals_job = dg.define_asset_job(
    VISUALS_JOB_NAME,
    selection=dg.AssetSelection.assets("visual_alignments", "sync_qa"),
    description="Align and sync-check one pair's visuals again: after training, this covers the best trial's podcast.",
)

video_job = dg.define_asset_job(
    VIDEO_JOB_NAME,
    selection=dg.AssetSelection.assets("videos"),
    description="Render one pair's video (run config `ops.videos.config.source`: reference, best or a trial id).",
)
