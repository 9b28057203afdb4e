"""Materialize the ingest assets in-process on the real training pairs, and on bad pairs beside a good one."""

from __future__ import annotations

import json
import wave
from pathlib import Path
from typing import ClassVar

import dagster as dg
import pytest

from podcast_assets.core.ingest.models import DocumentGraph, TranscriptionResult
from podcast_assets.core.ingest.pairs import pair_files
from podcast_assets.core.storage import LocalArtifactStore, pair_record_path, sha256_file
from podcast_assets.definitions import build_resources
from podcast_assets.defs.ingest import (
    document_graph_path,
    document_graphs,
    transcription_path,
    transcriptions,
)
from podcast_assets.defs.partitions import training_pairs
from podcast_assets.resources.asr import ASRResource
from tests.conftest import EXAMPLE_PAIRS, require_shared_pairs, scanned_pdf, training_pair_dirs
from tests.dagster_helpers import make_config

INGEST = [document_graphs, transcriptions]


def metadata(result: dg.ExecuteInProcessResult, asset: dg.AssetsDefinition) -> dict:
    [mat] = result.asset_materializations_for_node(asset.op.name)
    return {k: getattr(v, "value", v) for k, v in mat.metadata.items()}


def test_every_shared_pair_materializes(ingested):
    _, results = ingested
    assert {pid: r.success for pid, r in results.items()} == {pid: True for pid in results}


def test_document_graphs_of_real_papers_are_rich(ingested):
    config, results = ingested
    store = LocalArtifactStore(config.storage.root)
    for pair_id, result in results.items():
        meta = metadata(result, document_graphs)
        graph = store.read_model(document_graph_path(pair_id), DocumentGraph)
        assert graph.pdf_sha256 == sha256_file(pair_files(config.pairs_dir, pair_id).paper), "the graph is of this PDF"
        assert meta["text_atoms"] == len(graph.atoms) >= 30, pair_id
        assert len(graph.sections) >= 3, pair_id
        assert len(graph.key_concepts) >= 10, pair_id
        assert graph.figures and all(store.exists(f.image_path) for f in graph.figures), pair_id
        assert "data:image/png;base64," in meta["first_figure"]
        assert all(a.section_id or a.kind == "abstract" for a in graph.atoms[len(graph.atoms) // 4 :]) or graph.section_source == "none"


def test_transcriptions_of_real_podcasts_are_word_timed(ingested):
    config, results = ingested
    store = LocalArtifactStore(config.storage.root)
    for pair_id, result in results.items():
        record = store.read_model(transcription_path(pair_id), TranscriptionResult)
        assert record.audio_sha256 == sha256_file(pair_files(config.pairs_dir, pair_id).audio), "of this audio"
        words = record.words
        assert (record.provider, record.model) == (config.asr.provider, config.asr.model), pair_id
        assert record.language == "en", pair_id  # no pair.yaml names another language
        assert len(words) > 100 * record.duration / 60, pair_id  # real speech runs well above 100 wpm
        assert all(0 <= w.start <= w.end <= record.duration + 0.5 for w in words), pair_id
        assert 0.5 < record.mean_confidence <= 1.0, pair_id
        assert metadata(result, transcriptions)["words"] == len(words)


def test_the_kd_survey_transcript_matches_its_tts_script(ingested):
    """kd-survey's podcast was read by TTS from an exact script: the words must largely agree."""
    from podcast_assets.core.metrics import word_error_rate
    from podcast_assets.core.text import clean_reference_script

    config, results = ingested
    if "kd-survey-notebookllama-ollama" not in results:
        pytest.skip("kd-survey pair not in ../shared/data/pairs")
    script = (require_shared_pairs()[0].parent / "kd-survey-notebookllama-ollama" / "transcript.txt").read_text()
    reference = clean_reference_script(script)
    record = LocalArtifactStore(config.storage.root).read_model(transcription_path("kd-survey-notebookllama-ollama"), TranscriptionResult)
    assert word_error_rate(reference, record.text) < 0.15


def test_a_second_run_is_served_from_the_cache(ingested):
    config, _ = ingested
    pair_id = training_pair_dirs()[0].name
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(training_pairs.name, [pair_id])
        again = dg.materialize(INGEST, partition_key=pair_id, instance=instance, resources=build_resources(config))
    assert metadata(again, document_graphs)["cached"] is True
    assert metadata(again, transcriptions)["cached"] is True


# --------------------------------------------------------------------------- bad pairs beside a good one


def silent_wav(path: Path, seconds: float = 30.0) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"\x00\x00" * int(16000 * seconds))


@pytest.fixture(scope="session")
def bad_world(tmp_path_factory, artifact_root):
    """The bundled example pair beside pairs that are each broken in one way."""
    root = tmp_path_factory.mktemp("bad")
    pairs_dir = root / "pairs"
    good = EXAMPLE_PAIRS / "wheat-climate-risk-podcastfy"
    paper, podcast = (good / "paper.pdf").read_bytes(), (good / "podcast.mp3").read_bytes()
    layout = {
        "good": {"paper.pdf": paper, "podcast.mp3": podcast},
        "corrupt-pdf": {"paper.pdf": b"%PDF-1.7\n" + bytes(range(256)) * 40, "podcast.mp3": podcast},
        "html-pdf": {"paper.pdf": b"<!DOCTYPE html><html><body>Not found</body></html>", "podcast.mp3": podcast},
        "empty-audio": {"paper.pdf": paper, "podcast.mp3": b""},
        "truncated-audio": {"paper.pdf": paper, "podcast.mp3": podcast[:3000]},
        "no-audio": {"paper.pdf": paper},
        "bad-yaml": {"paper.pdf": paper, "podcast.mp3": podcast, "pair.yaml": b"speaker_gender: robot\n"},
    }
    for pair_id, files in layout.items():
        (pairs_dir / pair_id).mkdir(parents=True)
        for name, data in files.items():
            (pairs_dir / pair_id / name).write_bytes(data)
    (pairs_dir / "silent").mkdir()
    (pairs_dir / "silent" / "paper.pdf").write_bytes(paper)
    silent_wav(pairs_dir / "silent" / "podcast.wav")
    config = make_config(pairs_dir, artifact_root)
    outcomes = {}
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(training_pairs.name, sorted(layout) + ["silent"])
        for pair_id in sorted(layout) + ["silent"]:
            result = dg.materialize(
                INGEST, partition_key=pair_id, instance=instance, resources=build_resources(config), raise_on_error=False
            )
            failures = {
                e.step_key: e.step_failure_data.user_failure_data.description
                for e in result.all_events
                if e.is_step_failure and e.step_failure_data.user_failure_data
            }
            outcomes[pair_id] = (result, failures)
    return config, outcomes


@pytest.mark.parametrize(
    ("pair_id", "failed_step", "file", "words"),
    [
        ("corrupt-pdf", "document_graphs", "corrupt-pdf/paper.pdf", []),
        ("html-pdf", "document_graphs", "html-pdf/paper.pdf", ["HTML"]),
        ("empty-audio", "transcriptions", "empty-audio/podcast.mp3", ["empty"]),
        ("truncated-audio", "transcriptions", "truncated-audio/podcast.mp3", []),
        ("no-audio", "transcriptions", "no-audio", ["no audio file"]),
        ("bad-yaml", "transcriptions", "bad-yaml/pair.yaml", ["speaker_gender"]),
        ("silent", "transcriptions", "silent/podcast.wav", ["speech"]),
    ],
)
def test_a_bad_pair_fails_only_its_own_step_with_an_actionable_error(bad_world, pair_id, failed_step, file, words):
    config, outcomes = bad_world
    result, failures = outcomes[pair_id]
    assert not result.success
    assert list(failures) == [failed_step], failures
    message = failures[failed_step]
    assert file in message and "Fix:" in message
    assert all(w.lower() in message.lower() for w in words), message
    record = "document_graph" if failed_step == "document_graphs" else "transcription"
    assert not LocalArtifactStore(config.storage.root).exists(pair_record_path(pair_id, record))


def test_the_good_pair_beside_the_bad_ones_materializes(bad_world):
    config, outcomes = bad_world
    result, failures = outcomes["good"]
    assert result.success and failures == {}
    store = LocalArtifactStore(config.storage.root)
    assert store.read_model(transcription_path("good"), TranscriptionResult).words
    leftovers = [p for p in config.storage.root.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_stored_records_are_plain_json(ingested):
    config, results = ingested
    for pair_id in results:
        for record in ("document_graph", "transcription"):
            json.loads(LocalArtifactStore(config.storage.root).read_bytes(pair_record_path(pair_id, record)))


class RefusingASR(ASRResource):
    """A recogniser that records every call and transcribes nothing (a cloud one would be paid per call)."""

    calls: ClassVar[list[str]] = []

    def transcribe(self, path: Path, **kwargs) -> TranscriptionResult:
        self.calls.append(str(path))
        raise AssertionError(f"the recogniser was called for {path}")


def test_a_scanned_paper_stops_its_pair_before_the_recogniser_is_called(tmp_path):
    """A scan (no text layer) beside a real podcast, in a fresh store (no cached transcript to fall back on):
    in a run the transcription waits for the paper and is skipped; materialized alone it checks the paper."""
    real = training_pair_dirs()[0]
    (tmp_path / "pairs" / "scanned").mkdir(parents=True)
    (tmp_path / "pairs" / "scanned" / "paper.pdf").write_bytes(scanned_pdf(real / "paper.pdf"))
    (tmp_path / "pairs" / "scanned" / "podcast.mp3").write_bytes((real / "podcast.mp3").read_bytes())
    config = make_config(tmp_path / "pairs", tmp_path / "artifacts")
    resources = {**build_resources(config), "asr": RefusingASR()}
    RefusingASR.calls.clear()
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(training_pairs.name, ["scanned"])
        outcomes = {
            "run": dg.materialize(INGEST, partition_key="scanned", instance=instance, resources=resources,
                                  raise_on_error=False),
            "alone": dg.materialize([transcriptions], partition_key="scanned", instance=instance,
                                    resources=resources, raise_on_error=False),
        }  # fmt: skip
    for how, result in outcomes.items():
        failures = {
            e.step_key: e.step_failure_data.user_failure_data.description
            for e in result.all_events
            if e.is_step_failure and e.step_failure_data.user_failure_data
        }
        started = {e.step_key for e in result.all_events if e.is_step_start}
        failed = "document_graphs" if how == "run" else "transcriptions"
        assert not result.success and list(failures) == [failed], failures
        assert started == set(failures), f"{how}: {started} started"  # in a run, transcriptions never starts
        message = next(iter(failures.values()))
        assert "scanned/paper.pdf" in message and "no text layer" in message, message
        assert "ocrmypdf" in message, message
    assert RefusingASR.calls == [], "the recogniser was called for a pair whose paper is refused"
    assert not LocalArtifactStore(config.storage.root).exists(pair_record_path("scanned", "transcription"))
