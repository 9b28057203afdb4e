"""Turn the core's actionable errors into Dagster failures that are not retried."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import dagster as dg

from podcast_assets.core.errors import PodcastAssetsError


@contextlib.contextmanager
def user_errors_fail_the_partition() -> Iterator[None]:
    """Bad input fails this partition with the file and the fix shown in the UI, and is not retried
    (retrying would not help); a retryable error (rate limit, server down) is left to the RetryPolicy."""
    try:
        yield
    except PodcastAssetsError as exc:
        metadata = {"error": dg.MetadataValue.text(exc.message)}
        if exc.path:
            metadata["file"] = dg.MetadataValue.path(exc.path)
        if exc.fix:
            metadata["fix"] = dg.MetadataValue.text(exc.fix)
        raise dg.Failure(description=str(exc), metadata=metadata, allow_retries=exc.retryable) from exc
