"""A visual alignment rendered to an H.264 MP4 with the podcast's audio, with moviepy.

One moviepy `VideoClip` draws every frame from the alignment: the cue on screen at that time (core/video/
cards.py), a figure zooming in (Ken Burns) or panning slowly across its panel, and a cross-fade of
`fade_seconds` into each new cue (from and to black at the ends), and the captions band with the words being
said, the current one highlighted (core/video/captions.py). Still cards are drawn once per cue, a captions band
once per caption and word.
The clip runs exactly as long as the audio; ffmpeg (bundled with imageio-ffmpeg) encodes it, and a chapter marker
per run of one segment type is added by a stream copy (`video_chapters`).

Publishing (reliability facts 9 and 20): the MP4 is written to a hidden partial file beside the final path,
read back with PyAV (core/video/probe.py) to its last packet, checked for equal audio and video lengths, and
only then moved into place. A killed render leaves at most a partial file (removed by the next render once
its writer is gone) and never touches the file at the final path.
"""

from __future__ import annotations

import bisect
import math
import os
import shutil
import tempfile
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from podcast_assets.core.config import VideoSettings
from podcast_assets.core.errors import VideoError
from podcast_assets.core.ingest.models import DocumentGraph
from podcast_assets.core.processes import pid_alive
from podcast_assets.core.video import cards
from podcast_assets.core.video.captions import Caption, speaker_name
from podcast_assets.core.video.models import VisualAlignment, VisualCue
from podcast_assets.core.video.probe import MediaProbe, probe

RENDERER = "moviepy-cards-v3"
"""Changes when a frame would be drawn differently: part of every rendered video's cache key."""
MAX_AV_GAP_S = 0.1
"""The audio and video streams of a published MP4 end within this of each other."""
PAN_ZOOM = 1.08
"""A slow pan shows the figure this much enlarged and moves across it."""
SHOTS_KEPT = 4
CAPTION_HOLD_S = 0.6
"""A caption stays this long after its last word (not into the next caption), so a short one can be read."""

Progress = Callable[[int, int], None]
"""Called with (frames written, frames in total) while encoding."""


@dataclass
class RenderResult:
    probe: MediaProbe
    seconds: float
    cues: dict[str, int]
    warnings: list[str] = field(default_factory=list)


def motion_box(motion: str, progress: float, panel: tuple[int, int]) -> tuple[float, float, float, float]:
    """The part of the figure panel (left, top, right, bottom) on screen at `progress` (0-1) through the cue.
    The panel is ZOOM_MAX times the on-screen region: the whole panel is the figure at rest."""
    pw, ph = panel
    p = min(1.0, max(0.0, progress))
    ease = p * p * (3 - 2 * p)
    if motion == "ken_burns":  # zoom in toward a point a little above the centre
        zoom = 1 + (cards.ZOOM_MAX - 1) * ease
        w, h = pw / zoom, ph / zoom
        left, top = (pw - w) / 2, (ph - h) * 0.4
    elif motion == "slow_pan":  # enlarged, moving from left to right
        w, h = pw / PAN_ZOOM, ph / PAN_ZOOM
        left, top = (pw - w) * ease, (ph - h) / 2
    else:
        w, h, left, top = pw, ph, 0.0, 0.0
    return left, top, left + w, top + h


class _Shot:
    """The pictures of one cue: a still frame, and for a figure the panel that moves inside it."""

    def __init__(
        self, cue: VisualCue, still: np.ndarray, panel: Image.Image | None, region: tuple[int, int, int, int]
    ):
        self.cue, self.still, self.panel, self.region = cue, still, panel, region

    def frame(self, t: float) -> np.ndarray:
        if self.panel is None:
            return self.still
        left, top, w, h = self.region
        progress = (t - self.cue.start) / max(self.cue.duration, 1e-6)
        box = motion_box(self.cue.motion, progress, self.panel.size)
        frame = self.still.copy()
        frame[top : top + h, left : left + w] = np.asarray(self.panel.resize((w, h), Image.BILINEAR, box=box))
        return frame


class _Timeline:
    """Frame at time t: the cue on screen, cross-faded into from the previous one and from/to black."""

    def __init__(self, alignment: VisualAlignment, graph: DocumentGraph, figure_files: dict[str, Path],
                 settings: VideoSettings, duration: float, captions: Sequence[Caption] = ()):  # fmt: skip
        self.cues = sorted(alignment.cues, key=lambda c: c.start)
        if not self.cues:
            raise VideoError(
                f"{alignment.pair_id}: the visual alignment has no cues", fix="materialize visual_alignments"
            )
        self.starts = [c.start for c in self.cues]
        self.size = (settings.width, settings.height)
        self.fade = settings.fade_seconds
        self.duration = duration
        self.graph, self.figure_files = graph, figure_files
        self.figures = {f.id: f for f in graph.figures}
        self.types = {s.id: s.type for s in alignment.segments}
        self.warnings: list[str] = []
        self.shown: Counter[str] = Counter()
        self._shots: OrderedDict[int, _Shot] = OrderedDict()
        self._panels: dict[str, Image.Image | None] = {}
        self.captions = sorted(captions, key=lambda c: c.start)
        self.caption_starts = [c.start for c in self.captions]
        self.band_top = cards.captions_band(self.size)[0]
        self._bands: OrderedDict[tuple[int, int | None], np.ndarray] = OrderedDict()

    def _panel(self, figure_id: str, region: tuple[int, int]) -> Image.Image | None:
        if figure_id not in self._panels:
            path = self.figure_files.get(figure_id)
            try:
                if path is None:
                    raise FileNotFoundError("no image file")
                self._panels[figure_id] = cards.figure_panel(cards.load_figure(path), region)
            except (OSError, ValueError, Image.DecompressionBombError) as exc:
                self.warnings.append(
                    f"{figure_id}: its image {path} could not be decoded ({type(exc).__name__}: {exc}); "
                    "shown as a title card"
                )
                self._panels[figure_id] = None
        return self._panels[figure_id]

    def _build(self, cue: VisualCue) -> _Shot:
        title = self.graph.title
        heading = self.types.get(cue.segment_id or "", "").replace("_", " ")
        if cue.kind == "figure" and cue.figure_id:
            figure = self.figures.get(cue.figure_id)
            label = f"Figure {figure.number}" if figure and figure.number else "Figure"
            region = cards.figure_region(self.size)
            panel = self._panel(cue.figure_id, region[2:])
            if panel is not None:
                self.shown["figure"] += 1
                still = cards.figure_frame(cue.text or label, title, self.size, label=label, page=cue.page)
                return _Shot(cue, still, panel, region)
            self.shown["title_card"] += 1
            return _Shot(cue, cards.title_card(cue.text or label, title, self.size, heading=label, page=cue.page),
                         None, region)  # fmt: skip
        self.shown[cue.kind] += 1
        if cue.kind == "quote_card":
            return _Shot(cue, cards.quote_card(cue.text, title, self.size, page=cue.page), None, (0, 0, 0, 0))
        still = cards.title_card(cue.text or title, title, self.size, heading=heading, page=cue.page, points=cue.points)
        return _Shot(cue, still, None, (0, 0, 0, 0))

    def shot(self, index: int) -> _Shot:
        if index not in self._shots:
            self._shots[index] = self._build(self.cues[index])
            if len(self._shots) > SHOTS_KEPT:
                self._shots.popitem(last=False)
        self._shots.move_to_end(index)
        return self._shots[index]

    def caption(self, t: float) -> np.ndarray | None:
        """The captions band at `t`: the caption being said (held up to CAPTION_HOLD_S past its last word, not
        into the next one), its current word highlighted; None when no caption is due."""
        i = bisect.bisect_right(self.caption_starts, t) - 1
        if i < 0:
            return None
        cue = self.captions[i]
        following = self.caption_starts[i + 1] if i + 1 < len(self.captions) else math.inf
        if t > min(cue.end + CAPTION_HOLD_S, following):
            return None
        key = (i, cue.current(t))
        if key not in self._bands:
            name = speaker_name(cue.speaker) if cue.speaker else None
            self._bands[key] = cards.captions_image([line.split() for line in cue.lines], key[1], self.size, name)
            if len(self._bands) > SHOTS_KEPT * 8:
                self._bands.popitem(last=False)
        return self._bands[key]

    def frame(self, t: float) -> np.ndarray:
        i = max(0, bisect.bisect_right(self.starts, t) - 1)
        image = self.shot(i).frame(t)
        since = t - self.starts[i]
        if self.fade > 0 and i > 0 and since < self.fade:
            a = since / self.fade
            image = (self.shot(i - 1).frame(t) * (1 - a) + image * a).astype(np.uint8)
        band = self.caption(t)
        if band is not None:
            image = image.copy() if not image.flags.writeable or image is self.shot(i).still else image
            image[self.band_top : self.band_top + band.shape[0]] = band
        if self.fade <= 0:
            return image
        edge = min(t, self.duration - t)
        if edge < self.fade:
            image = (image * max(0.0, edge / self.fade)).astype(np.uint8)
        return image


def _progress_logger(progress: Progress | None):
    from proglog import ProgressBarLogger

    class _Logger(ProgressBarLogger):
        def bars_callback(self, bar, attr, value, old_value=None):
            if progress is not None and bar == "frame_index" and attr == "index":
                progress(int(value), int(self.bars[bar].get("total") or 0))

    return _Logger()


def _check_audio(audio: Path) -> None:
    """Refuse a file with no decodable audio before ffmpeg is started on it."""
    try:
        with av.open(str(audio)) as container:
            if not container.streams.audio:
                raise VideoError(
                    "the file has no audio stream", path=audio, fix="give the podcast's audio file"
                )
            next(container.decode(container.streams.audio[0]))
    except (av.error.FFmpegError, StopIteration, OSError) as exc:
        raise VideoError(
            f"the podcast audio does not decode ({exc or 'no audio frames'})",
            path=audio,
            fix="check the audio file (re-ingest the pair if it changed)",
        ) from exc


def partial_path(out: Path) -> Path:
    """Where the render of `out` is written before it is checked (hidden, named by the writer's pid)."""
    return out.with_name(f".{out.name}.partial-{os.getpid()}.mp4")


def remove_dead_partials(out: Path) -> list[Path]:
    """Delete partial files of `out` whose writer is no longer running (a killed render's leftovers)."""
    removed = []
    for p in out.parent.glob(f".{out.name}.partial-*"):
        pid = p.name.rsplit("partial-", 1)[1].split(".", 1)[0].split("-", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def video_chapters(alignment: VisualAlignment, duration: float) -> list[tuple[float, float, str]]:
    """(start s, end s, title) per run of segments of one type ("Key finding"), end to end from 0 to `duration`:
    the MP4's chapter markers, so a player can jump to the methods or the findings."""
    runs: list[list] = []
    for span in sorted(alignment.segments, key=lambda s: s.start):
        title = span.type.replace("_", " ").capitalize()
        if runs and runs[-1][2] == title:
            continue
        runs.append([span.start, None, title])
    if not runs:
        return []
    runs[0][0] = 0.0
    for run, following in zip(runs, runs[1:], strict=False):
        run[1] = following[0]
    runs[-1][1] = duration
    return [(start, end, title) for start, end, title in runs if end > start]


def _add_chapters(path: Path, chapters: Sequence[tuple[float, float, str]]) -> None:
    """Copy the MP4's packets into a file that carries `chapters` (no re-encode) and put it in its place."""
    copy = path.with_name(path.name + ".chapters")
    try:
        with av.open(str(path)) as source, av.open(
            str(copy), "w", format="mp4", options={"movflags": "+faststart"}
        ) as target:
            kept = [s for s in source.streams if s.type in ("video", "audio")]
            streams = {s.index: target.add_stream_from_template(s) for s in kept}
            target.set_chapters([
                {"id": i + 1, "start": round(start * 1000), "end": round(end * 1000),
                 "time_base": Fraction(1, 1000), "metadata": {"title": title}}
                for i, (start, end, title) in enumerate(chapters)
            ])  # fmt: skip
            for packet in source.demux(*kept):
                if packet.dts is not None:
                    packet.stream = streams[packet.stream.index]
                    target.mux(packet)
        os.replace(copy, path)
    finally:
        copy.unlink(missing_ok=True)


def render_video(
    alignment: VisualAlignment,
    graph: DocumentGraph,
    figure_files: dict[str, Path],
    audio: Path,
    out: Path,
    settings: VideoSettings,
    *,
    captions: Sequence[Caption] = (),
    progress: Progress | None = None,
) -> RenderResult:
    """Render `alignment` over `audio` to `out` (see the module docstring). A figure whose image is missing or
    does not decode is shown as a title card with its caption, and a warning says so. Raises VideoError if the
    audio does not open or the written file is not whole; the file at `out` is then left as it was."""
    from moviepy import AudioFileClip, VideoClip

    started = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_dead_partials(out)
    partial = partial_path(out)
    _check_audio(audio)
    sound = AudioFileClip(str(audio))
    try:
        duration = float(sound.duration)
        timeline = _Timeline(alignment, graph, figure_files, settings, duration, captions)
        # whole frames that cover the sound: moviepy renders floor(duration x fps) frames, which can end a frame
        # before the audio does (at 10 fps, 0.1 s: the limit of the check below)
        frames_cover = math.ceil(duration * settings.fps - 1e-9) / settings.fps
        clip = VideoClip(frame_function=timeline.frame, duration=frames_cover).with_audio(sound)
        with tempfile.TemporaryDirectory(
            prefix=f".{out.name}.partial-{os.getpid()}-audio", dir=out.parent
        ) as tmp:
            clip.write_videofile(
                str(partial),
                fps=settings.fps,
                codec="libx264",
                audio_codec="aac",
                audio_bitrate="96k",
                preset=settings.preset,
                threads=settings.threads,
                ffmpeg_params=["-crf", str(settings.crf), "-movflags", "+faststart"],
                pixel_format="yuv420p",
                temp_audiofile_path=tmp,
                logger=_progress_logger(progress),
            )
        chapters = video_chapters(alignment, duration)
        if chapters:
            _add_chapters(partial, chapters)
        media = probe(partial)
        gap = abs(media.video_seconds - media.audio_seconds)
        if gap > MAX_AV_GAP_S or abs(media.audio_seconds - duration) > MAX_AV_GAP_S + 1 / settings.fps:
            raise VideoError(
                f"the written video is not whole: video {media.video_seconds:.2f} s, audio "
                f"{media.audio_seconds:.2f} s, podcast {duration:.2f} s", path=partial, fix="render it again",
            )  # fmt: skip
        os.replace(partial, out)
    finally:
        sound.close()
        partial.unlink(missing_ok=True)
    return RenderResult(
        media, round(time.perf_counter() - started, 3), dict(timeline.shown), timeline.warnings
    )
