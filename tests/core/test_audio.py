"""Audio checks on real files and on the ways real files go wrong (catalogue items 6, 7, 8, 10)."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from podcast_assets.core.errors import AudioError
from podcast_assets.core.ingest.audio import SAMPLE_RATE, check_decoded, decode_audio, probe_audio
from tests.conftest import require_shared_speech, training_pair_dirs


def _real_mp3() -> Path:
    return training_pair_dirs()[-1] / "podcast.mp3"


def _reject(path: Path, max_seconds: float = 7200) -> AudioError:
    """The AudioError from probing, decoding and checking `path` (fails the test if there is none)."""
    with pytest.raises(AudioError) as info:
        audio = probe_audio(path, max_seconds=max_seconds)
        check_decoded(audio, decode_audio(path))
    assert str(path) in str(info.value)
    return info.value


def test_real_podcasts_pass_with_decoded_length_matching_the_header():
    for pair in training_pair_dirs():
        info = probe_audio(pair / "podcast.mp3", max_seconds=7200)
        samples = decode_audio(pair / "podcast.mp3")
        check_decoded(info, samples)
        assert info.format == "mp3" and info.channels >= 1 and info.size_bytes > 0
        assert len(samples) / SAMPLE_RATE == pytest.approx(info.header_duration, rel=0.01)


def test_real_speech_clips_pass():
    clips = sorted(require_shared_speech().glob("*.[fw]*"))
    assert clips, "the speech folder holds .flac and .wav clips"
    for path in clips:
        check_decoded(probe_audio(path, max_seconds=60), decode_audio(path))


def test_missing_and_zero_byte_files_are_rejected(tmp_path):
    assert "not found" in _reject(tmp_path / "absent.mp3").message
    empty = tmp_path / "podcast.mp3"
    empty.write_bytes(b"")
    assert "0 bytes" in _reject(empty).message


def test_html_saved_as_mp3_is_rejected(tmp_path):
    page = tmp_path / "podcast.mp3"
    body = "denied " * 500
    page.write_text(f"<!DOCTYPE html>\n<html><head><title>403</title></head><body>{body}</body></html>")
    error = _reject(page)
    assert "not decodable as audio" in error.message and "HTML" in error.message


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_random_bytes_are_rejected_at_probe(tmp_path, seed):
    noise = tmp_path / "podcast.mp3"
    noise.write_bytes(np.random.default_rng(seed).integers(0, 256, 300_000, dtype=np.uint8).tobytes())
    with pytest.raises(AudioError, match="not decodable as audio") as info:
        probe_audio(noise, max_seconds=7200)
    assert str(noise) in str(info.value)


def test_mp3_cut_to_40_percent_is_detected(tmp_path):
    data = _real_mp3().read_bytes()
    cut = tmp_path / "podcast.mp3"
    cut.write_bytes(data[: int(len(data) * 0.4)])
    error = _reject(cut)
    assert "corrupt or truncated" in error.message and "its header claims" in error.message


def test_mp3_with_zeroed_middle_is_detected(tmp_path):
    data = bytearray(_real_mp3().read_bytes())
    lo, hi = int(len(data) * 0.4), int(len(data) * 0.6)
    data[lo:hi] = bytes(hi - lo)
    broken = tmp_path / "podcast.mp3"
    broken.write_bytes(bytes(data))
    assert "corrupt or truncated" in _reject(broken).message


def test_digital_silence_is_rejected(tmp_path):
    silence = tmp_path / "silence.wav"
    with wave.open(str(silence), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(bytes(30 * SAMPLE_RATE * 2))
    assert "no speech: the file is silent" in _reject(silence).message


def _assert_the_length_limit_is_read_from_the_header(path: Path) -> None:
    """Rejected just below its header duration, accepted just above it."""
    duration = probe_audio(path, max_seconds=7200).header_duration
    assert duration is not None and duration > 2
    limit = int(duration) - 1
    with pytest.raises(AudioError, match=rf"by its header, above the {limit} s limit") as info:
        probe_audio(path, max_seconds=limit)
    assert str(path) in str(info.value)
    assert probe_audio(path, max_seconds=int(duration) + 1).header_duration == duration


def test_too_long_podcast_is_rejected_from_the_header():
    _assert_the_length_limit_is_read_from_the_header(_real_mp3())


def test_too_long_flac_clip_is_rejected_from_the_header():
    _assert_the_length_limit_is_read_from_the_header(require_shared_speech() / "jfk.flac")
