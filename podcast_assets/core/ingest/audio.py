"""Audio input checks: probe the header, decode to 16 kHz mono, and refuse files that would fail silently.

Recognisers do not fail on bad audio, they return something: a truncated or mid-file-corrupt MP3
decodes shorter without an error, silence turns into filler words, HTML saved as .mp3 may even be
"probed". Everything here runs before any recognition (or any paid upload) happens.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from podcast_assets.core.errors import AudioError
from podcast_assets.core.ingest.sniff import read_head, text_kind

AUDIO_EXTENSIONS = (".mp3", ".wav", ".m4a", ".flac", ".ogg")
SAMPLE_RATE = 16_000

MIN_DECODED_RATIO = 0.9
"""Decoded length / header duration below this is corrupt or truncated (the real MP3s give 1.000)."""
DECODED_SLACK_SECONDS = 1.0
"""Absolute tolerance on top of the ratio, for very short files whose header rounds."""
SILENCE_RMS = 1e-3
"""RMS below -60 dBFS is silence: speech recordings measure around 0.05-0.15 (-26 to -17 dBFS)."""
SILENCE_PEAK = 1e-2
PROBE_PACKETS = 50
"""Packets decoded at probe time to tell audio from bytes that merely look like a stream."""



@dataclass(frozen=True)
class AudioInfo:
    """What the container header says about a file."""

    path: Path
    format: str
    codec: str
    header_duration: float | None
    sample_rate: int
    channels: int
    size_bytes: int


def _not_audio(path: Path, what: str) -> AudioError:
    return AudioError(
        f"not decodable as audio: {what}",
        path=path,
        fix=f"replace it with the podcast's real audio file ({', '.join(AUDIO_EXTENSIONS)}); "
        "a download that saved an error page is a common cause",
    )


def _header_duration(
    container: av.container.InputContainer, stream: av.audio.stream.AudioStream
) -> float | None:
    if container.duration and container.duration > 0:
        return container.duration / av.time_base
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return None


def _decodable_fraction(container: av.container.InputContainer, stream: av.audio.stream.AudioStream) -> float:
    """The share of the first packets that decode to at least one frame."""
    packets = decoded = 0
    for packet in container.demux(stream):
        if packet.size == 0:
            continue
        packets += 1
        try:
            decoded += bool(packet.decode())
        except av.error.FFmpegError:
            pass
        if packets >= PROBE_PACKETS:
            break
    return decoded / packets if packets else 0.0


def probe_audio(path: str | Path, *, max_seconds: float) -> AudioInfo:
    """Read the header and decode a few packets; reject what cannot be podcast audio before full decoding."""
    path = Path(path)
    if not path.is_file():
        raise AudioError("audio file not found", path=path, fix="check the pair folder holds podcast.mp3")
    size = path.stat().st_size
    if size == 0:
        raise AudioError("audio file is empty (0 bytes)", path=path, fix="re-download or re-export the audio")
    if (kind := text_kind(read_head(path))) is not None:
        raise _not_audio(path, f"the file is {kind}, not audio")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise _not_audio(path, f"no known audio format ({type(exc).__name__})") from exc
    with container:
        if not container.streams.audio:
            raise AudioError(
                f"no audio stream in this {container.format.name} file",
                path=path,
                fix="export the audio track (e.g. ffmpeg -i input -vn podcast.mp3)",
            )
        stream = container.streams.audio[0]
        codec = stream.codec_context.name if stream.codec_context else "unknown"
        sample_rate = int(stream.rate or 0)
        duration = _header_duration(container, stream)
        info = AudioInfo(
            path=path,
            format=container.format.name,
            codec=codec,
            header_duration=duration,
            sample_rate=sample_rate,
            channels=int(stream.channels or 0),
            size_bytes=size,
        )
        if sample_rate <= 0 or _decodable_fraction(container, stream) < 0.5:
            raise _not_audio(path, "its bytes do not decode (random data or a badly damaged file)")
    if duration is not None and duration > max_seconds:
        raise AudioError(
            f"audio is {duration:.0f} s long by its header, above the {max_seconds:.0f} s limit",
            path=path,
            fix="raise the transcription max_seconds setting or cut the file",
        )
    return info


def decode_audio(path: str | Path) -> np.ndarray:
    """The whole file as float32 mono samples at 16 kHz."""
    from faster_whisper import decode_audio as fw_decode

    try:
        samples = fw_decode(str(path), sampling_rate=SAMPLE_RATE)
    except (av.error.FFmpegError, OSError) as exc:
        raise AudioError(
            f"audio could not be decoded ({type(exc).__name__})",
            path=path,
            fix="re-download or re-export the audio",
        ) from exc
    return np.asarray(samples, dtype=np.float32)


def check_decoded(info: AudioInfo, samples: np.ndarray, *, max_seconds: float | None = None) -> None:
    """Raise AudioError when decoding came out much shorter than the header claims, or silent."""
    decoded = len(samples) / SAMPLE_RATE
    claimed = info.header_duration
    if claimed is not None and decoded < claimed * MIN_DECODED_RATIO - DECODED_SLACK_SECONDS:
        raise AudioError(
            f"corrupt or truncated: decoded {decoded:.1f} s of the {claimed:.1f} s its header claims",
            path=info.path,
            fix="re-download or re-export the audio; a partial download or a damaged copy is the usual cause",
        )
    if max_seconds is not None and decoded > max_seconds:
        raise AudioError(
            f"audio is {decoded:.0f} s long, above the {max_seconds:.0f} s limit",
            path=info.path,
            fix="raise the transcription max_seconds setting or cut the file",
        )
    if decoded == 0:
        raise AudioError("no speech: the file decodes to no samples", path=info.path, fix="check the export")
    peak = float(np.max(np.abs(samples)))
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    if rms < SILENCE_RMS or peak < SILENCE_PEAK:
        raise AudioError(
            f"no speech: the file is silent (peak {peak:.1e}, RMS {rms:.1e}; speech is around 1e-1)",
            path=info.path,
            fix="check the export: the audio track is empty or muted",
        )
