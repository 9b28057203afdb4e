"""Paper PDF -> DocumentGraph (pymupdf, local, no network).

    process.py    validation, the text-layer check and the extraction child process (the entry points below)
    document.py   the extraction, step by step
    layout.py     pages, blocks in reading order, hidden text, page furniture
    front.py      title, authors, abstract
    sections.py   headings and sections
    figures.py    captions and figures rendered to PNG
    tables.py     tables and display equations
    atoms.py      paragraph atoms
"""

from podcast_assets.core.ingest.pdf.document import EXTRACTOR_VERSION, attach_figure_images
from podcast_assets.core.ingest.pdf.process import check_text_layer, extract_document_graph, validate_pdf

__all__ = [
    "EXTRACTOR_VERSION",
    "attach_figure_images",
    "check_text_layer",
    "extract_document_graph",
    "validate_pdf",
]
