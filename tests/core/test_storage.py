from __future__ import annotations

import os

import pytest

from podcast_assets.core.errors import StorageError
from podcast_assets.core.ingest.models import PairMeta
from podcast_assets.core.storage import LocalArtifactStore, atomic_write_bytes, cache_key


def test_records_round_trip_as_json(tmp_path):
    store = LocalArtifactStore(tmp_path)
    rel = store.write_model("pairs/a/meta.json", PairMeta(speaker_gender="female", source="x"))
    assert store.path(rel).read_text().lstrip().startswith("{")
    assert store.read_model(rel, PairMeta).speaker_gender == "female"


def test_blobs_are_content_addressed_and_written_once(tmp_path):
    store = LocalArtifactStore(tmp_path)
    first = store.put_blob(b"png-bytes", "png")
    mtime = store.path(first).stat().st_mtime_ns
    assert store.put_blob(b"png-bytes", "png") == first
    assert store.path(first).stat().st_mtime_ns == mtime
    assert store.put_blob(b"other", "png") != first


@pytest.mark.parametrize(
    "rel", ["../escape.json", "{tmp}/escape.json", "a/../../escape.json", "root/../../escape.json", ""]
)
def test_paths_cannot_leave_the_root(tmp_path, rel):
    """Each path would land beside the store's root (in tmp_path) if it were followed."""
    rel = rel.format(tmp=tmp_path)
    store = LocalArtifactStore(tmp_path / "root")
    with pytest.raises(StorageError, match="is not a relative path inside the store"):
        store.write_bytes(rel, b"x")
    with pytest.raises(StorageError, match="is not a relative path inside the store"):
        store.read_bytes(rel)
    assert list(tmp_path.iterdir()) == [], "nothing written, not even the root"


def test_a_failed_write_keeps_the_previous_version_and_leaves_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "a.json"
    atomic_write_bytes(target, b"old")

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(StorageError) as err:
        atomic_write_bytes(target, b"new")
    assert "No space left" in str(err.value) and str(target) in str(err.value)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_get_or_create_computes_once(tmp_path):
    store = LocalArtifactStore(tmp_path)
    calls = []

    def create():
        calls.append(1)
        return PairMeta(notes="made")

    key = cache_key("meta", 1)
    assert store.get_or_create("meta", key, PairMeta, create) == (PairMeta(notes="made"), False)
    assert store.get_or_create("meta", key, PairMeta, create) == (PairMeta(notes="made"), True)
    assert len(calls) == 1


def test_a_corrupt_cache_entry_is_a_miss_not_a_crash(tmp_path):
    store = LocalArtifactStore(tmp_path)
    store.write_bytes("cache/meta/k.json", b"{truncated")
    assert store.cached_model("meta", "k", PairMeta) is None


def test_cache_key_is_stable_and_order_independent_for_dicts():
    assert cache_key("a", {"x": 1, "y": 2}) == cache_key("a", {"y": 2, "x": 1})
    assert cache_key("a", {"x": 1}) != cache_key("a", {"x": 2})
