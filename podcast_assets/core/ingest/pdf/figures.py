"""Figures: captions found and numbered, the graphics next to each caption rendered to PNG, and large
uncaptioned images kept as figures of their own."""

from __future__ import annotations

import re

import pymupdf

from podcast_assets.core.ingest.models import Figure
from podcast_assets.core.ingest.pdf.layout import Block, Page, bbox_of
from podcast_assets.core.text import FIGURE_WORD, TABLE_WORD

_FIGURE_DPI = 150


_MAX_FIGURE_PX = 3000


_CAPTION_FIG = re.compile(rf"^{FIGURE_WORD}\s*(\d+)\s*(?:[:.|\u2014\u2013\-]|$)", re.I)


_CAPTION_FIG_LOOSE = re.compile(rf"^{FIGURE_WORD}\s*(\d+)\b", re.I)


_CAPTION_TAB = re.compile(rf"^{TABLE_WORD}\s*(\d+|[IVXL]+)\b\s*(?:[:.|\u2014\u2013\-]|$)", re.I)


_CAPTION_TAB_LOOSE = re.compile(rf"^{TABLE_WORD}\s*(\d+|[IVXL]+)\b", re.I)


def classify_captions(pages: list[Page]) -> None:
    for page in pages:
        for block in page.blocks:
            if block.role != "paragraph":
                continue
            first_bold = block.lines[0].bold
            for role, strict, loose in (
                ("figure_caption", _CAPTION_FIG, _CAPTION_FIG_LOOSE),
                ("table_caption", _CAPTION_TAB, _CAPTION_TAB_LOOSE),
            ):
                match = strict.match(block.text) or (first_bold and loose.match(block.text))
                if match:
                    block.role = role
                    block.number = match.group(1)
                    break


def _graphics(page: Page) -> list[pymupdf.Rect]:
    """Images and drawings on the page, leaving out page-size backgrounds and the header/footer bands."""
    rect = page.page.rect
    rects = [pymupdf.Rect(info["bbox"]) for info in page.page.get_image_info()] + page.drawings
    return [
        r & rect for r in rects
        if r.get_area() < 0.9 * rect.get_area() and r.y1 > 0.07 * rect.height and r.y0 < 0.93 * rect.height
        and r.intersects(rect)
    ]


def _is_prose(block: Block, body_size: float) -> bool:
    return (
        block.role in ("paragraph", "heading")
        and len(block.text) >= 80
        and abs(block.size - body_size) <= 1.5
    )


def _figure_region(page: Page, caption: Block, body_size: float) -> pymupdf.Rect | None:
    """The graphics next to a caption: above it (usual), else below it, up to the neighbouring prose."""
    page_rect = page.page.rect
    mid = (page_rect.x0 + page_rect.x1) / 2
    if caption.bbox.x1 <= mid + 10:
        x0, x1 = page_rect.x0, mid + 10
    elif caption.bbox.x0 >= mid - 10:
        x0, x1 = mid - 10, page_rect.x1
    else:
        x0, x1 = page_rect.x0, page_rect.x1
    prose = [
        b for b in page.blocks
        if b is not caption
        and (_is_prose(b, body_size) or b.role in ("figure_caption", "table_caption"))
        and b.bbox.x1 > x0 + 20 and b.bbox.x0 < x1 - 20
    ]
    graphics = [g for g in _graphics(page) if g.x1 > x0 + 5 and g.x0 < x1 - 5]
    above_limit = max((b.bbox.y1 for b in prose if b.bbox.y1 <= caption.bbox.y0 + 1), default=page_rect.y0)
    below_limit = min((b.bbox.y0 for b in prose if b.bbox.y0 >= caption.bbox.y1 - 1), default=page_rect.y1)
    for lo, hi in ((above_limit, caption.bbox.y0 + 2), (caption.bbox.y1 - 2, below_limit)):
        inside = [g for g in graphics if g.y0 >= lo - 2 and g.y1 <= hi + 2 and g.height + g.width > 4]
        if not inside:
            continue
        region = pymupdf.Rect()
        for g in inside:
            region |= g
        for block in page.blocks:
            if block.role in ("paragraph", "equation") and not _is_prose(block, body_size):
                if block.bbox.y0 >= lo - 2 and block.bbox.y1 <= hi + 2 and block.bbox.intersects(
                    pymupdf.Rect(region.x0 - 20, region.y0 - 20, region.x1 + 20, region.y1 + 20)
                ):
                    region |= block.bbox
        if region.height >= 20 and region.width >= 20:
            return region & page_rect
    return None


def _render(page: pymupdf.Page, clip: pymupdf.Rect) -> tuple[bytes, int, int]:
    dpi = _FIGURE_DPI
    longest = max(clip.width, clip.height) / 72 * dpi
    if longest > _MAX_FIGURE_PX:
        dpi = int(dpi * _MAX_FIGURE_PX / longest)
    pix = page.get_pixmap(clip=clip, dpi=dpi)
    return pix.tobytes("png"), pix.width, pix.height


def extract_figures(
    pages: list[Page], body_size: float, warnings: list[str]
) -> tuple[list[Figure], dict[str, bytes], dict[int, list[pymupdf.Rect]]]:
    figures: list[Figure] = []
    images: dict[str, bytes] = {}
    regions: dict[int, list[pymupdf.Rect]] = {}
    seen: set[int] = set()
    missing: list[str] = []
    for page in pages:
        for block in page.blocks:
            if block.role != "figure_caption" or int(block.number) in seen:
                continue
            number = int(block.number)
            seen.add(number)
            region = _figure_region(page, block, body_size)
            if region is None:
                missing.append(str(number))
                clip = block.bbox
            else:
                clip = region
                regions.setdefault(page.number, []).append(region)
            png, width, height = _render(page.page, clip)
            fig_id = f"fig-{number}"
            images[fig_id] = png
            figures.append(
                Figure(
                    id=fig_id, number=number, caption=block.text, page=page.number, bbox=bbox_of(clip),
                    image_path="", width_px=width, height_px=height, section_id=block.section_id,
                )
            )
        page_area = page.page.rect.get_area()
        n = 0
        for info in page.page.get_image_info():
            rect = pymupdf.Rect(info["bbox"]) & page.page.rect
            if rect.is_empty or rect.get_area() < 0.08 * page_area:
                continue
            if any(rect.intersects(r) for r in regions.get(page.number, [])):
                continue
            n += 1
            png, width, height = _render(page.page, rect)
            fig_id = f"img-p{page.number}-{n}"
            images[fig_id] = png
            regions.setdefault(page.number, []).append(rect)
            figures.append(
                Figure(
                    id=fig_id, page=page.number, bbox=bbox_of(rect), image_path="", width_px=width,
                    height_px=height, section_id=_section_at(page, rect),
                )
            )
    if missing:
        numbers = ", ".join(missing)
        warnings.append(f"no graphics found next to the caption of figure(s) {numbers}; caption rendered")
    return figures, images, regions


def _section_at(page: Page, rect: pymupdf.Rect) -> str | None:
    before = [b for b in page.blocks if b.bbox.y0 <= rect.y0 and b.section_id]
    return before[-1].section_id if before else (page.blocks[0].section_id if page.blocks else None)
