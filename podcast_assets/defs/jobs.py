"""Jobs: the per-pair pipeline (run by the pairs sensor for each new or changed pair, and by
`podcast-assets train`) and the aggregation across pairs (run once the pairs are done)."""

from __future__ import annotations

import dagster as dg

PAIR_JOB_NAME = "pair_pipeline"
AGGREGATE_JOB_NAME = "aggregate_pairs"

pair_pipeline = dg.define_asset_job(
    PAIR_JOB_NAME,
    selection=dg.AssetSelection.groups("ingest", "analysis") - dg.AssetSelection.assets("aggregated_profile"),
    description="Every per-pair asset for one training pair.",
)

aggregate_job = dg.define_asset_job(
    AGGREGATE_JOB_NAME,
    selection=dg.AssetSelection.assets("aggregated_profile"),
    description="Learn the aggregated profile from every pair's structure and style profiles.",
)
