"""Audio input checks: probe the header, decode to 16 kHz mono, and refuse files that would fail silently.

Recognisers do not fail on bad audio, they return something: a truncated or mid-file-corrupt MP3
decodes shorter without an error, silence turns into filler words, HTML saved as .mp3 may even be
"probed". Everything here runs before any recognition (or any paid upload) happens.

The length limit (`asr.max_audio_seconds`) holds whatever the header says: a header without a length is
measured from the packets' timestamps (no decoding), and decoding itself stops once more than the limit has
come out, so the memory a file can take is bounded by the limit, not by the file.
"""

from __future__ import annotations

import gc
import itertools
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
DECODE_BLOCK = 500_000
"""Input samples resampled at a time (faster-whisper's grouping, so the samples are the ones it decodes)."""
LENGTH_FIX = "cut the file, or raise asr.max_audio_seconds in the pipeline settings (configs/pipeline.yaml)"


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


def _packet_seconds(
    container: av.container.InputContainer, stream: av.audio.stream.AudioStream, stop_after: float
) -> float | None:
    """The stream's length from its packets' timestamps (demuxed, not decoded), read until it passes
    `stop_after`; None when the packets carry no timing."""
    end = None
    for packet in container.demux(stream):
        if packet.pts is None or not packet.time_base:
            continue
        end = max(end or 0.0, float((packet.pts + (packet.duration or 0)) * packet.time_base))
        if end > stop_after:
            break
    return end


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
        measured = _packet_seconds(container, stream, max_seconds) if duration is None else None
        if measured is not None and measured > max_seconds:
            raise AudioError(
                f"audio is longer than the {max_seconds:.0f} s limit (asr.max_audio_seconds): its header "
                f"gives no length, and its packets' timestamps pass {measured:.0f} s",
                path=path,
                fix=LENGTH_FIX,
            )
    if duration is not None and duration > max_seconds:
        raise AudioError(
            f"audio is {duration:.0f} s long by its header, above the {max_seconds:.0f} s limit "
            "(asr.max_audio_seconds)",
            path=path,
            fix=LENGTH_FIX,
        )
    return info


def decode_audio(path: str | Path, *, max_seconds: float | None = None) -> np.ndarray:
    """The file as float32 mono samples at 16 kHz (as faster-whisper decodes it). With `max_seconds`, decoding
    stops with an AudioError as soon as more than that has come out, whatever the header said: the samples
    are held as 16-bit until the end, so a refused file never takes more than 2 bytes a sample of the
    limit."""
    limit = None if max_seconds is None else int(max_seconds * SAMPLE_RATE)
    resampler = av.audio.resampler.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    blocks: list[np.ndarray] = []
    total = 0
    try:
        with av.open(str(path), mode="r", metadata_errors="ignore") as container:
            for block in _resampled(_grouped(_valid_frames(container.decode(audio=0))), resampler):
                blocks.append(block.to_ndarray().reshape(-1))
                total += len(blocks[-1])
                if limit is not None and total > limit:
                    raise AudioError(
                        f"audio is longer than the {max_seconds:.0f} s limit (asr.max_audio_seconds): "
                        f"decoding stopped after {total / SAMPLE_RATE:.0f} s",
                        path=path,
                        fix=LENGTH_FIX,
                    )
    except (av.error.FFmpegError, OSError) as exc:
        raise AudioError(
            f"audio could not be decoded ({type(exc).__name__})",
            path=path,
            fix="re-download or re-export the audio",
        ) from exc
    finally:
        del resampler
        gc.collect()  # PyAV's resampler objects are freed only by the collector (faster-whisper issue 390)
    samples = np.empty(total, dtype=np.float32)
    at = 0
    blocks.reverse()
    while blocks:  # each 16-bit block is let go once copied, so the copy does not double the memory
        block = blocks.pop()
        samples[at : at + len(block)] = block
        at += len(block)
    samples /= 32768.0
    return samples


def _valid_frames(frames):
    """The decoded frames, skipping those the decoder finds invalid (a damaged stretch decodes shorter)."""
    iterator = iter(frames)
    while True:
        try:
            yield next(iterator)
        except StopIteration:
            return
        except av.error.InvalidDataError:
            continue


def _grouped(frames):
    fifo = av.audio.fifo.AudioFifo()
    for frame in frames:
        frame.pts = None
        fifo.write(frame)
        if fifo.samples >= DECODE_BLOCK:
            yield fifo.read()
    if fifo.samples > 0:
        yield fifo.read()


def _resampled(frames, resampler):
    for frame in itertools.chain(frames, [None]):  # None flushes the resampler
        yield from resampler.resample(frame)


def check_decoded(info: AudioInfo, samples: np.ndarray) -> None:
    """Raise AudioError when decoding came out much shorter than the header claims, or silent. (Too long is
    refused by `probe_audio` from the header or the packets, and by `decode_audio` as it decodes.)"""
    decoded = len(samples) / SAMPLE_RATE
    claimed = info.header_duration
    if claimed is not None and decoded < claimed * MIN_DECODED_RATIO - DECODED_SLACK_SECONDS:
        raise AudioError(
            f"corrupt or truncated: decoded {decoded:.1f} s of the {claimed:.1f} s its header claims",
            path=info.path,
            fix="re-download or re-export the audio; a partial download or a damaged copy is the usual cause",
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
