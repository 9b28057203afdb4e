"""Sections: headings from the PDF outline (located in the text) or, without one, from fonts and numbering;
then every block is given the section it falls in."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pymupdf

from podcast_assets.core.ingest.models import Section
from podcast_assets.core.ingest.pdf.layout import Block, Page, norm, strip_number

_NUMBERED_HEADING = re.compile(r"^(\d{1,2}(?:\.\d{1,2}){0,3})\.?\s+([A-Z].*)$")


_ROMAN_HEADING = re.compile(r"^([IVX]{1,5})\.?\s+([A-Z].*)$")


_NAMED_HEADINGS = {
    "abstract", "introduction", "background", "related work", "method", "methods", "methodology",
    "materials and methods", "experiments", "experimental setup", "results", "discussion",
    "results and discussion", "conclusion", "conclusions", "limitations", "future work",
    "acknowledgments", "acknowledgements", "acknowledgment", "acknowledgement", "references",
    "bibliography", "appendix", "data availability",
}


REFERENCE_HEADINGS = {"references", "bibliography", "literature cited", "works cited"}


@dataclass
class Heading:
    title: str
    level: int
    page: int
    order: float


def toc_headings(doc: pymupdf.Document, pages: list[Page], title: str) -> list[Heading]:
    """Headings from the PDF outline, located in the text (in outline order) so atoms can be assigned."""
    toc = doc.get_toc()
    if len(toc) > 1 and norm(toc[0][1])[:40] == norm(title)[:40]:
        if sum(1 for entry in toc if entry[0] == toc[0][0]) == 1:
            toc = toc[1:]
    if not toc:
        return []
    top = min(entry[0] for entry in toc)
    headings: list[Heading] = []
    position = (1, 0.0)
    for level, text, page_no in toc:
        if not 1 <= page_no <= len(pages):
            continue
        clean = re.sub(r"\s+", " ", text.replace("\xa0", " ")).strip()
        found = _locate_heading(pages, clean, page_no, position)
        position = found or max(position, (page_no, 0.0))
        headings.append(Heading(title=clean, level=level - top + 1, page=position[0], order=position[1]))
    return headings


def _locate_heading(
    pages: list[Page], title: str, page_no: int, after: tuple[int, float]
) -> tuple[int, float] | None:
    """(page, reading-order position) of a heading at or after `after`, near its outline page.

    Outline targets often point just above the heading (or before floats), so the heading may sit a
    page or more later: a run-in heading is accepted on the outline page and the next, a standalone
    heading block up to three pages later.
    """
    target = norm(strip_number(title))
    if not target:
        return None
    for page in pages[page_no - 1 : page_no + 3]:
        near = page.number <= page_no + 1
        for block in page.blocks:
            if block.role not in ("paragraph", "heading") or (page.number, block.order) <= after:
                continue
            text = norm(strip_number(block.text))
            if text.startswith(target[:60]) or (len(text) >= 8 and target.startswith(text)):
                if len(block.text) <= len(title) + 15:
                    block.role = "heading"
                    return page.number, float(block.order)
                if near:
                    return page.number, block.order - 0.5
    return None


def font_headings(pages: list[Page], body_size: float, skip: set[int]) -> list[Heading]:
    """Headings guessed from numbering, known names, bold and font size (when there is no outline)."""
    found: list[tuple[Block, str, int | None]] = []
    for page in pages:
        for block in page.blocks:
            text = block.text.strip()
            if block.role != "paragraph" or id(block) in skip or len(block.lines) > 3 or len(text) > 120:
                continue
            if not re.search(r"[A-Za-z]{3}", text) or text.endswith("."):
                continue
            bigger = block.size >= body_size + 0.8
            numbered = _NUMBERED_HEADING.match(text)
            roman = _ROMAN_HEADING.match(text)
            named = norm(strip_number(text)) in _NAMED_HEADINGS
            if not (bigger or block.bold):
                continue
            short = len(text.split()) <= 14
            if numbered and short and all(int(p) <= 30 for p in numbered.group(1).split(".")):
                found.append((block, text, numbered.group(1).count(".") + 1))
            elif roman and short:
                found.append((block, text, 1))
            elif named:
                found.append((block, text, None))
            elif bigger and block.bold and len(text.split()) <= 10:
                found.append((block, text, None))
    if not found:
        return []
    sizes = sorted({round(b.size) for b, _, level in found if level is None}, reverse=True)
    headings: list[Heading] = []
    for block, text, level in found:
        block.role = "heading"
        if level is None:
            level = min(sizes.index(round(block.size)) + 1, 3) if round(block.size) >= body_size + 0.8 else 1
        headings.append(Heading(title=text, level=min(level, 6), page=block.page, order=float(block.order)))
    return headings


def reference_heading(pages: list[Page], headings: list[Heading]) -> list[Heading]:
    """A "References" heading missing from the outline, found as a short block in the back half."""
    if any(norm(strip_number(h.title)) in REFERENCE_HEADINGS for h in headings):
        return []
    for page in pages[len(pages) // 3 :]:
        for block in page.blocks:
            name = norm(strip_number(block.text))
            if block.role in ("paragraph", "heading") and name in REFERENCE_HEADINGS:
                block.role = "heading"
                return [Heading(block.text.strip(), level=1, page=page.number, order=float(block.order))]
    return []


def build_sections(headings: list[Heading]) -> list[Section]:
    sections: list[Section] = []
    stack: list[Section] = []
    for i, heading in enumerate(sorted(headings, key=lambda h: (h.page, h.order)), start=1):
        while stack and stack[-1].level >= heading.level:
            stack.pop()
        section = Section(
            id=f"s{i:02d}", title=heading.title, level=heading.level, page=heading.page,
            parent_id=stack[-1].id if stack else None,
        )
        sections.append(section)
        stack.append(section)
    return sections


def assign_sections(pages: list[Page], headings: list[Heading], sections: list[Section]) -> None:
    """Give every block the section of the last heading at or before it (sections are in heading order)."""
    ordered = sorted(headings, key=lambda h: (h.page, h.order))
    i = -1
    for page in pages:
        for block in page.blocks:
            here = (page.number, block.order)
            while i + 1 < len(ordered) and (ordered[i + 1].page, ordered[i + 1].order) <= here:
                i += 1
            block.section_id = sections[i].id if i >= 0 else None
