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
    """For tests that need several different real pairs (or one named pair): skipped without ../shared."""
    pairs = shared_pair_dirs()
    if not pairs:
        pytest.skip(f"real training pairs not found at {SHARED_PAIRS} (CI provides ../shared beside the clone)")
    return pairs


def training_pair_dirs() -> list[Path]:
    """Real pairs to test on: those in ../shared/data/pairs, else the bundled example, so a fresh clone
    without ../shared still runs every test that needs only some real pair."""
    return shared_pair_dirs() or sorted(p for p in EXAMPLE_PAIRS.iterdir() if p.is_dir())


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
    """Every real pair's ingest assets (training_pair_dirs) materialized once per session into `artifact_root`
    (later materializations of the same inputs are served from its caches). Returns (config, results)."""
    import dagster as dg

    from podcast_assets.definitions import build_resources
    from podcast_assets.defs.ingest import document_graphs, transcriptions
    from podcast_assets.defs.partitions import training_pairs
    from tests.dagster_helpers import make_config

    pair_dirs = training_pair_dirs()
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


OTHER_TOPIC = (
    "Medieval cathedral acoustics. The nave of a Gothic cathedral sustains reverberation for many seconds, and "
    "choirmasters adapted plainchant tempo to the resonance of vaulted stone. We measured impulse responses in "
    "twelve cathedrals with a dodecahedral loudspeaker and omnidirectional microphones placed along the nave, "
    "the choir and the transepts. Reverberation time at five hundred hertz ranged from four to eleven seconds. "
    "Wooden choir stalls, tapestries and congregation density shortened the decay, while clerestory glazing "
    "lengthened it. Plainchant melismas recorded in the choir blurred less than polyphonic motets, which "
    "suggests that composers wrote for the room. Restoration work that removed plaster from the vaults "
    "raised reverberation markedly, and we discuss how conservators might weigh liturgy against heritage.\n\n"
)


def other_topic_pdf() -> bytes:
    """A real, valid paper about something else than any pair's podcast (a podcast paired with it is a mismatch)."""
    import pymupdf

    doc = pymupdf.open()
    for _ in range(3):
        doc.new_page().insert_textbox(pymupdf.Rect(72, 72, 540, 760), OTHER_TOPIC * 3, fontsize=10)
    data = doc.tobytes()
    doc.close()
    return data


def scanned_pdf(source: Path, pages: int = 3) -> bytes:
    """A scan of the first pages of the real paper `source`: each page only an image of itself (no text
    layer)."""
    import pymupdf

    with pymupdf.open(source) as paper:
        images = [paper[i].get_pixmap(dpi=100).tobytes("png") for i in range(min(pages, paper.page_count))]
    scan = pymupdf.open()
    for png in images:
        scan.new_page().insert_image(pymupdf.Rect(0, 0, 612, 792), stream=png)
    data = scan.tobytes()
    scan.close()
    return data


@pytest.fixture(scope="session")
def real_pairs(ingested) -> dict:
    """{pair_id: (TranscriptionResult, DocumentGraph)} of every real pair ingested this session."""
    from podcast_assets.core.ingest.models import DocumentGraph, TranscriptionResult
    from podcast_assets.core.storage import LocalArtifactStore, pair_record_path

    config, results = ingested
    store = LocalArtifactStore(config.storage.root)
    return {
        pair_id: (
            store.read_model(pair_record_path(pair_id, "transcription"), TranscriptionResult),
            store.read_model(pair_record_path(pair_id, "document_graph"), DocumentGraph),
        )
        for pair_id, result in results.items()
        if result.success
    }
