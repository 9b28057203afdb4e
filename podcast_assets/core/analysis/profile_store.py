"""Versioned storage of the aggregated profile: `profiles/aggregated_v{N}.json` is written once and never
replaced, and `profiles/current.json` is a copy of the version the aggregated_profile asset last reported."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping

from podcast_assets.core.analysis.aggregate import learn_aggregated_profile, source_fingerprint
from podcast_assets.core.analysis.models import AggregatedProfile
from podcast_assets.core.analysis.selection import Selection
from podcast_assets.core.config import DepthTarget
from podcast_assets.core.errors import StorageError
from podcast_assets.core.storage import LocalArtifactStore

PROFILES_DIR = "profiles"
CURRENT = f"{PROFILES_DIR}/current.json"
_VERSION_FILE = re.compile(r"aggregated_v([1-9][0-9]*)\.json")


def _versions(store: LocalArtifactStore) -> list[int]:
    names = (rel.rsplit("/", 1)[1] for rel in store.list(PROFILES_DIR))
    return sorted(int(m.group(1)) for name in names if (m := _VERSION_FILE.fullmatch(name)))


def version_path(version: int) -> str:
    return f"{PROFILES_DIR}/aggregated_v{version}.json"


def next_version(store: LocalArtifactStore) -> int:
    """One more than the highest stored version, 1 when there is none."""
    return max(_versions(store), default=0) + 1


def save_version(store: LocalArtifactStore, profile: AggregatedProfile) -> str:
    """Write `profiles/aggregated_v{N}.json`, never replacing an existing version."""
    return store.write_model(version_path(profile.version), profile, replace=False)


def publish(store: LocalArtifactStore, profile: AggregatedProfile) -> None:
    """Make `profile` the current one: profiles/current.json is what `podcast-assets profile show` prints."""
    store.write_model(CURRENT, profile)


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


def learn_or_reuse(
    store: LocalArtifactStore, selection: Selection, *, depths: Mapping[str, DepthTarget], created_at: str
) -> tuple[AggregatedProfile, bool]:
    """The stored version made from exactly these inputs, else a new version learned and saved; either way
    published as current, so current.json is always the version the caller reports. Second item: reused."""
    fingerprint = source_fingerprint(selection.structures, selection.styles, selection.left_out, depths)
    profile = latest_matching(store, fingerprint)
    reused = profile is not None
    if profile is None:
        profile = learn_aggregated_profile(
            selection, depths=depths, version=next_version(store), created_at=created_at
        )
        save_version(store, profile)
    publish(store, profile)
    return profile, reused
