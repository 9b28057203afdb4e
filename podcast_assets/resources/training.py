"""Settings of the training loop (from configs/pipeline.yaml): loss weights, convergence, split, speech checks."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from podcast_assets.core.config import ConvergenceSettings, LossWeights, PipelineConfig, TrainingSettings
from podcast_assets.core.storage import LocalArtifactStore
from podcast_assets.core.training.prompts import PromptLibrary

PROMPTS_DIR = Path(__file__).resolve().parents[2] / "prompts"


class TrainingResource(dg.ConfigurableResource):
    """What a trial is scored with and when refinement stops. The prompt versions are read from
    `prompts_dir` (the seed versions) and the artifact store (the refined ones)."""

    prompts_dir: str = str(PROMPTS_DIR)
    loss_weights: dict[str, float]
    convergence: dict[str, float]
    validation_share: float
    validation_pairs: list[str]
    split_seed: str
    target_depth: str
    length_tolerance: float
    max_length_passes: int
    max_round_trip_wer: float
    budget_usd: float | None = None
    search: str = "moves"

    @classmethod
    def from_config(cls, config: PipelineConfig) -> TrainingResource:
        t = config.training
        return cls(
            loss_weights=config.loss_weights.model_dump(),
            convergence=config.convergence.model_dump(),
            validation_share=t.validation_share,
            validation_pairs=t.validation_pairs,
            split_seed=t.split_seed,
            target_depth=t.target_depth,
            length_tolerance=t.length_tolerance,
            max_length_passes=t.max_length_passes,
            max_round_trip_wer=t.max_round_trip_wer,
            budget_usd=t.budget_usd,
            search=t.search,
        )

    def weights(self) -> LossWeights:
        return LossWeights.model_validate(self.loss_weights)

    def convergence_settings(self) -> ConvergenceSettings:
        c = self.convergence
        return ConvergenceSettings(
            max_trials=int(c["max_trials"]), min_improvement=c["min_improvement"], patience=int(c["patience"])
        )

    def settings(self) -> TrainingSettings:
        return TrainingSettings(
            validation_share=self.validation_share,
            validation_pairs=self.validation_pairs,
            split_seed=self.split_seed,
            target_depth=self.target_depth,  # type: ignore[arg-type]
            length_tolerance=self.length_tolerance,
            max_length_passes=self.max_length_passes,
            max_round_trip_wer=self.max_round_trip_wer,
            budget_usd=self.budget_usd,
            search=self.search,  # type: ignore[arg-type]
        )

    def library(self, store: LocalArtifactStore) -> PromptLibrary:
        return PromptLibrary(self.prompts_dir, store)
