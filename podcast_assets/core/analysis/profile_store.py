"""Versioned storage of the aggregated profile: `profiles/aggregated_v{N}.json` is written once and never
replaced, and `profiles/current.json` is a copy of the version the aggregated_profile asset last reported."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile

from podcast_assets.core.analysis.models import AggregatedProfile
from podcast_assets.core.errors import StorageError
from podcast_assets.core.storage import LocalArtifactStore

PROFILES_DIR = "profiles"
CURRENT = f"{PROFILES_DIR}/current.json"
_VERSION_FILE = re.compile(r"aggregated_v([1-9][0-9]*)\.json")


def _versions(store: LocalArtifactStore) -> list[int]:
    folder = store.path(PROFILES_DIR)
    if not folder.is_dir():
        return []
    return sorted(int(m.group(1)) for p in folder.iterdir() if (m := _VERSION_FILE.fullmatch(p.name)))


def version_path(version: int) -> str:
    return f"{PROFILES_DIR}/aggregated_v{version}.json"


def next_version(store: LocalArtifactStore) -> int:
    """One more than the highest stored version, 1 when there is none."""
    return max(_versions(store), default=0) + 1


def save_aggregated(store: LocalArtifactStore, profile: AggregatedProfile) -> str:
    """Write `profiles/aggregated_v{N}.json` (never replacing a version), then `profiles/current.json`."""
    rel = version_path(profile.version)
    target = store.path(rel)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(profile.model_dump_json(indent=1).encode())
            fh.flush()
            os.fsync(fh.fileno())
        os.link(tmp, target)
    except FileExistsError as exc:
        raise StorageError(
            f"aggregated profile version {profile.version} already exists and is never overwritten",
            path=target,
            fix=f"aggregate again with version={next_version(store)}",
        ) from exc
    except OSError as exc:
        raise StorageError(
            f"could not write aggregated profile ({exc.strerror or exc})",
            path=target,
            fix="free disk space or fix the folder's permissions, then re-run",
        ) from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    store.write_model(CURRENT, profile)
    return rel


def load_current(store: LocalArtifactStore) -> AggregatedProfile | None:
    """The current aggregated profile, or None before the first one."""
    return store.read_model(CURRENT, AggregatedProfile) if store.exists(CURRENT) else None


def latest_matching(store: LocalArtifactStore, fingerprint: str) -> AggregatedProfile | None:
    """The newest stored version made from inputs with this fingerprint (unreadable versions are skipped)."""
    for version in reversed(_versions(store)):
        with contextlib.suppress(StorageError):
            profile = store.read_model(version_path(version), AggregatedProfile)
            if profile.source_fingerprint == fingerprint:
                return profile
    return None
