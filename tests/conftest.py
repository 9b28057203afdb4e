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
