"""What a media file really holds, read with PyAV (the libraries ffprobe is built on): the rendered file is
trusted only after this reads it to its end (reliability fact 9: a killed render leaves a tiny, unplayable
file behind)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from podcast_assets.core.errors import VideoError


@dataclass(frozen=True)
class MediaProbe:
    video_seconds: float
    audio_seconds: float
    width: int
    height: int
    fps: float
    frames: int
    codec: str
    size_bytes: int


def _length(ends: dict[int, float], starts: dict[int, float], index: int) -> float:
    return max(0.0, ends.get(index, 0.0) - starts.get(index, 0.0))


def probe(path: Path) -> MediaProbe:
    """The video and audio streams' lengths (from the first packet's start to the last packet's end, every
    packet read), the picture size, the frame rate and the number of video packets. Raises VideoError naming
    the file when it does not open, lacks a video or an audio stream, or holds no packets."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video or not container.streams.audio:
                raise VideoError("the file lacks a video or an audio stream", path=path,
                                 fix="render it again")  # fmt: skip
            video, audio = container.streams.video[0], container.streams.audio[0]
            starts: dict[int, float] = {}
            ends: dict[int, float] = {}
            frames = 0
            for packet in container.demux(video, audio):
                if packet.pts is None or packet.time_base is None:
                    continue
                begin = float(packet.pts * packet.time_base)
                end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
                i = packet.stream.index
                starts[i] = min(starts.get(i, begin), begin)
                ends[i] = max(ends.get(i, end), end)
                frames += packet.stream.index == video.index
            width, height = video.codec_context.width, video.codec_context.height
            fps = float(video.average_rate or video.guessed_rate or 0)
            codec = video.codec_context.name
            v_len, a_len = _length(ends, starts, video.index), _length(ends, starts, audio.index)
    except av.error.FFmpegError as exc:
        raise VideoError(f"not a readable media file ({exc})", path=path, fix="render it again") from exc
    if frames == 0 or a_len == 0:
        raise VideoError("the file holds no video frames or no audio", path=path, fix="render it again")
    return MediaProbe(
        video_seconds=round(v_len, 3),
        audio_seconds=round(a_len, 3),
        width=width,
        height=height,
        fps=round(fps, 3),
        frames=frames,
        codec=codec,
        size_bytes=Path(path).stat().st_size,
    )


def frame_at(path: Path, seconds: float) -> np.ndarray:
    """The decoded video frame on screen at `seconds` (RGB, height × width × 3)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        container.seek(int(max(0.0, seconds - 2.0) / stream.time_base), stream=stream, backward=True)
        last = None
        for frame in container.decode(stream):
            if frame.time is not None and frame.time > seconds + 1e-6:
                break
            last = frame
        if last is None:
            raise VideoError(f"no frame at {seconds:.2f} s", path=path, fix="render it again")
        return last.to_ndarray(format="rgb24")
