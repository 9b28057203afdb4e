"""Settings the aggregated profile is learned with (from configs/pipeline.yaml)."""

from __future__ import annotations

import dagster as dg


class ProfileSettingsResource(dg.ConfigurableResource):
    """depth_targets: {depth: {"minutes": float, "key_concepts": int}} for overview, standard, deep_dive, comprehensive."""

    depth_targets: dict[str, dict[str, float]]
