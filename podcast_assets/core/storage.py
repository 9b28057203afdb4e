"""Artifact storage on a local folder: atomic writes, content-addressed blobs, JSON records (the same methods
on S3: resources/s3_store.py).

Layout under the root (paths are POSIX, relative to the root, and the same on S3):

    cache/<kind>/<key>.json       records keyed by the hash of everything that determines them
    blobs/<sha[:2]>/<sha>.<ext>   binary artifacts (figure PNGs, audio) named by their content hash
    training_pairs/<pair_id>/<record>.json   the current record of each per-pair asset
    profiles/aggregated_v<N>.json, profiles/current.json   the aggregated profile, every version kept

Every write goes to a temporary file in the target folder, is fsynced and then renamed over the
final path, so a crash or a full disk leaves the previous version readable and no partial file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from podcast_assets.core.errors import StorageError

M = TypeVar("M", bound=BaseModel)

PAIRS_PREFIX = "training_pairs"


def pair_record_path(pair_id: str, record: str) -> str:
    """Where the current `record` (e.g. "transcription") of pair `pair_id` is stored."""
    return f"{PAIRS_PREFIX}/{pair_id}/{record}.json"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def cache_key(*parts: object) -> str:
    """A stable hash of JSON-serialisable parts (dict keys sorted)."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return sha256_bytes(blob.encode())


def atomic_write_bytes(path: Path, data: bytes, *, replace: bool = True) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never a partial one.
    With replace=False an existing file is never replaced (StorageError): write-once artifacts."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails if the path exists, atomically
    except FileExistsError as exc:
        raise StorageError(
            "artifact already exists and is never overwritten",
            path=path,
            fix="write a new version under another name",
        ) from exc
    except OSError as exc:
        raise StorageError(
            f"could not write artifact ({exc.strerror or exc})",
            path=path,
            fix="free disk space or fix the folder's permissions, then re-run; the previous version is intact",
        ) from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


class LocalArtifactStore:
    """Artifacts in a folder. Paths given to it are relative POSIX paths that must stay inside the root."""

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()

    def path(self, rel: str) -> Path:
        pure = PurePosixPath(rel)
        if pure.is_absolute() or ".." in pure.parts or not pure.parts:
            raise StorageError(f"artifact path {rel!r} is not a relative path inside the store")
        return self.root.joinpath(*pure.parts)

    def exists(self, rel: str) -> bool:
        return self.path(rel).is_file()

    def local(self, rel: str) -> Path:
        """The artifact as a file on this machine (for readers that need a path: ffmpeg, the recogniser)."""
        return self.path(rel)

    def publish(self, rel: str) -> str:
        """Make a file an outside writer finished at `path(rel)` (atomically, by rename) part of the store."""
        if not self.path(rel).is_file():
            raise StorageError("nothing to publish", path=self.path(rel), fix="write the file first")
        return rel

    def list(self, prefix: str) -> list[str]:
        """Relative paths of every artifact under `prefix` (recursively), sorted."""
        folder = self.path(prefix)
        if not folder.is_dir():
            return []
        return sorted(
            f"{prefix.rstrip('/')}/{p.relative_to(folder).as_posix()}"
            for p in folder.rglob("*")
            if p.is_file() and not p.name.startswith(".")
        )

    def delete(self, rel: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(rel).unlink()

    def write_bytes(self, rel: str, data: bytes, *, replace: bool = True) -> str:
        atomic_write_bytes(self.path(rel), data, replace=replace)
        return rel

    def read_bytes(self, rel: str) -> bytes:
        try:
            return self.path(rel).read_bytes()
        except FileNotFoundError as exc:
            raise StorageError(
                "artifact not found",
                path=self.path(rel),
                fix="materialize the upstream asset for this pair first",
            ) from exc

    def put_blob(self, data: bytes, ext: str) -> str:
        """Store bytes under their content hash; return the relative path. Existing blobs are not rewritten."""
        digest = sha256_bytes(data)
        rel = f"blobs/{digest[:2]}/{digest}.{ext}"
        if not self.exists(rel):
            self.write_bytes(rel, data)
        return rel

    def write_model(self, rel: str, record: BaseModel, *, replace: bool = True) -> str:
        return self.write_bytes(rel, record.model_dump_json(indent=1).encode(), replace=replace)

    def read_model(self, rel: str, cls: type[M]) -> M:
        data = self.read_bytes(rel)
        try:
            return cls.model_validate_json(data)
        except ValidationError as exc:
            raise StorageError(
                f"stored {cls.__name__} does not match the current schema ({exc.error_count()} errors)",
                path=self.path(rel),
                fix="delete the file and re-materialize the asset that wrote it",
            ) from exc

    def cached_model(self, kind: str, key: str, cls: type[M]) -> M | None:
        """The record cached under `cache/<kind>/<key>.json`, or None. An unreadable entry counts as a miss."""
        rel = f"cache/{kind}/{key}.json"
        if not self.exists(rel):
            return None
        try:
            return self.read_model(rel, cls)
        except StorageError:
            return None

    def cache_model(self, kind: str, key: str, record: BaseModel) -> str:
        return self.write_model(f"cache/{kind}/{key}.json", record)

    def get_or_create(self, kind: str, key: str, cls: type[M], create: Callable[[], M]) -> tuple[M, bool]:
        """The cached record for `key`, or `create()`'s, cached before it is returned. Second item: was it cached."""
        if (hit := self.cached_model(kind, key, cls)) is not None:
            return hit, True
        record = create()
        self.cache_model(kind, key, record)
        return record, False
