"""Pictures of a video for the UI: the storyboard (the visuals on the audio timeline, above the segment types,
with the spoken figure mentions and the desync points marked) and a contact sheet of rendered frames."""

from __future__ import annotations

import io

import numpy as np

from podcast_assets.core.analysis.profiles import type_colour
from podcast_assets.core.video.models import SyncReport, VisualAlignment

KIND_COLOURS = {"figure": "#3b7dd8", "quote_card": "#f1b042", "title_card": "#8a94a6"}
SEVERITY_COLOURS = {"low": "#f1d042", "medium": "#f08a24", "high": "#d8323b"}


def _label(kind: str, text: str, figure_id: str | None, width_s: float, total_s: float) -> str:
    room = int(140 * width_s / max(total_s, 1.0))  # characters that fit the span at this figure size
    if room < 3:
        return ""
    if kind == "figure":
        text = figure_id or "figure"
    elif kind == "quote_card":
        text = f"“{text}”"
    return text if len(text) <= room else text[: max(1, room - 1)] + "…"


def storyboard_png(
    alignment: VisualAlignment,
    report: SyncReport | None = None,
    *,
    width_px: int = 1000,
    height_px: int = 210,
) -> bytes:
    """A PNG strip: the visual on screen over time (one colour per kind, labelled where there is room), the
    aligned segments' types under it, spoken figure mentions as ticks, and the sync report's desync points
    as coloured markers by severity."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    dpi = 100
    fig = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.075, 0.22, 0.75, 0.66))
    total = alignment.duration or 1.0
    for c in alignment.cues:
        ax.broken_barh([(c.start, c.duration)], (1.1, 0.9), facecolors=KIND_COLOURS[c.kind], edgecolor="white",
                       linewidth=0.4)  # fmt: skip
        label = _label(c.kind, c.text, c.figure_id, c.duration, total)
        if label:
            ax.text(
                c.start + c.duration / 2, 1.55, label, ha="center", va="center", fontsize=5.5, clip_on=True
            )
    for s in alignment.segments:
        ax.broken_barh([(s.start, s.end - s.start)], (0.0, 0.9), facecolors=type_colour(s.type),
                       edgecolor="white", linewidth=0.3)  # fmt: skip
    if report is not None:
        for d in report.desync_points:
            ax.plot(
                [d.time], [2.2], marker="v", color=SEVERITY_COLOURS[d.severity], markersize=4, clip_on=False
            )
    ax.set_xlim(0, total)
    ax.set_ylim(0, 2.35)
    ax.set_yticks([0.45, 1.55], ["segments", "visuals"], fontsize=6)
    ax.tick_params(axis="x", labelsize=6)
    ax.set_xlabel("seconds of audio", fontsize=6, labelpad=1)
    title = alignment.pair_id + (f": sync score {report.sync_score:.0f}" if report is not None else "")
    ax.set_title(title, fontsize=7, loc="left", pad=2)
    handles = [Patch(color=colour, label=kind.replace("_", " ")) for kind, colour in KIND_COLOURS.items()]
    if report is not None and report.desync_points:
        handles += [Patch(color=c, label=f"desync: {s}") for s, c in SEVERITY_COLOURS.items()]
    fig.legend(handles=handles, loc="center right", fontsize=5.5, frameon=False, handlelength=1)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def contact_sheet_png(frames: dict[str, np.ndarray], *, thumb_width: int = 320) -> bytes:
    """Frames side by side (each scaled to `thumb_width`), labelled with their keys."""
    from PIL import Image, ImageDraw

    if not frames:
        raise ValueError("no frames to show")
    thumbs = []
    for label, frame in frames.items():
        image = Image.fromarray(frame)
        height = round(image.height * thumb_width / image.width)
        thumb = image.resize((thumb_width, height), Image.LANCZOS)
        band = Image.new("RGB", (thumb_width, height + 18), "white")
        band.paste(thumb, (0, 18))
        ImageDraw.Draw(band).text((4, 3), label, fill="black")
        thumbs.append(band)
    sheet = Image.new("RGB", (sum(t.width for t in thumbs) + 4 * (len(thumbs) - 1), max(t.height for t in thumbs)),
                      "white")  # fmt: skip
    x = 0
    for t in thumbs:
        sheet.paste(t, (x, 0))
        x += t.width + 4
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG")
    return buffer.getvalue()
