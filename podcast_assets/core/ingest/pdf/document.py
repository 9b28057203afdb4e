"""The whole extraction, step by step, from an opened PDF to its DocumentGraph (run in the child process)."""

from __future__ import annotations

from pathlib import Path

import pymupdf

from podcast_assets.core.errors import PdfError
from podcast_assets.core.ingest.keyphrases import extract_key_concepts
from podcast_assets.core.ingest.models import DocumentGraph
from podcast_assets.core.ingest.pdf.atoms import extract_atoms
from podcast_assets.core.ingest.pdf.figures import classify_captions, extract_figures
from podcast_assets.core.ingest.pdf.front import ABSTRACT_LABEL, find_abstract, find_authors, find_title
from podcast_assets.core.ingest.pdf.layout import (
    Page,
    dominant_font_size,
    drop_page_furniture,
    norm,
    read_page,
    strip_number,
)
from podcast_assets.core.ingest.pdf.sections import (
    REFERENCE_HEADINGS,
    assign_sections,
    build_sections,
    font_headings,
    reference_heading,
    toc_headings,
)
from podcast_assets.core.ingest.pdf.tables import classify_equations, extract_equations, extract_tables
from podcast_assets.core.storage import sha256_file

EXTRACTOR_VERSION = "1"


def require_text_layer(pages: list[Page], min_chars_per_page: int) -> int:
    """The visible characters of the pages; PdfError when they average under `min_chars_per_page` (a scan)."""
    total_chars = sum(p.visible_chars for p in pages)
    if total_chars / len(pages) < min_chars_per_page:
        raise PdfError(
            f"no text layer (scanned PDF?): {total_chars} visible characters on {len(pages)} page(s)",
            fix="run OCR first, e.g. `ocrmypdf in.pdf out.pdf`, and add the OCRed file",
        )
    return total_chars


def read_text_layer(path: Path, min_chars_per_page: int) -> int:
    """The paper's check before anything is spent on its pair: its pages read (no figures, sections or
    concepts) and its text layer required. Returns the visible characters; runs in the child process."""
    with pymupdf.open(path) as doc:
        return require_text_layer(
            [read_page(page, i) for i, page in enumerate(doc, start=1)], min_chars_per_page
        )


def read_document(path: Path, min_chars_per_page: int) -> tuple[DocumentGraph, dict[str, bytes]]:
    """Everything that reads the PDF content; runs in the child process."""
    warnings: list[str] = []
    with pymupdf.open(path) as doc:
        pages = [read_page(page, i) for i, page in enumerate(doc, start=1)]
        require_text_layer(pages, min_chars_per_page)
        empty = [str(p.number) for p in pages if p.visible_chars < 20]
        if empty:
            warnings.append(f"page(s) {', '.join(empty)} have no text layer")
        hidden = [h for p in pages for h in p.hidden]
        if hidden:
            warnings.append(
                f"{len(hidden)} hidden text span(s) (invisible, white or tiny) excluded on page(s) "
                + ", ".join(str(n) for n in sorted({h.page for h in hidden}))
            )

        drop_page_furniture(pages)
        body_size = dominant_font_size(pages)
        classify_captions(pages)
        for page in pages:
            classify_equations(page, body_size)

        title, title_blocks = find_title(doc, pages[0])
        if not title:
            warnings.append("no title found")
        authors = find_authors(doc, pages[0], title_blocks)
        for block in title_blocks:
            block.role = "title"

        headings = toc_headings(doc, pages, title)
        section_source = "toc" if headings else "none"
        if not headings:
            headings = font_headings(pages, body_size, {id(b) for b in title_blocks})
            section_source = "fonts" if headings else "none"
            if headings:
                warnings.append("no PDF outline; sections guessed from fonts and numbering")
        headings += reference_heading(pages, headings)
        if not headings:
            warnings.append("no sections found")
        sections = build_sections(headings)
        assign_sections(pages, headings, sections)

        abstract_blocks = find_abstract(pages, body_size)
        for block in abstract_blocks:
            block.role = "abstract"
        abstract = " ".join(ABSTRACT_LABEL.sub("", b.text) for b in abstract_blocks)
        if not abstract:
            warnings.append("no abstract found")
        if abstract_blocks and abstract_blocks[0].page == 1:
            start = abstract_blocks[0].order
            for block in pages[0].blocks:
                if block.order < start and block.role == "paragraph" and block.section_id is None:
                    block.role = "front"

        figures, images, figure_regions = extract_figures(pages, body_size, warnings)
        tables, table_regions = extract_tables(pages, warnings)
        covered = {n: figure_regions.get(n, []) + table_regions.get(n, []) for n in range(1, len(pages) + 1)}
        equations = extract_equations(pages, covered)

        reference_ids = {s.id for s in sections if norm(strip_number(s.title)) in REFERENCE_HEADINGS}
        atoms = extract_atoms(pages, body_size, figure_regions, table_regions, reference_ids, sections)
        by_section: dict[str, list[str]] = {}
        for atom in atoms:
            if atom.section_id:
                by_section.setdefault(atom.section_id, []).append(atom.id)
        for section in sections:
            section.atom_ids = by_section.get(section.id, [])

        key_concepts = extract_key_concepts(atoms, title=title, abstract=abstract)
        if len(key_concepts) < 10:
            warnings.append(f"only {len(key_concepts)} key concepts found")
        graph = DocumentGraph(
            pdf_sha256=sha256_file(path),
            extractor_version=EXTRACTOR_VERSION,
            page_count=len(pages),
            title=title,
            authors=authors,
            abstract=abstract,
            sections=sections,
            section_source=section_source,
            atoms=atoms,
            figures=figures,
            tables=tables,
            equations=equations,
            key_concepts=key_concepts,
            hidden_text=hidden,
            warnings=warnings,
        )
    return graph, images


def attach_figure_images(graph: DocumentGraph, image_paths: dict[str, str]) -> DocumentGraph:
    """Set each figure's image_path from {figure_id: stored path}; returns the graph."""
    for figure in graph.figures:
        if figure.id in image_paths:
            figure.image_path = image_paths[figure.id]
    return graph
