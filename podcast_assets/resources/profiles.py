"""Settings the aggregated profile is learned with (from configs/pipeline.yaml)."""

from __future__ import annotations

import dagster as dg

from podcast_assets.core.config import DepthTarget


class DepthTargetConfig(dg.Config):
    min_minutes: float
    max_minutes: float | None = None
    key_concepts: int


class ProfileSettingsResource(dg.ConfigurableResource):
    """depth_targets: per depth (overview, standard, deep_dive, comprehensive), its length range and key concepts."""

    depth_targets: dict[str, DepthTargetConfig]

    def targets(self) -> dict[str, DepthTarget]:
        return {name: DepthTarget.model_validate(d.model_dump()) for name, d in self.depth_targets.items()}
