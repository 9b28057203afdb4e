"""The page model: each page's visible text blocks in reading order, with hidden text (invisible, white,
tiny) set aside, running headers and footers marked, and the geometry helpers the other steps share."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import pymupdf
from wordfreq import zipf_frequency

from podcast_assets.core.ingest.models import BBox, HiddenText

_TEXT_FLAGS = pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_CID_FOR_UNKNOWN_UNICODE


_HIDDEN_TEXT_MAX = 300


HiddenReason = Literal["invisible", "white", "tiny"]


_TINY_PT = 2.0


_PAGE_NUMBER = re.compile(r"^(?:page\s*)?\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?$", re.I)


_MATH_CHARS = set("=+−-×·∑∏∫∂∇√∞≤≥≈≠∈∉⊂⊆∪∩∀∃→←↔⇒⇔±∓∝∼≃≡⟨⟩‖|^_/*()[]{}<>") | set(
    "αβγδεζηθικλμνξοπρστυφχψωΓΔΘΛΞΠΣΦΨΩϵϑϕ"
)


_MATH_FONT = re.compile(r"CMMI|CMSY|CMEX|MSBM|MSAM|Math|Symbol|STIX|MTMI|MTSY|rsfs|eufm|CMBSY|LMMath", re.I)


@dataclass
class Line:
    text: str
    plain: str
    bbox: pymupdf.Rect
    size: float
    bold: bool
    math_chars: int
    chars: int


@dataclass(eq=False)
class Block:
    page: int
    order: int
    bbox: pymupdf.Rect
    lines: list[Line]
    text: str = ""
    role: str = "paragraph"
    number: str | None = None
    section_id: str | None = None

    @property
    def size(self) -> float:
        sizes = Counter()
        for line in self.lines:
            sizes[round(line.size * 2) / 2] += line.chars
        return sizes.most_common(1)[0][0]

    @property
    def bold(self) -> bool:
        return all(line.bold for line in self.lines)

    @property
    def atom_id(self) -> str:
        return f"p{self.page:02d}-b{self.order:03d}"


@dataclass
class Page:
    number: int
    page: pymupdf.Page
    blocks: list[Block] = field(default_factory=list)
    hidden: list[HiddenText] = field(default_factory=list)
    visible_chars: int = 0
    _drawings: list[pymupdf.Rect] | None = None

    @property
    def drawings(self) -> list[pymupdf.Rect]:
        """Rectangles of the visible vector drawings (white-filled unstroked backgrounds left out)."""
        if self._drawings is None:
            self._drawings = [
                pymupdf.Rect(d["rect"])
                for d in self.page.get_drawings()
                if d.get("color") is not None or (d.get("fill") is not None and min(d["fill"]) < 0.95)
            ]
        return self._drawings


def bbox_of(r: pymupdf.Rect) -> BBox:
    return BBox(x0=round(r.x0, 2), y0=round(r.y0, 2), x1=round(r.x1, 2), y1=round(r.y1, 2))


def _is_white(color: int) -> bool:
    return all(((color >> shift) & 0xFF) >= 0xE6 for shift in (16, 8, 0))


def _dark_fills(page: pymupdf.Page) -> list[pymupdf.Rect]:
    """Areas painted with a non-white fill or an image: white text on them is visible."""
    areas = [pymupdf.Rect(info["bbox"]) for info in page.get_image_info()]
    for drawing in page.get_drawings():
        fill = drawing.get("fill")
        if fill and min(fill) < 0.85:
            areas.append(pymupdf.Rect(drawing["rect"]))
    return areas


def _hidden_reason(span: dict, page_rect: pymupdf.Rect) -> HiddenReason | None:
    """Why a reader cannot see this span ('invisible', 'tiny'), or None; whiteness is checked later."""
    if span.get("alpha", 255) == 0 or not span.get("char_flags", 16) & (16 | 32):
        return "invisible"
    if not pymupdf.Rect(span["bbox"]).intersects(page_rect):
        return "invisible"
    if span["size"] < _TINY_PT:
        return "tiny"
    return None


def join_lines(lines: list[str]) -> str:
    """Join a block's lines into one paragraph, undoing end-of-line hyphenation of real words."""
    text = ""
    for line in lines:
        line = line.strip()
        if not line:
            continue
        if text.endswith("-") and line[:1].islower():
            head = re.search(r"([A-Za-z]+)-$", text)
            tail = re.match(r"[A-Za-z]+", line)
            if head and tail and zipf_frequency(head.group(1) + tail.group(0), "en") >= 2.0:
                text = text[:-1] + line
                continue
            text += line
        else:
            text = f"{text} {line}" if text else line
    return re.sub(r"\s+", " ", text).strip()


def read_page(page: pymupdf.Page, number: int) -> Page:
    """Visible text blocks in reading order, and the hidden spans set aside."""
    result = Page(number=number, page=page)
    page_rect = page.rect
    dark_areas: list[pymupdf.Rect] | None = None
    raw_blocks = page.get_text("dict", flags=_TEXT_FLAGS)["blocks"]
    blocks: list[Block] = []
    for raw in raw_blocks:
        if raw.get("type") != 0:
            continue
        lines: list[Line] = []
        for raw_line in raw["lines"]:
            if abs(raw_line["dir"][0] - 1.0) > 0.01:  # rotated text: margin stamps, axis labels
                continue
            parts: list[str] = []
            plain: list[str] = []
            sizes: Counter[float] = Counter()
            bold_chars = math_chars = chars = 0
            rect = pymupdf.Rect()
            for span in raw_line["spans"]:
                text = span["text"].replace("\xa0", " ")
                if not text.strip():
                    parts.append(text)
                    continue
                reason = _hidden_reason(span, page_rect)
                if reason is None and _is_white(span["color"]):
                    if dark_areas is None:
                        dark_areas = _dark_fills(page)
                    box = pymupdf.Rect(span["bbox"])
                    centre = pymupdf.Point((box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2)
                    if not any(centre in area for area in dark_areas):
                        reason = "white"
                if reason is not None:
                    _add_hidden(result.hidden, number, text, reason)
                    continue
                n = len(text.strip())
                parts.append(text)
                plain.append(" " if span["flags"] & 1 else text)
                sizes[span["size"]] += n
                chars += n
                if span["flags"] & 16 or re.search(r"bold|black|heavy|semibold|\.B$|-B$", span["font"], re.I):
                    bold_chars += n
                if _MATH_FONT.search(span["font"]):
                    math_chars += n
                else:
                    math_chars += sum(c in _MATH_CHARS for c in text)
                rect |= pymupdf.Rect(span["bbox"])
            if chars == 0:
                continue
            lines.append(
                Line(
                    text="".join(parts).strip(),
                    plain=re.sub(r"\s+", " ", "".join(plain)).strip(),
                    bbox=rect,
                    size=sizes.most_common(1)[0][0],
                    bold=bold_chars >= 0.8 * chars,
                    math_chars=math_chars,
                    chars=chars,
                )
            )
        if not lines:
            continue
        rect = pymupdf.Rect()
        for line in lines:
            rect |= line.bbox
        text = join_lines([ln.text for ln in lines])
        block = Block(page=number, order=0, bbox=rect, lines=lines, text=text)
        result.visible_chars += sum(line.chars for line in lines)
        blocks.append(block)
    result.blocks = _reading_order(blocks, page_rect)
    for i, block in enumerate(result.blocks, start=1):
        block.order = i
    return result


def _add_hidden(hidden: list[HiddenText], page: int, text: str, reason: HiddenReason) -> None:
    """Record a hidden span, merging it into the previous record when it continues it."""
    last = hidden[-1] if hidden else None
    if last and last.page == page and last.reason == reason and len(last.text) < _HIDDEN_TEXT_MAX:
        last.text = (last.text + " " + text.strip())[:_HIDDEN_TEXT_MAX]
    else:
        hidden.append(HiddenText(page=page, text=text.strip()[:_HIDDEN_TEXT_MAX], reason=reason))


def _reading_order(blocks: list[Block], page_rect: pymupdf.Rect) -> list[Block]:
    """Sort blocks for a one- or two-column page: full-width blocks split the page into bands,
    and inside a band the left column is read before the right one."""
    mid = (page_rect.x0 + page_rect.x1) / 2
    ordered: list[Block] = []
    band: list[Block] = []

    def flush() -> None:
        band.sort(key=lambda b: (0 if b.bbox.x1 <= mid + 10 else 1, b.bbox.y0, b.bbox.x0))
        ordered.extend(band)
        band.clear()

    for block in sorted(blocks, key=lambda b: (b.bbox.y0, b.bbox.x0)):
        if block.bbox.x0 < mid - 10 and block.bbox.x1 > mid + 10:
            flush()
            ordered.append(block)
        else:
            band.append(block)
    flush()
    return ordered


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", text.lower())).strip()


def strip_number(text: str) -> str:
    return re.sub(r"^(?:\d+(?:\.\d+)*|[IVX]+|[A-Z](?:\.\d+)*)\.?\s+", "", text.strip())


def drop_page_furniture(pages: list[Page]) -> None:
    """Drop running headers/footers (repeated in the margins across pages) and bare page numbers."""
    def margin(block: Block, page: Page) -> bool:
        h = page.page.rect.height
        return block.bbox.y1 < 0.1 * h or block.bbox.y0 > 0.9 * h

    def key(text: str) -> str:
        return re.sub(r"\d+", "#", norm(text))

    seen: Counter[str] = Counter()
    for page in pages:
        seen.update({key(b.text) for b in page.blocks if margin(b, page)})
    threshold = max(2, round(0.3 * len(pages)))
    for page in pages:
        for block in page.blocks:
            if margin(block, page) and (seen[key(block.text)] >= threshold or _PAGE_NUMBER.match(block.text)):
                block.role = "furniture"


def dominant_font_size(pages: list[Page]) -> float:
    sizes: Counter[float] = Counter()
    for page in pages:
        for block in page.blocks:
            for line in block.lines:
                sizes[round(line.size * 2) / 2] += line.chars
    return sizes.most_common(1)[0][0] if sizes else 10.0


def column_of(rect: pymupdf.Rect, mid: float) -> str:
    if rect.x1 <= mid + 10:
        return "left"
    return "right" if rect.x0 >= mid - 10 else "full"


def union(rects: Iterable[pymupdf.Rect]) -> pymupdf.Rect:
    union = pymupdf.Rect()
    for rect in rects:
        union |= rect
    return union


def mostly_inside(inner: pymupdf.Rect, outer: pymupdf.Rect) -> bool:
    area = inner.get_area()
    return area > 0 and (inner & outer).get_area() >= 0.6 * area
