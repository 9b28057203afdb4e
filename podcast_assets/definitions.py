"""The Definitions root: assets, sensors, jobs and resources, configured from configs/pipeline.yaml."""

from __future__ import annotations

import dagster as dg

from podcast_assets.core.config import PipelineConfig, load_config
from podcast_assets.defs.ingest import document_graphs, transcriptions
from podcast_assets.defs.jobs import pair_pipeline
from podcast_assets.defs.sensors import training_pairs_sensor
from podcast_assets.resources.asr import ASRResource
from podcast_assets.resources.pairs import PairsResource
from podcast_assets.resources.pdf import PdfExtractorResource
from podcast_assets.resources.storage import ArtifactStoreResource


def build_resources(config: PipelineConfig) -> dict[str, dg.ConfigurableResource]:
    asr = config.asr
    return {
        "pairs": PairsResource(pairs_dir=str(config.pairs_dir)),
        "artifacts": ArtifactStoreResource(root=str(config.storage.root)),
        "pdf_extractor": PdfExtractorResource(
            max_pages=config.pdf.max_pages,
            timeout_seconds=config.pdf.timeout_seconds,
            min_chars_per_page=config.pdf.min_chars_per_page,
        ),
        "asr": ASRResource(
            provider=asr.provider,
            model=asr.model,
            compute_type=asr.compute_type,
            beam_size=asr.beam_size,
            vad=asr.vad,
            cpu_threads=asr.cpu_threads,
            base_url=asr.base_url,
            api_key_env=asr.api_key_env,
            max_audio_seconds=asr.max_audio_seconds,
        ),
    }


def build_definitions(config: PipelineConfig) -> dg.Definitions:
    return dg.Definitions(
        assets=[document_graphs, transcriptions],
        jobs=[pair_pipeline],
        sensors=[training_pairs_sensor],
        resources=build_resources(config),
    )


defs = build_definitions(load_config())
