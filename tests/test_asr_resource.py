"""ASRResource on real audio (local faster-whisper) and against a loopback OpenAI-compatible server."""

from __future__ import annotations

import email.parser
import email.policy
import io
import json
import logging
import threading
import traceback
import wave
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

import podcast_assets.resources.asr as asr
from podcast_assets.core.errors import AudioError, ConfigError, TranscriptionError
from podcast_assets.core.ingest.audio import SAMPLE_RATE
from podcast_assets.core.metrics import word_error_rate
from podcast_assets.core.text import clean_reference_script
from podcast_assets.resources.asr import ASRResource
from tests.conftest import require_shared_pairs, require_shared_speech, training_pair_dirs

CANARY = "sk-canary-4f1d9c0b7e2a46d8a1c3e5f7b9d0a2c4"
KEY_ENV = "PODCAST_ASSETS_TEST_ASR_KEY"


def _jfk() -> tuple[Path, str]:
    speech = require_shared_speech()
    return speech / "jfk.flac", (speech / "jfk.txt").read_text()


def _write_wav(path: Path, samples: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


# --------------------------------------------------------------------------- local provider


def test_local_transcribes_jfk_with_word_timestamps():
    path, reference = _jfk()
    seen: list[tuple[float, float]] = []
    result = ASRResource().transcribe(path, progress=lambda done, total: seen.append((done, total)))
    assert word_error_rate(reference, result.text) <= 0.15, result.text
    assert result.provider == "local" and result.model == "tiny.en" and result.language == "en"
    assert result.duration == pytest.approx(11.0, abs=0.05) and result.header_duration == pytest.approx(11.0)
    assert len(result.words) >= 18
    for word in result.words:
        assert 0.0 <= word.start <= word.end <= result.duration + 0.05
        assert 0.0 <= word.probability <= 1.0
        assert word.word == word.word.strip() and word.word
    starts = [w.start for w in result.words]
    assert starts == sorted(starts)
    assert 0.5 < result.mean_confidence <= 1.0
    assert seen and seen[-1][1] == pytest.approx(result.duration) and all(d <= t for d, t in seen)
    assert result.options["vad"] is True and result.processing_seconds > 0


def test_local_speech_clips_wer():
    speech = require_shared_speech()
    resource = ASRResource()
    for audio in sorted(speech.glob("librivox-*.wav")):
        result = resource.transcribe(audio)
        assert word_error_rate(audio.with_suffix(".txt").read_text(), result.text) <= 0.15, result.text


def test_silence_is_no_speech(tmp_path):
    silence = _write_wav(tmp_path / "silence.wav", np.zeros(30 * SAMPLE_RATE))
    with pytest.raises(AudioError, match="no speech"):
        ASRResource().transcribe(silence)


def test_noise_is_no_speech(tmp_path):
    noise = _write_wav(tmp_path / "noise.wav", np.random.default_rng(0).normal(0, 0.05, 20 * SAMPLE_RATE))
    with pytest.raises(TranscriptionError, match="no speech detected") as info:
        ASRResource().transcribe(noise)
    assert "noise.wav" in str(info.value)


GERMAN = Path(__file__).parent / "data" / "speech" / "de-espeak-two-voices.mp3"


class RecordingModel:
    """The real model, with the length of audio each transcribe call was given recorded."""

    def __init__(self, whisper):
        self.whisper, self.calls = whisper, []

    def __getattr__(self, name):
        return getattr(self.whisper, name)

    def transcribe(self, audio, **options):
        self.calls.append(len(audio) / SAMPLE_RATE)
        return self.whisper.transcribe(audio, **options)


@pytest.fixture
def recording(monkeypatch) -> list[float]:
    real = asr._local_model
    model = RecordingModel(real(str(ASRResource().model_dir()), "int8", 2))
    monkeypatch.setattr(asr, "_local_model", lambda *args: model)
    return model.calls


def test_real_german_speech_is_refused_after_transcribing_only_the_first_minute(recording):
    """75 s of German (two espeak-ng voices, tests/data/README.md) through the English-only model."""
    with pytest.raises(TranscriptionError) as info:
        ASRResource().transcribe(GERMAN)
    message = str(info.value)
    assert "refused after the first minute" in message and GERMAN.name in message
    assert "multilingual" in message and "pair.yaml" in message
    assert recording == [pytest.approx(60.0)], "only the first minute was transcribed"


def test_english_goes_on_from_where_the_first_minute_stopped(recording):
    path = training_pair_dirs()[0] / "podcast.mp3"
    result = ASRResource().transcribe(path)
    assert len(recording) == 2 and recording[0] == pytest.approx(60.0)
    resumed_at = result.duration - recording[1]
    assert 30.0 < resumed_at < 60.0, "the rest starts where the last whole segment of the probe ended"
    starts = [w.start for w in result.words]
    assert starts == sorted(starts) and result.words[-1].end > result.duration - 15
    seam = [w.word.lower() for w in result.words if resumed_at - 10 < w.start < resumed_at + 10]
    doubled = [a for a, b in zip(seam, seam[1:]) if a == b and len(a) > 3]
    assert doubled == [], f"words doubled at the seam: {doubled}"
    assert [s.id for s in result.segments] == list(range(len(result.segments)))


def test_the_first_minute_check_can_be_turned_off(recording):
    path = training_pair_dirs()[0] / "podcast.mp3"
    resource = ASRResource(first_minute_check=False)
    resource.transcribe(path)
    assert len(recording) == 1 and resource.cache_identity() != ASRResource().cache_identity()


def test_german_with_english_only_model_fails_before_any_work(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("audio was probed or a model was loaded")

    monkeypatch.setattr(asr, "probe_audio", forbidden)
    monkeypatch.setattr(asr, "_local_model", forbidden)
    path, _ = _jfk()
    with pytest.raises(TranscriptionError, match="only understands English") as info:
        ASRResource().transcribe(path, language="de")
    assert "multilingual" in str(info.value) and "jfk.flac" in str(info.value)


def test_too_long_audio_is_rejected_before_decoding(monkeypatch):
    def forbidden(path):
        raise AssertionError("decoded although the header already says it is too long")

    monkeypatch.setattr(asr, "decode_audio", forbidden)
    path = training_pair_dirs()[0] / "podcast.mp3"
    with pytest.raises(AudioError, match="above the 60 s limit"):
        ASRResource().transcribe(path, max_seconds=60)


def test_missing_local_model_folder_is_a_clear_config_error(tmp_path):
    path, _ = _jfk()
    with pytest.raises(ConfigError, match="not a CTranslate2 Whisper model folder"):
        ASRResource(model=str(tmp_path / "no-model")).transcribe(path)


def test_cache_identity_has_output_options_and_no_secrets(monkeypatch):
    monkeypatch.setenv(KEY_ENV, CANARY)
    local = ASRResource().cache_identity()
    assert local["provider"] == "local" and local["model"] == "tiny.en"
    assert {"compute_type", "beam_size", "vad"} <= local.keys()
    assert ASRResource(beam_size=5).cache_identity() != local
    assert ASRResource(cpu_threads=1).cache_identity() == local
    remote = ASRResource(provider="openai", model="whisper-1", api_key_env=KEY_ENV, base_url="http://x/v1")
    assert remote.cache_identity()["base_url"] == "http://x/v1"
    assert CANARY not in json.dumps(remote.cache_identity()) and CANARY not in repr(remote)


# --------------------------------------------------------------------------- OpenAI-compatible provider


class FakeTranscriptionServer(ThreadingHTTPServer):
    """Answers POST /v1/audio/transcriptions like the OpenAI API (verbose_json), or fails as told."""

    mode = "ok"

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.uploads: list[dict[str, object]] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


def _form_fields(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    fields = {}
    for part in message.iter_parts():
        fields[part.get_param("name", header="content-disposition")] = (
            part.get_filename(),
            part.get_payload(decode=True),
        )
    return fields


def _verbose_json(duration: float) -> dict[str, object]:
    """Two words per upload: one at 0.5 s, one ending 0.5 s before the end, as whisper-1 answers."""
    words = [
        {"word": "hello", "start": 0.5, "end": 1.0},
        {"word": "world", "start": duration - 1.0, "end": duration - 0.5},
    ]
    segment = {
        "id": 0, "seek": 0, "start": 0.5, "end": duration - 0.5, "text": " hello world", "tokens": [1, 2],
        "temperature": 0.0, "avg_logprob": -0.2, "compression_ratio": 1.1, "no_speech_prob": 0.01,
    }
    return {"task": "transcribe", "language": "english", "duration": duration, "text": "hello world",
            "segments": [segment], "words": words, "usage": {"type": "duration", "seconds": duration}}


class _Handler(BaseHTTPRequestHandler):
    server: FakeTranscriptionServer

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        fields = _form_fields(self.headers["Content-Type"], body)
        filename, audio = fields["file"]
        upload: dict[str, object] = {
            "path": self.path,
            "authorization": self.headers.get("Authorization"),
            "filename": filename,
            "size": len(audio),
            "fields": {k: v[1].decode() for k, v in fields.items() if k != "file"},
        }
        self.server.uploads.append(upload)
        mode = self.server.mode
        if mode == "401":
            key = str(upload["authorization"]).removeprefix("Bearer ")
            message = f"Incorrect API key provided: {key}."
            error = {"error": {"message": message, "type": "invalid_request_error", "param": None,
                               "code": "invalid_api_key"}}
            self._send(401, json.dumps(error).encode(), "application/json")
        elif mode in ("html", "html-as-json"):
            page = b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>"
            self._send(200, page, "text/html" if mode == "html" else "application/json")
        else:
            if filename and filename.endswith(".wav"):
                with wave.open(io.BytesIO(audio)) as wav:
                    duration = wav.getnframes() / wav.getframerate()
            else:
                duration = 11.0
            upload["duration"] = duration
            self._send(200, json.dumps(_verbose_json(duration)).encode(), "application/json")


@pytest.fixture
def server() -> Iterator[FakeTranscriptionServer]:
    fake = FakeTranscriptionServer()
    thread = threading.Thread(target=fake.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield fake
    fake.shutdown()
    fake.server_close()
    thread.join(timeout=5)


def _remote(server: FakeTranscriptionServer, **overrides: object) -> ASRResource:
    return ASRResource(provider="openai", model="whisper-1", api_key_env=KEY_ENV, base_url=server.base_url,
                       timeout_s=20, **overrides)


def test_openai_success_uploads_the_file_once(server, monkeypatch):
    monkeypatch.setenv(KEY_ENV, CANARY)
    path, _ = _jfk()
    result = _remote(server).transcribe(path)
    assert len(server.uploads) == 1
    upload = server.uploads[0]
    assert upload["path"] == "/v1/audio/transcriptions" and upload["filename"] == "jfk.flac"
    assert upload["authorization"] == f"Bearer {CANARY}" and upload["size"] == path.stat().st_size
    assert upload["fields"]["response_format"] == "verbose_json"
    assert upload["fields"]["model"] == "whisper-1" and upload["fields"]["language"] == "en"
    assert [w.word for w in result.words] == ["hello", "world"]
    assert result.words[1].end == pytest.approx(10.5)
    assert result.mean_confidence == 1.0 and any("probability 1.0" in w for w in result.warnings)
    assert result.provider == "openai" and result.duration == pytest.approx(11.0)
    assert CANARY not in result.model_dump_json()


def test_openai_long_audio_is_uploaded_in_chunks_and_merged(server, monkeypatch):
    monkeypatch.setenv(KEY_ENV, CANARY)
    path, _ = _jfk()
    max_bytes = 4 * SAMPLE_RATE * 2
    progress: list[float] = []
    resource = _remote(server, max_upload_bytes=max_bytes)
    result = resource.transcribe(path, progress=lambda done, total: progress.append(done))
    uploads = server.uploads
    assert len(uploads) >= 3
    assert all(u["size"] <= max_bytes and str(u["filename"]).endswith(".wav") for u in uploads)
    offsets = np.cumsum([0.0] + [u["duration"] for u in uploads])
    assert offsets[-1] == pytest.approx(11.0, abs=1e-3)
    expected = []
    for offset, upload in zip(offsets, uploads):
        expected += [(offset + 0.5, "hello"), (offset + upload["duration"] - 1.0, "world")]
    assert [w.word for w in result.words] == [word for _, word in expected]
    assert [w.start for w in result.words] == pytest.approx([t for t, _ in expected], abs=1e-6)
    assert [s.id for s in result.segments] == list(range(len(uploads)))
    assert progress == pytest.approx(list(offsets[1:]))


def test_openai_401_error_does_not_leak_the_key(server, monkeypatch, caplog):
    monkeypatch.setenv(KEY_ENV, CANARY)
    server.mode = "401"
    caplog.set_level(logging.DEBUG)
    path, _ = _jfk()
    with pytest.raises(TranscriptionError, match="HTTP 401") as info:
        _remote(server).transcribe(path)
    assert len(server.uploads) == 1, "a 401 is not retried"
    error = info.value
    rendered = "".join(traceback.format_exception(error))
    for text in (str(error), repr(error), rendered, error.fix or "", caplog.text):
        assert CANARY not in text
    assert KEY_ENV in str(error) and "[redacted]" in str(error)
    assert error.__cause__ is None and error.__context__ is None


def test_openai_missing_key_names_the_variable(server, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    path, _ = _jfk()
    with pytest.raises(TranscriptionError, match=f"{KEY_ENV} is not set"):
        _remote(server).transcribe(path)
    assert server.uploads == []


@pytest.mark.parametrize("mode", ["html", "html-as-json"])
def test_openai_200_with_html_body_is_an_error(server, monkeypatch, mode):
    monkeypatch.setenv(KEY_ENV, CANARY)
    server.mode = mode
    path, _ = _jfk()
    with pytest.raises(TranscriptionError) as info:
        _remote(server).transcribe(path)
    assert "jfk.flac" in str(info.value) and CANARY not in str(info.value)
    assert len(server.uploads) == 1


@pytest.mark.slow
def test_local_real_podcast_matches_its_tts_script():
    pair = next((p for p in require_shared_pairs() if p.name == "kd-survey-notebookllama-ollama"), None)
    if pair is None:
        pytest.skip("the kd-survey-notebookllama-ollama pair (exact TTS script) is not in ../shared/data/pairs")
    script = clean_reference_script((pair / "transcript.txt").read_text())
    result = ASRResource().transcribe(pair / "podcast.mp3")
    assert word_error_rate(script, result.text) <= 0.10
    assert result.duration == pytest.approx(193.3, abs=0.5) and result.mean_confidence > 0.8
    assert result.words[-1].end <= result.duration + 0.05


def test_paper_vocabulary_reaches_the_recogniser_as_hotwords_and_is_recorded(monkeypatch):
    path, reference = _jfk()
    seen = {}
    original = asr._local_model

    def spy(*args):
        model = original(*args)

        class Spy:
            def __getattr__(self, name):
                return getattr(model, name)

            def transcribe(self, samples, **options):
                seen.setdefault("hotwords", options.get("hotwords"))
                return model.transcribe(samples, **options)

        return Spy()

    monkeypatch.setattr(asr, "_local_model", spy)
    result = ASRResource().transcribe(path, vocabulary=["Americans", "torch"])
    assert seen["hotwords"] == "Americans, torch"
    assert result.options["vocabulary"] == "Americans, torch"
    assert word_error_rate(clean_reference_script(reference), result.text) < 0.25
