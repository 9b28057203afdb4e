"""A transcript segment's audio as the review store keeps it: 16 kHz mono int16, FLAC-compressed (lossless), with a
SHA-256 of the compressed bytes so a damaged clip is found before it is played; plus what the page draws from it
(a waveform of peaks, and the volume)."""

from __future__ import annotations

import hashlib
import io
import struct
from dataclasses import dataclass

import av
import numpy as np

from podcast_assets.core.errors import PodcastAssetsError

SAMPLE_RATE = 16_000
PEAKS = 160
"""Waveform columns drawn on the page."""


class ClipError(PodcastAssetsError):
    """A segment's stored audio clip is damaged or cannot be decoded."""


@dataclass(frozen=True)
class Clip:
    """One segment's stored audio and the figures the review page shows for it."""

    flac: bytes
    sha256: str
    peaks: list[float]
    rms_dbfs: float
    peak_dbfs: float


def _dbfs(value: float) -> float:
    return round(20 * float(np.log10(max(value, 1e-6))), 1)


def make_clip(samples: np.ndarray) -> Clip:
    """Compress float samples in [-1, 1] at 16 kHz (as the recogniser decodes them) to a stored clip."""
    pcm = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
    if not len(pcm):
        pcm = np.zeros(1, dtype=np.float32)
    ints = (pcm * 32767).astype(np.int16)
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="flac") as out:
        stream = out.add_stream("flac", rate=SAMPLE_RATE, layout="mono")
        frame = av.AudioFrame.from_ndarray(ints.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        for packet in (*stream.encode(frame), *stream.encode(None)):
            out.mux(packet)
    flac = buffer.getvalue()
    columns = np.array_split(np.abs(pcm), min(PEAKS, len(pcm)))
    return Clip(
        flac=flac,
        sha256=hashlib.sha256(flac).hexdigest(),
        peaks=[round(float(c.max()), 3) for c in columns],
        rms_dbfs=_dbfs(float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2)))),
        peak_dbfs=_dbfs(float(np.abs(pcm).max())),
    )


def clip_samples(flac: bytes | None, sha256: str | None, *, what: str) -> np.ndarray:
    """The int16 samples of a stored clip; ClipError naming `what` when the bytes are missing, altered
    (their hash no longer matches) or do not decode."""
    fix = "re-materialize the pair's review_entries (its audio is cut again from the podcast; reviewed text is kept)"
    if not flac:
        raise ClipError("has no audio clip stored", path=what, fix=fix)
    if hashlib.sha256(flac).hexdigest() != sha256:
        raise ClipError("audio clip is damaged (its checksum does not match)", path=what, fix=fix)
    try:
        with av.open(io.BytesIO(flac)) as container:
            frames = [f.to_ndarray().reshape(-1) for f in container.decode(audio=0)]
    except (av.error.FFmpegError, ValueError) as exc:
        raise ClipError(f"audio clip does not decode ({type(exc).__name__})", path=what, fix=fix) from exc
    return np.concatenate(frames).astype(np.int16) if frames else np.zeros(0, dtype=np.int16)


def wav_bytes(samples: np.ndarray) -> bytes:
    """A 16 kHz mono 16-bit WAV file, which every browser plays."""
    data = np.asarray(samples, dtype="<i2").tobytes()
    header = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE"
    fmt = b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, SAMPLE_RATE, SAMPLE_RATE * 2, 2, 16)
    return header + fmt + b"data" + struct.pack("<I", len(data)) + data
