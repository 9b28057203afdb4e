"""Small human-readable previews of records, for asset metadata in the UI."""

from __future__ import annotations

import base64

import pymupdf

from podcast_assets.core.ingest.models import TranscriptionResult


def png_thumbnail(png: bytes, max_px: int = 480) -> bytes:
    """The PNG scaled down by powers of two until its longer side is at most `max_px`."""
    pix = pymupdf.Pixmap(png)
    factor = 0
    while max(pix.width, pix.height) >> factor > max_px and factor < 6:
        factor += 1
    if factor:
        pix.shrink(factor)
    return pix.tobytes("png")


def png_markdown(heading: str, png: bytes, alt: str = "image") -> str:
    """Markdown showing `heading` above the PNG embedded as a data URI (Dagster's UI renders it)."""
    return f"{heading}\n\n![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def transcript_preview_markdown(result: TranscriptionResult, max_segments: int = 12) -> str:
    """The first segments as a timed markdown table."""
    rows = ["| start | end | text |", "|---|---|---|"]
    for seg in result.segments[:max_segments]:
        text = seg.text.strip().replace("|", "\\|")
        rows.append(f"| {_clock(seg.start)} | {_clock(seg.end)} | {text} |")
    if len(result.segments) > max_segments:
        rows.append(f"| … | | {len(result.segments) - max_segments} more segments |")
    return "\n".join(rows)
