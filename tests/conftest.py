"""Shared fixtures: where the real data lives, and a skip with a reason where it does not."""

from __future__ import annotations

from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
SHARED_PAIRS = SHARED_DATA / "pairs"
SHARED_SPEECH = SHARED_DATA / "speech"
EXAMPLE_PAIRS = PROJECT_ROOT / "examples" / "pairs"


def shared_pair_dirs() -> list[Path]:
    """The real training pairs beside the project (../shared/data/pairs), sorted by id; [] if absent."""
    return sorted(p for p in SHARED_PAIRS.iterdir() if p.is_dir()) if SHARED_PAIRS.is_dir() else []


def require_shared_pairs() -> list[Path]:
    pairs = shared_pair_dirs()
    if not pairs:
        pytest.skip(f"real training pairs not found at {SHARED_PAIRS} (CI provides ../shared beside the clone)")
    return pairs


def require_shared_speech() -> Path:
    if not SHARED_SPEECH.is_dir():
        pytest.skip(f"speech clips not found at {SHARED_SPEECH} (CI provides ../shared beside the clone)")
    return SHARED_SPEECH


@pytest.fixture(scope="session")
def artifact_root(tmp_path_factory) -> Path:
    """One artifact store for the whole session, so real pairs are transcribed once and then cached."""
    return tmp_path_factory.mktemp("artifacts")


@pytest.fixture(scope="session")
def ingested(artifact_root):
    """Every shared pair's ingest assets materialized once per session into `artifact_root`
    (later materializations of the same inputs are served from its caches). Returns (config, results)."""
    import dagster as dg

    from podcast_assets.definitions import build_resources
    from podcast_assets.defs.ingest import document_graphs, transcriptions
    from podcast_assets.defs.partitions import training_pairs
    from tests.dagster_helpers import make_config

    pair_dirs = require_shared_pairs()
    config = make_config(pair_dirs[0].parent, artifact_root)
    results = {}
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(training_pairs.name, [p.name for p in pair_dirs])
        for pair in pair_dirs:
            results[pair.name] = dg.materialize(
                [document_graphs, transcriptions],
                partition_key=pair.name,
                instance=instance,
                resources=build_resources(config),
                raise_on_error=False,
            )
    return config, results
