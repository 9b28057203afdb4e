"""The review store (SQLite): the transcript segments people correct on the review page, and the corrections
that flow back into each pair's transcript."""

from __future__ import annotations

import dagster as dg

from podcast_assets.core.config import PipelineConfig
from podcast_assets.core.review.store import ReviewStore


class ReviewStoreResource(dg.ConfigurableResource):
    db: str
    busy_timeout_seconds: float = 5.0
    max_chars_per_second: float = 35.0
    settle_seconds: float = 60.0

    @classmethod
    def from_config(cls, config: PipelineConfig) -> ReviewStoreResource:
        review = config.review
        return cls(
            db=str(review.db),
            busy_timeout_seconds=review.busy_timeout_seconds,
            max_chars_per_second=review.max_chars_per_second,
            settle_seconds=review.settle_seconds,
        )

    def open(self) -> ReviewStore:
        return ReviewStore(
            self.db, busy_timeout=self.busy_timeout_seconds, max_chars_per_second=self.max_chars_per_second
        )
