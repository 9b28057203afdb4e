"""The pictures of a video: title cards, quote cards and the frame a figure is shown in, drawn with Pillow.

Every picture is `size` (width, height) and shares one layout, scaled to the height so that type stays
readable at any resolution:
- a footer band with the paper's title and the page the visual comes from, and above it a captions band the
  renderer writes the words being said into, frame by frame (`captions_image`);
- title card: the segment's main concept, large and centred, with a small heading above it;
- quote card: the key sentence in quotation marks, the largest type that fits;
- figure: the figure on a white panel (`figure_region`), its caption under it. The panel is drawn by the
  renderer, frame by frame, so the figure can zoom and pan (Ken Burns) while the caption stays still.

Type is DejaVu Sans, which ships with matplotlib (a dependency), so no system font is needed.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
REGULAR = FONT_DIR / "DejaVuSans.ttf"
BOLD = FONT_DIR / "DejaVuSans-Bold.ttf"

BACKGROUND = (20, 24, 31)
PANEL = (250, 250, 247)
TEXT = (236, 238, 242)
MUTED = (150, 158, 170)
ACCENT = (241, 176, 66)
FOOTER_SHARE = 0.08
"""Height of the footer band, as a share of the picture's height."""
CAPTION_SHARE = 0.14
"""Height of a figure's caption band."""
CAPTIONS_SHARE = 0.13
"""Height of the captions band above the footer, where the words being said are written (two lines)."""
MARGIN_SHARE = 0.05
ZOOM_MAX = 1.18
"""The figure panel is drawn this much larger than its region, so zooming in stays sharp."""


def _font(size: int, *, bold: bool = False) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(BOLD if bold else REGULAR), max(8, size))


def wrap(text: str, font: ImageFont.FreeTypeFont, width: float) -> list[str]:
    """`text` in lines no wider than `width` pixels (a word longer than the width gets its own line)."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}".strip()
        if line and font.getlength(candidate) > width:
            lines.append(line)
            line = word
        else:
            line = candidate
    if line:
        lines.append(line)
    return lines


def _fit(
    text: str, box: tuple[int, int], sizes: range, *, bold: bool = False, max_lines: int = 8
) -> tuple[ImageFont.FreeTypeFont, list[str]]:
    """The largest font among `sizes` (descending) whose wrapped lines fit `box`; the smallest, cut with an
    ellipsis, when none does."""
    width, height = box
    for size in sizes:
        font = _font(size, bold=bold)
        lines = wrap(text, font, width)
        if len(lines) <= max_lines and len(lines) * size * 1.3 <= height:
            return font, lines
    font = _font(sizes[-1], bold=bold)
    lines = wrap(text, font, width)
    keep = max(1, min(max_lines, int(height // (sizes[-1] * 1.3))))
    if len(lines) > keep:
        lines = [*lines[: keep - 1], lines[keep - 1].rstrip(".,;:") + " …"]
    return font, lines


def _draw_lines(
    draw: ImageDraw.ImageDraw,
    lines: list[str],
    font: ImageFont.FreeTypeFont,
    center: tuple[float, float],
    fill: tuple[int, int, int],
) -> None:
    step = font.size * 1.3
    top = center[1] - step * len(lines) / 2
    for i, line in enumerate(lines):
        draw.text((center[0], top + i * step + step / 2), line, font=font, fill=fill, anchor="mm")


def _footer(image: Image.Image, paper_title: str, page: int | None, label: str = "") -> None:
    w, h = image.size
    band = int(h * FOOTER_SHARE)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, h - band, w, h), fill=(12, 14, 19))
    draw.rectangle((0, h - band, int(w * 0.01), h), fill=ACCENT)
    font = _font(int(band * 0.38))
    right = "  ·  ".join(p for p in (label, f"p. {page}" if page else "") if p)
    right_w = font.getlength(right) if right else 0.0
    margin = int(w * 0.03)
    title_lines = wrap(paper_title, font, w - 3 * margin - right_w)
    title = title_lines[0] + (" …" if len(title_lines) > 1 else "") if title_lines else ""
    draw.text((margin, h - band / 2), title, font=font, fill=MUTED, anchor="lm")
    if right:
        draw.text((w - margin, h - band / 2), right, font=font, fill=TEXT, anchor="rm")


def _content_box(size: tuple[int, int]) -> tuple[int, int, int, int]:
    """(left, top, width, height) of the area above the captions band, inside the margins."""
    w, h = size
    margin = int(h * MARGIN_SHARE)
    return margin, margin, w - 2 * margin, h - int(h * FOOTER_SHARE) - captions_band(size)[1] - 2 * margin


def captions_band(size: tuple[int, int]) -> tuple[int, int]:
    """(top, height) of the captions band: the rows just above the footer."""
    h = size[1]
    band = int(h * CAPTIONS_SHARE)
    return h - int(h * FOOTER_SHARE) - band, band


def captions_image(
    lines: list[list[str]], current: int | None, size: tuple[int, int], speaker: str | None = None
) -> np.ndarray:
    """The captions band (RGB, band height x width) with `lines` (each a list of words) centred, the word at
    index `current` (counted across the lines) in the accent colour, the others in the text colour, and the
    `speaker`'s name, when known, at the band's left."""
    width = size[0]
    _, band = captions_band(size)
    image = Image.new("RGB", (width, band), BACKGROUND)
    draw = ImageDraw.Draw(image)
    font = _font(int(band * 0.34))
    if speaker:
        name_font = _font(int(band * 0.22), bold=True)
        draw.text((int(size[1] * MARGIN_SHARE), band / 2), speaker.upper(), font=name_font, fill=ACCENT, anchor="lm")
    step = band / 2
    space = font.getlength(" ")
    k = 0
    for row, words in enumerate(lines[:2]):
        x = (width - font.getlength(" ".join(words))) / 2
        y = step * row + step / 2 + (step / 2 if len(lines) == 1 else 0)
        for word in words:
            draw.text((x, y), word, font=font, fill=ACCENT if k == current else TEXT, anchor="lm")
            x += font.getlength(word) + space
            k += 1
    return np.asarray(image)


def title_card(
    text: str,
    paper_title: str,
    size: tuple[int, int],
    *,
    heading: str = "",
    page: int | None = None,
    points: list[str] | None = None,
) -> np.ndarray:
    """A dark card with `text` large and centred (and a small `heading` above it): RGB array (h, w, 3). With
    `points`, a slide: the heading and `text` as its title at the top, the points under them as bullets, in the
    largest type at which they all fit (each wrapped, none cut)."""
    image = Image.new("RGB", size, BACKGROUND)
    draw = ImageDraw.Draw(image)
    left, top, width, height = _content_box(size)
    h = size[1]
    head_size = int(h * 0.04)
    if points:
        if heading:
            draw.text((left + width * 0.04, top + height * 0.06), heading.upper(),
                      font=_font(head_size, bold=True), fill=ACCENT, anchor="lm")  # fmt: skip
        title_sizes = range(int(h * 0.07), int(h * 0.035) - 1, -max(1, int(h * 0.005)))
        font, lines = _fit(text, (int(width * 0.92), int(height * 0.2)), title_sizes, bold=True, max_lines=2)
        for i, line in enumerate(lines):
            draw.text((left + width * 0.04, top + height * 0.2 + i * font.size * 1.3), line, font=font, fill=TEXT,
                      anchor="lm")  # fmt: skip
        _bullets(draw, points, (left + int(width * 0.04), top + int(height * 0.36), int(width * 0.92),
                                int(height * 0.62)), h)  # fmt: skip
        _footer(image, paper_title, page)
        return np.asarray(image)
    if heading:
        draw.text((left + width / 2, top + height * 0.22), heading.upper(), font=_font(head_size, bold=True),
                  fill=ACCENT, anchor="mm")  # fmt: skip
    sizes = range(int(h * 0.095), int(h * 0.04) - 1, -max(1, int(h * 0.005)))
    font, lines = _fit(text, (int(width * 0.86), int(height * 0.55)), sizes, bold=True, max_lines=4)
    _draw_lines(draw, lines, font, (left + width / 2, top + height * 0.55), TEXT)
    _footer(image, paper_title, page)
    return np.asarray(image)


def _bullets(draw: ImageDraw.ImageDraw, points: list[str], box: tuple[int, int, int, int], h: int) -> None:
    """`points` as bullets in `box` (left, top, width, height): the largest type from 5.5% of the height down at
    which every point, wrapped, fits; at the smallest, points that do not fit are left out, never cut."""
    left, top, width, height = box
    indent = 0
    for size in range(int(h * 0.055), max(8, int(h * 0.028)) - 1, -max(1, int(h * 0.004))):
        font = _font(size)
        indent = font.getlength("•  ")
        wrapped = [wrap(p, font, width - indent) for p in points]
        needed = sum(len(w) * size * 1.3 for w in wrapped) + (len(points) - 1) * size * 0.6
        if needed <= height:
            break
    y = top
    for lines in wrapped:
        block = len(lines) * font.size * 1.3
        if y + block > top + height:
            break
        draw.text((left, y), "•", font=font, fill=ACCENT, anchor="lt")
        for i, line in enumerate(lines):
            draw.text((left + indent, y + i * font.size * 1.3), line, font=font, fill=TEXT, anchor="lt")
        y += block + font.size * 0.6


def quote_card(text: str, paper_title: str, size: tuple[int, int], *, page: int | None = None) -> np.ndarray:
    """A card with the quote in the largest type that fits, under a large opening quotation mark."""
    image = Image.new("RGB", size, BACKGROUND)
    draw = ImageDraw.Draw(image)
    left, top, width, height = _content_box(size)
    h = size[1]
    draw.text((left + width * 0.06, top + height * 0.02), "“", font=_font(int(h * 0.2), bold=True),
              fill=ACCENT, anchor="lt")  # fmt: skip
    sizes = range(int(h * 0.065), int(h * 0.028) - 1, -max(1, int(h * 0.004)))
    font, lines = _fit(text, (int(width * 0.8), int(height * 0.72)), sizes, max_lines=9)
    _draw_lines(draw, lines, font, (left + width / 2, top + height * 0.56), TEXT)
    _footer(image, paper_title, page, label="key finding")
    return np.asarray(image)


def figure_region(size: tuple[int, int]) -> tuple[int, int, int, int]:
    """(left, top, width, height) of the white panel a figure is shown in."""
    left, top, width, height = _content_box(size)
    return left, top, width, height - int(size[1] * CAPTION_SHARE)


def figure_frame(
    caption: str, paper_title: str, size: tuple[int, int], *, label: str, page: int | None
) -> np.ndarray:
    """The still parts of a figure's frame: background, an empty panel, the caption and the footer."""
    image = Image.new("RGB", size, BACKGROUND)
    draw = ImageDraw.Draw(image)
    left, top, width, height = figure_region(size)
    draw.rectangle((left, top, left + width - 1, top + height - 1), fill=PANEL)
    caption_box = (int(width * 0.94), int(size[1] * CAPTION_SHARE * 0.9))
    sizes = range(int(size[1] * 0.032), int(size[1] * 0.022) - 1, -1)
    font, lines = _fit(caption, caption_box, sizes, max_lines=3)
    _draw_lines(draw, lines, font, (left + width / 2, top + height + size[1] * CAPTION_SHARE / 2), TEXT)
    _footer(image, paper_title, page, label=label)
    return np.asarray(image)


def figure_panel(figure: Image.Image, region: tuple[int, int]) -> Image.Image:
    """The figure fitted (aspect kept) and centred on a white panel ZOOM_MAX times the region's size."""
    pw, ph = int(region[0] * ZOOM_MAX), int(region[1] * ZOOM_MAX)
    panel = Image.new("RGB", (pw, ph), PANEL)
    pad = 0.04
    scale = min(pw * (1 - 2 * pad) / figure.width, ph * (1 - 2 * pad) / figure.height)
    fw, fh = max(1, round(figure.width * scale)), max(1, round(figure.height * scale))
    panel.paste(figure.resize((fw, fh), Image.LANCZOS), ((pw - fw) // 2, (ph - fh) // 2))
    return panel


def load_figure(path: Path) -> Image.Image:
    """The figure image as RGB (transparency on white). Raises OSError or ValueError when it does not decode."""
    with Image.open(path) as raw:
        raw.load()
        if raw.mode in ("RGBA", "LA", "P"):
            rgba = raw.convert("RGBA")
            image = Image.new("RGB", rgba.size, PANEL)
            image.paste(rgba, mask=rgba.getchannel("A"))
            return image
        return raw.convert("RGB")
