"""Pure audio helpers of the speech step: pitch measurement and shifting, the length curve, text pieces,
and the writer that never leaves a partial file at the final path."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from podcast_assets.core.training import voices
from podcast_assets.core.training.voices import (
    AudioWriter,
    LengthCurve,
    TTSError,
    measure_audio,
    median_f0,
    remove_stale_temps,
    resample_by,
    semitone_ratio,
    shift_pitch,
    split_text,
)

RATE = 22_050


def voiced(f0: float, seconds: float = 1.0, rate: int = RATE) -> np.ndarray:
    """A vowel-like tone: a fundamental and falling harmonics, as a voice's glottal pulses give."""
    t = np.arange(int(seconds * rate)) / rate
    wave = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))
    return (0.3 * wave / np.max(np.abs(wave))).astype(np.float32)


@pytest.mark.parametrize("f0", [85.0, 120.0, 210.0])
def test_median_f0_finds_the_fundamental_not_a_harmonic(f0):
    assert median_f0(voiced(f0), RATE) == pytest.approx(f0, rel=0.02)


def test_median_f0_of_noise_or_silence_is_unknown():
    rng = np.random.default_rng(0)
    assert median_f0(np.zeros(RATE, dtype=np.float32), RATE) is None
    assert median_f0(rng.normal(0, 0.1, RATE).astype(np.float32), RATE) is None


@pytest.mark.parametrize("semitones", [-3.0, 4.0, 7.0])
def test_shift_pitch_moves_the_pitch_by_the_semitones_and_the_length_by_the_same_ratio(semitones):
    tone = voiced(110.0)
    shifted = shift_pitch(tone, semitones)
    ratio = semitone_ratio(semitones)
    assert len(shifted) == round(len(tone) / ratio)
    assert median_f0(shifted, RATE) == pytest.approx(110.0 * ratio, rel=0.02)
    assert 12 * np.log2(median_f0(shifted, RATE) / 110.0) == pytest.approx(semitones, abs=0.3)


def test_resampling_down_drops_what_the_new_rate_cannot_hold_instead_of_folding_it():
    t = np.arange(RATE) / RATE
    high = np.sin(2 * np.pi * 9000 * t).astype(np.float32)  # above the Nyquist limit once shortened 1.5x
    assert np.sqrt(np.mean(resample_by(high, 1.5) ** 2)) < 0.01


def test_length_curve_inverts_a_voice_whose_pads_do_not_stretch():
    scales = [0.5, 0.75, 1.0, 1.5, 2.0, 2.5]
    seconds = [2.4 + 7.1 * s for s in scales]  # a quarter of the audio does not follow the scale
    curve = LengthCurve.fit(scales, seconds)
    assert curve.factor(1.0) == pytest.approx(1.0)
    for factor in (0.8, 1.26, 1.37, 2.0):
        scale = curve.scale_for(factor)
        assert scale is not None and curve.factor(scale) == pytest.approx(factor, rel=1e-3)
        assert (2.4 + 7.1 * scale) / 9.5 == pytest.approx(factor, rel=1e-3)
    assert curve.scale_for(1.0) == 1.0
    assert curve.scale_for(3.0) is None and curve.scale_for(0.3) is None


def test_split_text_cuts_after_sentences_and_never_exceeds_the_limit():
    text = "First sentence here. Second one is a bit longer! Third? " + "word " * 40
    pieces = split_text(text, 60)
    assert all(len(p) <= 60 for p in pieces)
    assert " ".join(pieces).split() == text.split()
    assert pieces[0] == "First sentence here. Second one is a bit longer! Third?"
    assert split_text("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]
    assert split_text("   ", 10) == []


@pytest.mark.parametrize("suffix", [".mp3", ".ogg", ".opus", ".wav"])
def test_writer_output_decodes_to_what_was_written(tmp_path, suffix):
    path = tmp_path / f"speech{suffix}"
    with AudioWriter(path, sample_rate=RATE) as writer:
        for _ in range(3):
            writer.write(voiced(120.0, 0.7))
        writer.finish()
        assert not path.exists(), "nothing at the final path before commit"
        writer.commit()
    seconds, peak = measure_audio(path)
    assert seconds == pytest.approx(2.1, abs=0.03) and 0.2 < peak <= 1.0
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    assert path.stat().st_mode & 0o777 == 0o644


def test_writer_compresses_speech_rates_to_well_under_a_megabyte_a_minute(tmp_path):
    path = tmp_path / "minute.mp3"
    with AudioWriter(path, sample_rate=RATE, bitrate_kbps=48) as writer:
        writer.write(np.tile(voiced(120.0, 1.0), 60))
        writer.finish()
        writer.commit()
    assert path.stat().st_size < 0.45e6  # 48 kbit/s is 0.36 MB a minute; WAV would be 2.6 MB


def test_unknown_suffix_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(TTSError, match="cannot write audio of type '.aiff'"):
        AudioWriter(tmp_path / "x.aiff", sample_rate=RATE)
    assert list(tmp_path.iterdir()) == []


def test_leaving_without_commit_deletes_the_temp_and_keeps_the_previous_file(tmp_path):
    path = tmp_path / "speech.mp3"
    path.write_bytes(b"previous")
    with pytest.raises(RuntimeError, match="stopped"), AudioWriter(path, sample_rate=RATE) as writer:
        writer.write(voiced(120.0))
        assert writer.temp_path is not None and writer.temp_path.stat().st_size > 0
        raise RuntimeError("stopped")
    assert path.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["speech.mp3"]


@pytest.mark.parametrize("where", ["write", "fsync"])
def test_disk_full_is_a_clear_error_with_no_temp_left_and_the_previous_file_intact(
    tmp_path, monkeypatch, where
):
    path = tmp_path / "speech.mp3"
    path.write_bytes(b"previous")
    if where == "fsync":

        def disk_full(fd: int) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "fsync", disk_full)
    else:
        real_fdopen = os.fdopen

        class FullDisk:
            def __init__(self, handle):
                self.handle, self.written = handle, 0

            def write(self, data):
                self.written += len(data)
                if self.written > 4000:
                    raise OSError(28, "No space left on device")
                return self.handle.write(data)

            def __getattr__(self, name):
                return getattr(self.handle, name)

        monkeypatch.setattr(voices.os, "fdopen", lambda fd, mode: FullDisk(real_fdopen(fd, mode)))
    with pytest.raises(TTSError, match="disk full") as err, AudioWriter(path, sample_rate=RATE) as writer:
        for _ in range(5):
            writer.write(voiced(120.0))
        writer.finish()
        writer.commit()
    assert "free disk space" in str(err.value) and str(path) in str(err.value)
    assert path.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["speech.mp3"]


def test_stale_temps_of_dead_writers_are_removed_and_live_ones_kept(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path = tmp_path / "speech.mp3"
    stale = tmp_path / f".speech.mp3.{dead.pid}.abc123.tmp"
    live = tmp_path / f".speech.mp3.{os.getppid()}.def456.tmp"
    other = tmp_path / f".other.mp3.{dead.pid}.abc123.tmp"
    for p in (stale, live, other):
        p.write_bytes(b"partial")
    assert remove_stale_temps(path) == [stale]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other.name])
