"""What a file really is, judged from its first bytes: the cheap check that catches an HTML error page, an
image or a text file saved under a paper's or a podcast's name before any parser sees it."""

from __future__ import annotations

from pathlib import Path

HEAD_BYTES = 1024
_BOM_AND_SPACE = b"\xef\xbb\xbf \t\r\n"
_HTML = (b"<!doctype html", b"<html", b"<head", b"<body")
_TEXT_DOCUMENTS = ((b"<?xml", "an XML file"), (b"{", "JSON or other text"), (b"[", "JSON or other text"))
_BINARY_SIGNATURES = (
    (b"\x89png", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"gif8", "a GIF image"),
    (b"pk\x03\x04", "a ZIP archive (or a .docx/.epub)"),
    (b"\x1f\x8b", "a gzip archive"),
)


def read_head(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(HEAD_BYTES)


def text_kind(head: bytes) -> str | None:
    """'an HTML page', 'an XML file', 'JSON or other text', 'plain text', or None when the bytes are not text."""
    stripped = head.lstrip(_BOM_AND_SPACE).lower()
    if stripped.startswith(_HTML) or b"<html" in stripped[:512]:
        return "an HTML page"
    for magic, name in _TEXT_DOCUMENTS:
        if stripped.startswith(magic):
            return name
    printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in head)
    if head and printable / len(head) > 0.95:
        return "plain text"
    return None


def file_kind(head: bytes) -> str:
    """A text kind, a known binary format, or 'random or unknown binary data'."""
    if (kind := text_kind(head)) is not None:
        return kind
    stripped = head.lstrip(_BOM_AND_SPACE).lower()
    return next((name for magic, name in _BINARY_SIGNATURES if stripped.startswith(magic)), "random or unknown binary data")
