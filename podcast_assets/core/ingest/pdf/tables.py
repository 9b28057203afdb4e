"""Tables (captioned, with their cell grid when pymupdf finds one) and display equations."""

from __future__ import annotations

import re

import pymupdf
from wordfreq import zipf_frequency

from podcast_assets.core.ingest.models import Equation, Table
from podcast_assets.core.ingest.pdf.layout import Block, Page, bbox_of, column_of, mostly_inside, union

_EQ_LABEL = re.compile(r"\((\d{1,3}[a-z]?)\)\s*$")


def classify_equations(page: Page, body_size: float) -> None:
    """Mark display equations: short blocks dominated by math characters or math fonts."""
    for block in page.blocks:
        if block.role != "paragraph":
            continue
        text = block.text
        if len(text) > 200 or len(block.lines) > 4:
            continue
        chars = sum(line.chars for line in block.lines)
        math = sum(line.math_chars for line in block.lines)
        words = re.findall(r"[A-Za-z]{3,}", text)
        prose = sum(1 for w in words if zipf_frequency(w.lower(), "en") > 3.0)
        if chars >= 3 and math / chars >= 0.3 and prose <= max(2, len(words) // 3):
            block.role = "equation"
            label = _EQ_LABEL.search(text)
            block.number = label.group(1) if label else None
    labels = [b for b in page.blocks if b.role == "paragraph" and re.fullmatch(r"\(\d{1,3}[a-z]?\)", b.text)]
    equations = [b for b in page.blocks if b.role == "equation"]
    for label in labels:
        centre = (label.bbox.y0 + label.bbox.y1) / 2
        same_row = [e for e in equations if e.bbox.y0 - 3 <= centre <= e.bbox.y1 + 3]
        if same_row:
            target = same_row[0]
            target.number = target.number or label.text.strip("()")
            label.role = "furniture"


def extract_tables(
    pages: list[Page], warnings: list[str]
) -> tuple[list[Table], dict[int, list[pymupdf.Rect]]]:
    tables: list[Table] = []
    regions: dict[int, list[pymupdf.Rect]] = {}
    seen: set[str] = set()
    for page in pages:
        captions = [b for b in page.blocks if b.role == "table_caption" and b.number not in seen]
        if not captions:
            continue
        try:
            found = list(page.page.find_tables().tables)
        except Exception as exc:  # table finding is best effort; the caption is still recorded
            warnings.append(f"table detection failed on page {page.number}: {type(exc).__name__}")
            found = []
        for caption in captions:
            seen.add(caption.number)
            grid = None
            if found:
                grid = min(
                    found,
                    key=lambda t: min(abs(pymupdf.Rect(t.bbox).y0 - caption.bbox.y1),
                                      abs(caption.bbox.y0 - pymupdf.Rect(t.bbox).y1)),
                )
                found.remove(grid)
            number = int(caption.number) if caption.number.isdigit() else _roman(caption.number)
            bbox = pymupdf.Rect(grid.bbox) if grid else None
            if bbox is not None:
                regions.setdefault(page.number, []).append(bbox)
            tables.append(
                Table(
                    id=f"tab-{caption.number}", number=number, caption=caption.text, page=page.number,
                    bbox=bbox_of(bbox) if bbox else None,
                    cells=[[_cell(c) for c in row] for row in grid.extract()] if grid else [],
                    section_id=caption.section_id,
                )
            )
    return tables, regions


def _cell(value: str | None) -> str | None:
    return re.sub(r"\s+", " ", value).strip() if value is not None else None


def _roman(text: str) -> int | None:
    values = {"I": 1, "V": 5, "X": 10, "L": 50}
    total = 0
    for i, ch in enumerate(text.upper()):
        v = values.get(ch)
        if v is None:
            return None
        nxt = values.get(text.upper()[i + 1], 0) if i + 1 < len(text) else 0
        total += -v if v < nxt else v
    return total


def extract_equations(pages: list[Page], covered: dict[int, list[pymupdf.Rect]]) -> list[Equation]:
    """Display equations: vertically adjacent math blocks of one column merged, figure/table text left out."""
    equations: list[Equation] = []
    for page in pages:
        mid = (page.page.rect.x0 + page.page.rect.x1) / 2
        blocks = [
            b for b in page.blocks
            if b.role == "equation"
            and not any(mostly_inside(b.bbox, r) for r in covered.get(page.number, ()))
        ]
        groups: list[list[Block]] = []
        for block in sorted(blocks, key=lambda b: (b.bbox.y0, b.bbox.x0)):
            column = column_of(block.bbox, mid)
            for group in groups:
                span = union(b.bbox for b in group)
                if column_of(span, mid) == column and block.bbox.y0 <= span.y1 + 8:
                    group.append(block)
                    break
            else:
                groups.append([block])
        for group in groups:
            group.sort(key=lambda b: ((b.bbox.y0 + b.bbox.y1) // 8, b.bbox.x0))
            first = min(group, key=lambda b: b.order)
            numbers = [b.number for b in group if b.number]
            equations.append(
                Equation(
                    id=f"eq-p{page.number:02d}-b{first.order:03d}", text=" ".join(b.text for b in group),
                    number=numbers[-1] if numbers else None, page=page.number,
                    bbox=bbox_of(union(b.bbox for b in group)), section_id=first.section_id,
                )
            )
    return equations
