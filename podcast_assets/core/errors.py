"""Errors a user can act on: each names the offending file and says what to do about it."""

from __future__ import annotations

from pathlib import Path


class PodcastAssetsError(Exception):
    """Base class. `path` is the file at fault (if any), `fix` tells the user what to do.
    `retryable` errors (a rate limit, a server down) may succeed later; the others need the user's fix."""

    retryable = False

    def __init__(self, message: str, *, path: str | Path | None = None, fix: str | None = None):
        self.message = message
        self.path = str(path) if path is not None else None
        self.fix = fix
        super().__init__(self.__str__())

    def __str__(self) -> str:
        text = f"{self.path}: {self.message}" if self.path else self.message
        return f"{text}. Fix: {self.fix}" if self.fix else text


class ConfigError(PodcastAssetsError):
    """configs/pipeline.yaml (or another settings file) is malformed."""


class PairError(PodcastAssetsError):
    """A training pair folder, id or pair.yaml is unusable."""


class PdfError(PodcastAssetsError):
    """The paper PDF cannot be turned into a document graph."""


class AudioError(PodcastAssetsError):
    """The podcast audio cannot be transcribed."""


class TranscriptionError(PodcastAssetsError):
    """The speech recogniser ran but its output is not usable (no speech, repetition loop, ...)."""


class StorageError(PodcastAssetsError):
    """An artifact could not be written or read."""


class StorageUnavailable(StorageError):
    """The store did not answer in time (S3 down, black-holed or throttling): may succeed later."""

    retryable = True


class TrainingError(PodcastAssetsError):
    """A prompt version, a script, its speech or its scoring is unusable."""


class VideoError(PodcastAssetsError):
    """A video could not be aligned or rendered, or the rendered file is not whole."""
