"""Settings of the video stage (configs/pipeline.yaml `video:`): sync tolerance and threshold, and how videos are
rendered (size, frame rate, x264 preset and quality). Rendering runs ffmpeg, bundled with imageio-ffmpeg."""

from __future__ import annotations

import dagster as dg

from podcast_assets.core.config import PipelineConfig, VideoSettings


class VideoResource(dg.ConfigurableResource):
    sync_tolerance_seconds: float
    sync_threshold: float
    width: int
    height: int
    fps: int
    fade_seconds: float
    preset: str
    crf: int
    threads: int

    @classmethod
    def from_config(cls, config: PipelineConfig) -> VideoResource:
        return cls(**config.video.model_dump())

    def settings(self) -> VideoSettings:
        return VideoSettings.model_validate(
            {name: getattr(self, name) for name in VideoSettings.model_fields}
        )
