"""The Definitions root: assets, sensors, jobs and resources, configured from configs/pipeline.yaml."""

from __future__ import annotations

import dagster as dg

from podcast_assets.core.config import PipelineConfig, load_config
from podcast_assets.defs.analysis import (
    aggregated_profile,
    aligned_segments,
    structure_profiles,
    style_profiles,
)
from podcast_assets.defs.ingest import document_graphs, transcriptions
from podcast_assets.defs.jobs import (
    aggregate_job,
    oracle_calibration_job,
    oracle_labels_job,
    pair_pipeline,
    transcript_onward_job,
    video_job,
    visuals_job,
)
from podcast_assets.defs.oracle import distilled_models, oracle_calibration, oracle_labels
from podcast_assets.defs.review import recogniser_sensor, review_entries, review_sensor
from podcast_assets.defs.sensors import aggregate_sensor, training_pairs_sensor
from podcast_assets.defs.training import (
    refinement_sensor,
    summary_job,
    training_summary,
    trial_complete_sensor,
    trial_job,
    trial_results,
)
from podcast_assets.defs.video import sync_qa, videos, visual_alignments
from podcast_assets.resources.asr import ASRResource
from podcast_assets.resources.llm import LLMResource
from podcast_assets.resources.oracle import OracleSettingsResource
from podcast_assets.resources.pairs import PairsResource
from podcast_assets.resources.pdf import PdfExtractorResource
from podcast_assets.resources.profiles import DepthTargetConfig, ProfileSettingsResource
from podcast_assets.resources.review import ReviewStoreResource
from podcast_assets.resources.storage import ArtifactStoreResource
from podcast_assets.resources.tracking import TrackingResource
from podcast_assets.resources.training import TrainingResource
from podcast_assets.resources.tts import TTSResource
from podcast_assets.resources.video import VideoResource


def recogniser_model(config: PipelineConfig) -> str:
    """The model the recogniser uses now: the one the last guarded swap installed, if any (and asr.adapted), else
    the configured asr.model."""
    return asr_resource(config).in_use()


def asr_resource(config: PipelineConfig) -> ASRResource:
    asr = config.asr
    return ASRResource(
        provider=asr.provider,
        model=asr.model,
        adapted_models=str(config.storage.root) if asr.adapted else None,
        compute_type=asr.compute_type,
        beam_size=asr.beam_size,
        vad=asr.vad,
        cpu_threads=asr.cpu_threads,
        base_url=asr.base_url,
        api_key_env=asr.api_key_env,
        max_audio_seconds=asr.max_audio_seconds,
        first_minute_check=asr.first_minute_check,
        paper_vocabulary=asr.paper_vocabulary,
        vocabulary_terms=asr.vocabulary_terms,
    )


def build_resources(config: PipelineConfig) -> dict[str, dg.ConfigurableResource]:
    return {
        "pairs": PairsResource(pairs_dir=str(config.pairs_dir)),
        "artifacts": ArtifactStoreResource.from_settings(config.storage),
        "pdf_extractor": PdfExtractorResource(
            max_pages=config.pdf.max_pages,
            timeout_seconds=config.pdf.timeout_seconds,
            min_chars_per_page=config.pdf.min_chars_per_page,
        ),
        "asr": asr_resource(config),
        "llm": LLMResource.from_settings(
            config.llm,
            cache_dir=str(config.storage.root / "cache" / "llm"),
            budget_usd=config.training.budget_usd,
            shared_cache=ArtifactStoreResource.from_settings(config.storage)
            if config.storage.kind == "s3"
            else None,
        ),
        "tts": TTSResource.from_settings(config.tts),
        "training": TrainingResource.from_config(config),
        "video": VideoResource.from_config(config),
        "review": ReviewStoreResource.from_config(config),
        "oracle": OracleSettingsResource.from_config(config),
        "tracking": TrackingResource.from_config(config),
        "profile_settings": ProfileSettingsResource(
            depth_targets={
                name: DepthTargetConfig(**target.model_dump())
                for name, target in config.depth_targets.items()
            }
        ),
    }


def build_definitions(
    config: PipelineConfig, *, loggers: dict[str, dg.LoggerDefinition] | None = None
) -> dg.Definitions:
    """Everything Dagster loads. `loggers` adds loggers a run can turn on in its run config (the CLI's progress)."""
    return dg.Definitions(
        loggers=loggers,
        assets=[
            *(
                document_graphs,
                transcriptions,
                review_entries,
                aligned_segments,
                structure_profiles,
                style_profiles,
            ),
            *(aggregated_profile, trial_results, training_summary),
            *(visual_alignments, sync_qa, videos),
            *(oracle_calibration, oracle_labels, distilled_models),
        ],
        jobs=[
            pair_pipeline,
            aggregate_job,
            trial_job,
            summary_job,
            visuals_job,
            video_job,
            transcript_onward_job,
            oracle_calibration_job,
            oracle_labels_job,
        ],
        sensors=[
            training_pairs_sensor,
            aggregate_sensor,
            trial_complete_sensor,
            refinement_sensor,
            review_sensor,
            recogniser_sensor,
        ],
        resources=build_resources(config),
    )


defs = build_definitions(load_config())
