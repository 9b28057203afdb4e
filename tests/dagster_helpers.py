"""Helpers for Dagster-level tests: definitions built from a throw-away config."""

from __future__ import annotations

from pathlib import Path

from podcast_assets.core.config import PipelineConfig, parse_config


def make_config(pairs_dir: Path, artifacts: Path, **overrides: object) -> PipelineConfig:
    """Settings with the given pairs folder and artifact root (absolute paths are kept as they are)."""
    data = {"pairs_dir": str(pairs_dir), "storage": {"root": str(artifacts)}, **overrides}
    return parse_config(data, artifacts.parent / "configs" / "pipeline.yaml")
