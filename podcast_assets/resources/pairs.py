"""The folder of training pairs, as the assets and the sensor see it."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from podcast_assets.core.ingest.pairs import Discovery, PairFiles, discover_pairs, pair_files


class PairsResource(dg.ConfigurableResource):
    pairs_dir: str

    def files(self, pair_id: str) -> PairFiles:
        return pair_files(Path(self.pairs_dir), pair_id)

    def discover(self) -> Discovery:
        return discover_pairs(Path(self.pairs_dir))
