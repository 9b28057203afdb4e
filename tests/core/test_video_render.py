"""The renderer (core/video/render.py, cards.py, probe.py) on a small synthetic podcast: a real MP4 is written,
read back, and its frames are compared with the pictures they should show."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
import wave
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw

from podcast_assets.core.config import VideoSettings
from podcast_assets.core.errors import VideoError
from podcast_assets.core.video import cards
from podcast_assets.core.video.alignment import align_visuals
from podcast_assets.core.video.probe import frame_at, probe
from podcast_assets.core.video.render import MAX_AV_GAP_S, motion_box, render_video, video_chapters
from tests.core.test_video_alignment import synthetic_case

SMALL = VideoSettings(width=320, height=180, fps=10, fade_seconds=0.3, preset="ultrafast")


def tone_wav(path: Path, seconds: float, rate: int = 16000) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.3 * np.sin(2 * np.pi * 220 * t) * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return path


def pattern_png(path: Path, seed: int) -> Path:
    """A figure-like picture: coloured bars and a grid, different for each seed."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (400, 260), "white")
    draw = ImageDraw.Draw(image)
    for i in range(8):
        height = int(rng.integers(30, 220))
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        draw.rectangle((20 + i * 46, 240 - height, 56 + i * 46, 240), fill=colour)
    for y in range(20, 241, 44):
        draw.line((10, y, 390, y), fill=(120, 120, 120), width=2)
    image.save(path)
    return path


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two pictures in grey, both scaled to 96x54."""

    def grey(x: np.ndarray) -> np.ndarray:
        return np.asarray(
            Image.fromarray(x).convert("L").resize((96, 54), Image.BILINEAR), dtype=float
        ).ravel()

    x, y = grey(a), grey(b)
    if x.std() == 0 or y.std() == 0:
        return 0.0
    return float(np.corrcoef(x, y)[0, 1])


def figure_similarity(
    frame: np.ndarray, figure_png: Path, size: tuple[int, int], motion: str = "none", progress: float = 0.0
) -> float:
    """How much the figure panel of `frame` looks like `figure_png` shown with `motion` at `progress` (0-1)."""
    left, top, w, h = cards.figure_region(size)
    panel = cards.figure_panel(cards.load_figure(figure_png), (w, h))
    expected = panel.resize((w, h), Image.BILINEAR, box=motion_box(motion, progress, panel.size))
    return similarity(frame[top : top + h, left : left + w], np.asarray(expected))


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    root = tmp_path_factory.mktemp("render")
    aligned, transcription, graph = synthetic_case(3)
    alignment = align_visuals(aligned, transcription, graph)
    audio = tone_wav(root / "podcast.wav", transcription.duration)
    figures = {f"fig-{n}": pattern_png(root / f"fig-{n}.png", n) for n in (1, 2, 3)}
    return {"root": root, "alignment": alignment, "graph": graph, "audio": audio, "figures": figures,
            "duration": transcription.duration}  # fmt: skip


def test_motion_zooms_in_and_pans_inside_the_panel():
    panel = (1180, 590)
    boxes = [motion_box("ken_burns", p, panel) for p in (0.0, 0.5, 1.0)]
    widths = [b[2] - b[0] for b in boxes]
    assert widths[0] == pytest.approx(panel[0]) and widths[0] > widths[1] > widths[2]
    assert widths[2] == pytest.approx(panel[0] / cards.ZOOM_MAX)
    pans = [motion_box("slow_pan", p, panel) for p in (0.0, 0.5, 1.0)]
    assert pans[0][0] == 0 and pans[0][0] < pans[1][0] < pans[2][0] and pans[2][2] == pytest.approx(panel[0])
    for b in boxes + pans:
        assert 0 <= b[0] < b[2] <= panel[0] + 1e-6 and 0 <= b[1] < b[3] <= panel[1] + 1e-6


def test_cards_are_readable_at_any_size():
    for size in ((320, 180), (1280, 720)):
        card = cards.title_card(
            "knowledge distillation", "A long paper title " * 8, size, heading="methodology", page=3
        )
        assert card.shape == (size[1], size[0], 3)
        text_pixels = (card.max(axis=2) > 200).mean()  # light type on the dark card
        assert 0.003 < text_pixels < 0.3, size
        slide = cards.title_card("knowledge distillation", "Title", size, heading="methodology", page=3,
                                 points=["a teacher network's soft labels carry what its logits know " * 2] * 4)
        top, height = cards.captions_band(size)
        assert (slide[top : top + height].max(axis=2) > 200).mean() == 0, "bullets keep out of the captions band"
        assert (slide[: top].max(axis=2) > 200).mean() > 0.01, size
        quote = cards.quote_card("word " * 400, "Title", size, page=2)  # far too long: cut, never overflowing
        assert quote.shape == (size[1], size[0], 3)


def test_render_writes_a_whole_mp4_whose_figure_frames_show_the_figure(case):
    out = case["root"] / "video.mp4"
    seen = []
    result = render_video(case["alignment"], case["graph"], case["figures"], case["audio"], out, SMALL,
                          progress=lambda done, total: seen.append((done, total)))  # fmt: skip
    media = probe(out)
    assert media.codec == "h264" and (media.width, media.height) == (320, 180)
    assert abs(media.video_seconds - media.audio_seconds) <= MAX_AV_GAP_S
    assert abs(media.audio_seconds - case["duration"]) <= MAX_AV_GAP_S
    assert result.warnings == [] and result.cues.get("figure") == 1
    assert seen and seen[-1][0] == seen[-1][1] == media.frames
    assert not list(out.parent.glob(".video.mp4.partial-*")), "no partial file left behind"
    with av.open(str(out)) as container:  # a chapter per run of one segment type, end to end
        chapters = [(c["start"] * c["time_base"], c["end"] * c["time_base"], c["metadata"]["title"])
                    for c in container.chapters()]  # fmt: skip
    expected = video_chapters(case["alignment"], case["duration"])
    assert len(chapters) == len(expected) >= 2 and [c[2] for c in chapters] == [e[2] for e in expected]
    assert chapters[0][0] == 0 and all(a[1] == b[0] for a, b in zip(chapters, chapters[1:], strict=False))
    assert abs(float(chapters[-1][1]) - case["duration"]) < 0.01
    [cue] = [c for c in case["alignment"].cues if c.kind == "figure"]
    at = cue.start + SMALL.fade_seconds + 0.15
    frame = frame_at(out, at)
    progress = (at - cue.start) / cue.duration
    scores = {
        fid: figure_similarity(frame, png, (320, 180), cue.motion, progress)
        for fid, png in case["figures"].items()
    }
    assert max(scores, key=scores.get) == cue.figure_id, scores
    assert scores[cue.figure_id] > 0.8, scores
    before = frame_at(out, max(0.0, cue.start - 1.0))  # the card before the mention is not the figure
    assert figure_similarity(before, case["figures"][cue.figure_id], (320, 180)) < 0.5


def test_an_undecodable_figure_becomes_a_title_card_with_a_warning(case):
    broken = case["root"] / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 20)
    figures = {**case["figures"], "fig-2": broken}
    out = case["root"] / "broken.mp4"
    result = render_video(case["alignment"], case["graph"], figures, case["audio"], out, SMALL)
    assert "figure" not in result.cues and result.cues["title_card"] >= 2
    assert len(result.warnings) == 1 and "fig-2" in result.warnings[0] and "title card" in result.warnings[0]
    assert abs(probe(out).video_seconds - probe(out).audio_seconds) <= MAX_AV_GAP_S


def test_a_paper_without_figures_renders_cards_only(case, tmp_path):
    aligned, transcription, graph = synthetic_case(0)
    alignment = align_visuals(aligned, transcription, graph)
    result = render_video(alignment, graph, {}, case["audio"], tmp_path / "cards.mp4", SMALL)
    assert set(result.cues) == {"title_card", "quote_card"} and result.warnings == []


def test_audio_that_does_not_open_names_the_file(case, tmp_path):
    bad = tmp_path / "podcast.mp3"
    bad.write_bytes(b"<html>not audio</html>")
    with pytest.raises(VideoError, match="podcast.mp3"):
        render_video(case["alignment"], case["graph"], case["figures"], bad, tmp_path / "x.mp4", SMALL)
    assert not (tmp_path / "x.mp4").exists()


def test_a_killed_render_leaves_the_previous_video_intact(case, tmp_path):
    """Reliability item 20: SIGKILL mid-render leaves the old file at the final path, byte for byte; the next
    render removes the dead render's partial file."""
    out = tmp_path / "video.mp4"
    out.write_bytes(b"the previous video")
    long_audio = tone_wav(tmp_path / "long.wav", 240.0)
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from podcast_assets.core.config import VideoSettings
        from podcast_assets.core.video.render import render_video
        from tests.core.test_video_alignment import synthetic_case
        from podcast_assets.core.video.alignment import align_visuals
        aligned, transcription, graph = synthetic_case(0)
        alignment = align_visuals(aligned, transcription, graph)
        alignment = alignment.model_copy(update={{"duration": 240.0}})
        alignment.cues[-1].end = 240.0
        settings = VideoSettings(width=640, height=360, fps=12, preset="veryfast")
        render_video(alignment, graph, {{}}, Path({str(long_audio)!r}), Path({str(out)!r}), settings)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[2])
    deadline = time.monotonic() + 120
    partial = None
    while time.monotonic() < deadline and proc.poll() is None:
        found = [
            p for p in tmp_path.glob(".video.mp4.partial-*") if p.is_file() and p.stat().st_size > 20_000
        ]
        if found:
            partial = found[0]
            break
        time.sleep(0.2)
    assert partial is not None, "the render never started writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert out.read_bytes() == b"the previous video"
    assert partial.exists(), "the killed render's partial file is left (and is not the final path)"
    render_video(case["alignment"], case["graph"], case["figures"], case["audio"], out, SMALL)
    assert not partial.exists(), "the next render removed the dead partial"
    assert probe(out).frames > 0


def test_the_words_being_said_are_burned_in_with_the_current_one_highlighted(case, tmp_path):
    from podcast_assets.core.ingest.models import Word
    from podcast_assets.core.video.captions import captions

    said = "the tiles keep memory bounded while the batch grows".split()
    words = [Word(word=w, start=1.0 + 0.4 * i, end=1.0 + 0.4 * i + 0.35, probability=0.9) for i, w in enumerate(said)]
    cues = captions(words, ["guest"] * len(words))
    out = tmp_path / "captioned.mp4"
    render_video(case["alignment"], case["graph"], case["figures"], case["audio"], out, SMALL, captions=cues)
    top, height = cards.captions_band((320, 180))

    def band(t: float) -> np.ndarray:
        return frame_at(out, t)[top : top + height].astype(int)

    def accent(pixels: np.ndarray) -> np.ndarray:  # where the highlighted word is drawn (orange: red high, blue low)
        return (pixels[..., 0] > 180) & (pixels[..., 2] < 120)

    silent, first, later = band(0.5), band(1.15), band(1.0 + 0.4 * 6 + 0.15)
    assert (silent.max(axis=2) > 200).mean() < 0.002, "no caption before the first word"
    assert (first.max(axis=2) > 200).mean() > 0.01, "the caption is written while its words are said"
    columns = [np.flatnonzero(accent(b).any(axis=0)) for b in (first, later)]
    assert all(len(c) for c in columns), "the word being said is highlighted"
    assert columns[1].mean() > columns[0].mean() + 20, "the highlight moves along the line with the speech"
    assert accent(first[:, :40]).any() and not accent(silent[:, :40]).any(), "the speaker's name at the left"
