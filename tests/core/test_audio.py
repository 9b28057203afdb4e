"""Audio checks on real files and on the ways real files go wrong (catalogue items 6, 7, 8, 10)."""

from __future__ import annotations

import json
import subprocess
import sys
import wave
from pathlib import Path

import av
import numpy as np
import pytest

from podcast_assets.core.config import PdfSettings
from podcast_assets.core.errors import AudioError
from podcast_assets.core.ingest.audio import SAMPLE_RATE, check_decoded, decode_audio, probe_audio
from podcast_assets.core.ingest.pairs import check_inputs
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


def test_decoding_stops_at_the_limit_and_otherwise_gives_every_sample():
    clip = require_shared_speech() / "jfk.flac"
    whole = decode_audio(clip)
    assert np.array_equal(decode_audio(clip, max_seconds=len(whole) / SAMPLE_RATE), whole)
    with pytest.raises(
        AudioError, match=r"longer than the 5 s limit \(asr.max_audio_seconds\): decoding stopped after 11 s"
    ):
        decode_audio(clip, max_seconds=5)


def headerless_flac(path: Path, seconds: int, rate: int = 8000) -> Path:
    """FLAC encoded as a stream (through a file PyAV cannot seek in, as ffmpeg writes to a pipe), so its
    header never gets the total length: 10 s blocks of silence, each opening with a 0.1 s tone at -26 dBFS."""

    class Pipe:
        def __init__(self, file):
            self.file = file

        def write(self, data: bytes) -> int:
            return self.file.write(data)

    block = np.zeros(10 * rate, dtype=np.int16)
    block[: rate // 10] = (1600 * np.sin(2 * np.pi * 440 * np.arange(rate // 10) / rate)).astype(np.int16)
    with path.open("wb") as file, av.open(Pipe(file), "w", format="flac") as out:
        stream = out.add_stream("flac", rate=rate, layout="mono")
        for n in range(seconds // 10):
            frame = av.AudioFrame.from_ndarray(block[None, :], format="s16", layout="mono")
            frame.sample_rate, frame.pts = rate, n * len(block)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


MEASURED = """
import json, sys
from pathlib import Path
from podcast_assets.core.config import PdfSettings
from podcast_assets.core.errors import AudioError
path, how = Path(sys.argv[1]), sys.argv[2]
try:
    if how == "transcribe":
        from podcast_assets.resources.asr import ASRResource
        ASRResource(max_audio_seconds=7200).transcribe(path)
    else:
        from podcast_assets.core.ingest.audio import decode_audio
        decode_audio(path, max_seconds=7200)
    error = None
except AudioError as exc:
    error = str(exc)
# VmHWM: the peak resident memory since this program started (ru_maxrss would carry the forking parent's)
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"error": error, "peak_mb": peak_kb / 1024}))
"""


def refused_in_a_child(path: Path, how: str) -> tuple[str, float]:
    """(the error, the peak resident memory in MB) of a fresh process that transcribes or decodes `path`."""
    out = subprocess.run(
        [sys.executable, "-c", MEASURED, str(path), how],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.splitlines()[-1])
    assert result["error"] is not None, f"{how}: a 3-hour file was accepted"
    return result["error"], result["peak_mb"]


def test_a_3_hour_flac_whose_header_gives_no_length_is_refused_with_flat_memory(tmp_path):
    """Before, the whole file was decoded (1.8 GB here) before the 7,200 s limit refused it."""
    flac = headerless_flac(tmp_path / "podcast.flac", 3 * 3600)
    with av.open(str(flac)) as container:
        assert (
            container.duration is None and not container.streams.audio[0].duration
        )  # no length in the header
    assert probe_audio(flac, max_seconds=4 * 3600).header_duration is None

    transcribed, transcribe_mb = refused_in_a_child(
        flac, "transcribe"
    )  # refused from the packets' timestamps
    assert "its header gives no length, and its packets' timestamps pass 7200 s" in transcribed
    decoded, decode_mb = refused_in_a_child(flac, "decode")  # decoding itself stops at the limit
    assert "decoding stopped after 72" in decoded
    for error in (transcribed, decoded):
        assert (
            str(flac) in error
            and "7200 s limit (asr.max_audio_seconds)" in error
            and "max_seconds setting" not in error
        )
    print(f"\npeak memory refusing a header-less 3-hour FLAC: {transcribe_mb:.0f} MB transcribing, ", end="")
    print(f"{decode_mb:.0f} MB decoding only")
    assert transcribe_mb < 500 and decode_mb < 500

    paper = training_pair_dirs()[0] / "paper.pdf"  # `pairs add` runs the same check before copying anything
    with pytest.raises(AudioError, match="its header gives no length"):
        check_inputs(paper, flac, paper=PdfSettings(), max_audio_seconds=7200)
