"""Every training setting of configs/pipeline.yaml reaches the assets: TrainingResource carries each field of
TrainingSettings and gives it back (training.search once stopped at the resource, so `search: optuna` ran the
moves)."""

from __future__ import annotations

from podcast_assets.core.config import PipelineConfig, TrainingSettings
from podcast_assets.resources.training import TrainingResource

NOT_THE_DEFAULTS = TrainingSettings(
    validation_share=0.4, validation_pairs=["a"], split_seed="other", target_depth="deep_dive", length_tolerance=0.2,
    max_length_passes=5, max_round_trip_wer=0.5, budget_usd=2.5, search="optuna",
)  # fmt: skip


def test_every_training_setting_goes_through_the_resource_and_back():
    defaults = TrainingSettings()
    assert all(getattr(NOT_THE_DEFAULTS, f) != getattr(defaults, f) for f in TrainingSettings.model_fields), (
        "give every field (a new one too) a value that is not its default"
    )
    config = PipelineConfig().model_copy(update={"training": NOT_THE_DEFAULTS})
    assert TrainingResource.from_config(config).settings() == NOT_THE_DEFAULTS
