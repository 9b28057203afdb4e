"""Jobs: the per-pair pipeline (run by the pairs sensor for each new or changed pair, and by
`podcast-assets train`), the aggregation across pairs (run once the pairs are done), and the rendering of a
pair's video (on demand: `podcast-assets video`), and the oracle's calibration and labelling (on demand:
`podcast-assets oracle`)."""

from __future__ import annotations

import dagster as dg

PAIR_JOB_NAME = "pair_pipeline"
AGGREGATE_JOB_NAME = "aggregate_pairs"
VIDEO_JOB_NAME = "render_video"
VISUALS_JOB_NAME = "align_visuals"
TRANSCRIPT_ONWARD_JOB_NAME = "transcript_onward"
ORACLE_CALIBRATION_JOB_NAME = "calibrate_oracle"
ORACLE_LABELS_JOB_NAME = "label_with_oracle"

pair_pipeline = dg.define_asset_job(
    PAIR_JOB_NAME,
    selection=dg.AssetSelection.groups("ingest", "review", "analysis", "video")
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

transcript_onward_job = dg.define_asset_job(
    TRANSCRIPT_ONWARD_JOB_NAME,
    selection=(
        dg.AssetSelection.assets("transcriptions").downstream()
        & dg.AssetSelection.groups("ingest", "review", "analysis", "video")
    )
    - dg.AssetSelection.assets("aggregated_profile", "videos"),
    description="Re-make one pair from its transcription onward: its transcription and every per-pair asset made from "
    "it, not its paper and not other pairs (the aggregate sensor re-learns the profile afterwards). Run when the "
    "pair's reviewed segments change (review_sensor) and when another recogniser is installed (recogniser_sensor).",
)

oracle_calibration_job = dg.define_asset_job(
    ORACLE_CALIBRATION_JOB_NAME,
    selection=dg.AssetSelection.assets("oracle_calibration"),
    description="One calibration round of the LLM oracle against the hand labels (run config "
    "`ops.oracle_calibration.config`: sample, seed, fresh). `podcast-assets oracle calibrate` runs it.",
)

oracle_labels_job = dg.define_asset_job(
    ORACLE_LABELS_JOB_NAME,
    selection=dg.AssetSelection.assets("oracle_labels"),
    description="Label every pair's segments with the calibrated oracle (refused before a passed calibration and "
    "fresh round). `podcast-assets oracle label` runs it.",
)
