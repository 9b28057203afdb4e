"""Text atoms: the paper's paragraphs (body, abstract, captions, footnotes, references), each with its page,
box and section; fragments and text inside figures and tables are left out."""

from __future__ import annotations

from typing import Literal

import pymupdf

from podcast_assets.core.ingest.models import Section, TextAtom
from podcast_assets.core.ingest.pdf.layout import Page, bbox_of, mostly_inside

AtomKind = Literal["paragraph", "abstract", "caption", "reference", "footnote"]


def extract_atoms(
    pages: list[Page],
    body_size: float,
    figure_regions: dict[int, list[pymupdf.Rect]],
    table_regions: dict[int, list[pymupdf.Rect]],
    reference_ids: set[str],
    sections: list[Section],
) -> list[TextAtom]:
    """Paragraph atoms (captions, abstract, body, footnotes, references); fragments, figure text dropped."""
    parents = {s.id: s.parent_id for s in sections}

    def in_references(section_id: str | None) -> bool:
        while section_id:
            if section_id in reference_ids:
                return True
            section_id = parents.get(section_id)
        return False

    atoms: list[TextAtom] = []
    for page in pages:
        height = page.page.rect.height
        covered = figure_regions.get(page.number, []) + table_regions.get(page.number, [])
        for block in page.blocks:
            kind: AtomKind
            if block.role in ("figure_caption", "table_caption"):
                kind = "caption"
            elif block.role == "abstract":
                kind = "abstract"
            elif block.role == "paragraph":
                if any(mostly_inside(block.bbox, r) for r in covered):
                    continue
                letters = sum(c.isalpha() for c in block.text)
                if len(block.text) < 25 or len(block.text.split()) < 4 or letters < 0.5 * len(block.text):
                    continue
                if in_references(block.section_id):
                    kind = "reference"
                elif block.size <= body_size - 1 and block.bbox.y0 > 0.7 * height:
                    kind = "footnote"
                else:
                    kind = "paragraph"
            else:
                continue
            atoms.append(
                TextAtom(
                    id=block.atom_id, text=block.text, page=page.number, bbox=bbox_of(block.bbox),
                    section_id=block.section_id, kind=kind,
                )
            )
    return atoms
