"""The PDF extractor with its limits from configs/pipeline.yaml (pymupdf, local, no network)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from podcast_assets.core.ingest.models import DocumentGraph
from podcast_assets.core.ingest.pdf import EXTRACTOR_VERSION, check_text_layer, extract_document_graph


class PdfExtractorResource(dg.ConfigurableResource):
    max_pages: int = 500
    timeout_seconds: float = 300.0
    min_chars_per_page: int = 200

    def cache_identity(self) -> dict[str, object]:
        return {"extractor": EXTRACTOR_VERSION, "min_chars_per_page": self.min_chars_per_page}

    def extract(self, path: Path) -> tuple[DocumentGraph, dict[str, bytes]]:
        return extract_document_graph(
            path,
            max_pages=self.max_pages,
            timeout_s=self.timeout_seconds,
            min_chars_per_page=self.min_chars_per_page,
        )

    def check(self, path: Path) -> int:
        """The paper's cheap check (a usable PDF within the page limit, with a text layer), made before
        anything is spent on its pair; returns the page count or raises PdfError."""
        return check_text_layer(
            path,
            max_pages=self.max_pages,
            timeout_s=self.timeout_seconds,
            min_chars_per_page=self.min_chars_per_page,
        )
