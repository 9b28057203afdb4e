"""The one door to artifact storage: a local folder (S3 joins later behind the same methods)."""

from __future__ import annotations

import dagster as dg

from podcast_assets.core.storage import LocalArtifactStore


class ArtifactStoreResource(dg.ConfigurableResource):
    """Where every artifact and cache entry is written (atomically, JSON for records)."""

    root: str

    def open(self) -> LocalArtifactStore:
        return LocalArtifactStore(self.root)
