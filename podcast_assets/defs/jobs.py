"""Jobs: the per-pair pipeline, run by the pairs sensor for each new or changed pair and by `podcast-assets train`."""

from __future__ import annotations

import dagster as dg

PAIR_JOB_NAME = "pair_pipeline"

pair_pipeline = dg.define_asset_job(
    PAIR_JOB_NAME,
    selection=dg.AssetSelection.groups("ingest"),
    description="Every per-pair asset for one training pair.",
)
