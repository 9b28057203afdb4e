"""The one door to artifact storage: a local folder, or an S3 bucket behind the same methods."""

from __future__ import annotations

import dagster as dg

from podcast_assets.core.config import StorageSettings
from podcast_assets.core.storage import LocalArtifactStore


def open_store(settings: StorageSettings) -> LocalArtifactStore:
    """The store the settings name (an S3 store is a LocalArtifactStore whose root is its local mirror)."""
    if settings.kind == "s3":
        from podcast_assets.resources.s3_store import S3ArtifactStore

        return S3ArtifactStore(
            settings.root,
            bucket=settings.bucket or "",
            prefix=settings.prefix,
            region=settings.region,
            endpoint_url=settings.endpoint_url,
            connect_timeout=settings.connect_timeout_seconds,
            read_timeout=settings.read_timeout_seconds,
            max_attempts=settings.max_attempts,
        )
    return LocalArtifactStore(settings.root)


class ArtifactStoreResource(dg.ConfigurableResource):
    """Where every artifact and cache entry is written (atomically, JSON for records): configs/pipeline.yaml's
    `storage:` block, without secrets (S3 credentials come from the AWS chain)."""

    root: str
    kind: str = "local"
    bucket: str | None = None
    prefix: str = ""
    region: str | None = None
    endpoint_url: str | None = None
    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 30.0
    max_attempts: int = 3

    @classmethod
    def from_settings(cls, settings: StorageSettings) -> ArtifactStoreResource:
        return cls(**{**settings.model_dump(), "root": str(settings.root)})

    def settings(self) -> StorageSettings:
        return StorageSettings.model_validate(self.model_dump())

    def open(self) -> LocalArtifactStore:
        return open_store(self.settings())
