"""Settings of the oracle's calibration (from configs/pipeline.yaml `oracle:`): where the trusted labels are, and
the bars a round must clear."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from podcast_assets.core.config import OracleSettings, OracleThresholds, PipelineConfig


class OracleThresholdsConfig(dg.Config):
    pass_agreement: float
    fail_agreement: float
    min_class_recall: float
    min_support: int


class OracleSettingsResource(dg.ConfigurableResource):
    labels_dir: str
    sample: int
    segment_typing: OracleThresholdsConfig

    @classmethod
    def from_config(cls, config: PipelineConfig) -> OracleSettingsResource:
        oracle = config.oracle
        return cls(
            labels_dir=str(oracle.labels_dir),
            sample=oracle.sample,
            segment_typing=OracleThresholdsConfig(**oracle.segment_typing.model_dump()),
        )

    def settings(self) -> OracleSettings:
        return OracleSettings(
            labels_dir=Path(self.labels_dir),
            sample=self.sample,
            segment_typing=OracleThresholds.model_validate(self.segment_typing.model_dump()),
        )
