"""Paper PDF -> DocumentGraph: validation, then extraction in a child process with a timeout.

pymupdf "succeeds" on useless input (HTML saved as .pdf, silently repaired truncated files, scans
with no text, hidden text), so every such case is checked here and turned into a PdfError that names
the file and says what to do.
"""

from __future__ import annotations

import multiprocessing
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Literal

import pymupdf
from wordfreq import zipf_frequency

from podcast_assets.core.errors import PdfError
from podcast_assets.core.keyphrases import extract_key_concepts
from podcast_assets.core.models import (
    BBox,
    DocumentGraph,
    Equation,
    Figure,
    HiddenText,
    Section,
    Table,
    TextAtom,
)
from podcast_assets.core.storage import sha256_file

EXTRACTOR_VERSION = "1"

_TEXT_FLAGS = pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_CID_FOR_UNKNOWN_UNICODE
_FIGURE_DPI = 150
_MAX_FIGURE_PX = 3000
_HIDDEN_TEXT_MAX = 300
HiddenReason = Literal["invisible", "white", "tiny"]
AtomKind = Literal["paragraph", "abstract", "caption", "reference", "footnote"]
_TINY_PT = 2.0
_REDOWNLOAD = "download the PDF again (e.g. from arXiv or the publisher) and add it to the pair folder"

_CAPTION_FIG = re.compile(r"^(?:figure|fig\.?)\s*(\d+)\s*(?:[:.|\u2014\u2013\-]|$)", re.I)
_CAPTION_FIG_LOOSE = re.compile(r"^(?:figure|fig\.?)\s*(\d+)\b", re.I)
_CAPTION_TAB = re.compile(r"^table\s*(\d+|[IVXL]+)\b\s*(?:[:.|\u2014\u2013\-]|$)", re.I)
_CAPTION_TAB_LOOSE = re.compile(r"^table\s*(\d+|[IVXL]+)\b", re.I)
_PAGE_NUMBER = re.compile(r"^(?:page\s*)?\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?$", re.I)
_NUMBERED_HEADING = re.compile(r"^(\d{1,2}(?:\.\d{1,2}){0,3})\.?\s+([A-Z].*)$")
_ROMAN_HEADING = re.compile(r"^([IVX]{1,5})\.?\s+([A-Z].*)$")
_ABSTRACT_LABEL = re.compile(r"^abstract\s*[—:.\-–]?\s*", re.I)
_EQ_LABEL = re.compile(r"\((\d{1,3}[a-z]?)\)\s*$")
_NAMED_HEADINGS = {
    "abstract", "introduction", "background", "related work", "method", "methods", "methodology",
    "materials and methods", "experiments", "experimental setup", "results", "discussion",
    "results and discussion", "conclusion", "conclusions", "limitations", "future work",
    "acknowledgments", "acknowledgements", "acknowledgment", "acknowledgement", "references",
    "bibliography", "appendix", "data availability",
}
_REFERENCE_HEADINGS = {"references", "bibliography", "literature cited", "works cited"}
_MATH_CHARS = set("=+−-×·∑∏∫∂∇√∞≤≥≈≠∈∉⊂⊆∪∩∀∃→←↔⇒⇔±∓∝∼≃≡⟨⟩‖|^_/*()[]{}<>") | set(
    "αβγδεζηθικλμνξοπρστυφχψωΓΔΘΛΞΠΣΦΨΩϵϑϕ"
)
_MATH_FONT = re.compile(r"CMMI|CMSY|CMEX|MSBM|MSAM|Math|Symbol|STIX|MTMI|MTSY|rsfs|eufm|CMBSY|LMMath", re.I)
_BAD_META_TITLE = re.compile(r"^(untitled|microsoft word|title|document\d*)\b|\.(pdf|docx?|tex|dvi)$", re.I)
_BAD_META_AUTHOR = re.compile(r"^(user|admin|administrator|author|owner|unknown|default|root)$", re.I)
_AFFILIATION = re.compile(
    r"universit|institut|department|school|college|laborator|academy|center|centre|inc\b|ltd|group|@|http",
    re.I,
)


# --------------------------------------------------------------------------- validation


def _looks_like(head: bytes) -> str:
    """What a non-PDF file looks like, judged from its first bytes."""
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if stripped.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in stripped[:512]:
        return "an HTML page (probably a download or login page saved as .pdf)"
    signatures = {
        b"\x89png": "a PNG image",
        b"\xff\xd8\xff": "a JPEG image",
        b"gif8": "a GIF image",
        b"pk\x03\x04": "a ZIP archive (or a .docx/.epub)",
        b"\x1f\x8b": "a gzip archive",
        b"{": "JSON or other text",
        b"<?xml": "an XML file",
    }
    for magic, name in signatures.items():
        if stripped.startswith(magic):
            return name
    printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in head)
    if head and printable / len(head) > 0.95:
        return "plain text"
    return "random or unknown binary data"


def validate_pdf(path: Path, *, max_pages: int = 500) -> int:
    """Fast checks that the file is a usable PDF; returns its page count or raises PdfError."""
    path = Path(path)
    if not path.is_file():
        raise PdfError("file not found", path=path, fix="check the pair folder holds paper.pdf")
    if path.stat().st_size == 0:
        raise PdfError("empty file (0 bytes)", path=path, fix=_REDOWNLOAD)
    with open(path, "rb") as fh:
        head = fh.read(1024)
    if b"%PDF-" not in head:
        raise PdfError(f"not a PDF: it looks like {_looks_like(head)}", path=path, fix=_REDOWNLOAD)
    try:
        doc = pymupdf.open(path, filetype="pdf")
    except Exception as exc:
        raise PdfError(f"cannot be opened as a PDF ({exc})", path=path, fix=_REDOWNLOAD) from exc
    with doc:
        if not doc.is_pdf:
            raise PdfError("not a PDF document", path=path, fix=_REDOWNLOAD)
        if doc.is_repaired:
            raise PdfError(
                "damaged or truncated, pymupdf had to repair it (pages or text may be missing); re-download",
                path=path,
                fix=_REDOWNLOAD,
            )
        if doc.needs_pass:
            raise PdfError(
                "encrypted, password required",
                path=path,
                fix="remove the password (e.g. `qpdf --password=... --decrypt in.pdf out.pdf`) "
                "and add it again",
            )
        pages = doc.page_count
    if pages == 0:
        raise PdfError("the PDF has no pages", path=path, fix=_REDOWNLOAD)
    if pages > max_pages:
        raise PdfError(
            f"{pages} pages, more than the limit of {max_pages}",
            path=path,
            fix="use the paper itself rather than a thesis or proceedings volume, or raise max_pages",
        )
    return pages


# --------------------------------------------------------------------------- public entry points


def extract_document_graph(
    path: Path,
    *,
    max_pages: int = 500,
    timeout_s: float = 300.0,
    min_chars_per_page: int = 200,
) -> tuple[DocumentGraph, dict[str, bytes]]:
    """Validate, then extract the document graph in a child process killed after `timeout_s`.

    Returns the graph (every Figure.image_path is "") and {figure_id: png_bytes}.
    """
    path = Path(path)
    validate_pdf(path, max_pages=max_pages)
    ctx = multiprocessing.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child_main, args=(sender, str(path), min_chars_per_page), daemon=True)
    proc.start()
    sender.close()
    try:
        if not receiver.poll(timeout_s):
            proc.kill()
            raise PdfError(
                f"extraction did not finish within {timeout_s:g} s",
                path=path,
                fix="the PDF is probably malformed; re-save it (e.g. `qpdf in.pdf out.pdf`) "
                "or raise the timeout",
            )
        try:
            message = receiver.recv()
        except EOFError:
            proc.join(5)
            raise PdfError(
                f"extraction crashed (child exit code {proc.exitcode})",
                path=path,
                fix="the PDF is probably malformed; re-save it (e.g. `qpdf in.pdf out.pdf`) and add it again",
            ) from None
    finally:
        receiver.close()
        proc.join(5)
        if proc.is_alive():
            proc.kill()
            proc.join(5)
    status, payload, extra = message
    if status == "error":
        raise PdfError(payload, path=path, fix=extra)
    return DocumentGraph.model_validate_json(payload), extra


def attach_figure_images(graph: DocumentGraph, image_paths: dict[str, str]) -> DocumentGraph:
    """Set each figure's image_path from {figure_id: stored path}; returns the graph."""
    for figure in graph.figures:
        if figure.id in image_paths:
            figure.image_path = image_paths[figure.id]
    return graph


def _child_main(conn: Connection, path: str, min_chars_per_page: int) -> None:
    """Child-process body: run the extraction and send ("ok", json, images) or ("error", msg, fix)."""
    try:
        graph, images = _extract(Path(path), min_chars_per_page)
        conn.send(("ok", graph.model_dump_json(), images))
    except PdfError as exc:
        conn.send(("error", exc.message, exc.fix))
    except Exception as exc:  # any pymupdf failure becomes a user-facing error in the parent
        conn.send(
            (
                "error",
                f"extraction failed ({type(exc).__name__}: {exc})",
                "the PDF is probably malformed; re-save it (e.g. `qpdf in.pdf out.pdf`) and add it again",
            )
        )
    finally:
        conn.close()


# --------------------------------------------------------------------------- page model


@dataclass
class _Line:
    text: str
    plain: str
    bbox: pymupdf.Rect
    size: float
    bold: bool
    math_chars: int
    chars: int


@dataclass(eq=False)
class _Block:
    page: int
    order: int
    bbox: pymupdf.Rect
    lines: list[_Line]
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
class _Page:
    number: int
    page: pymupdf.Page
    blocks: list[_Block] = field(default_factory=list)
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


def _rect(r: pymupdf.Rect) -> BBox:
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


def _join_lines(lines: list[str]) -> str:
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


def _read_page(page: pymupdf.Page, number: int) -> _Page:
    """Visible text blocks in reading order, and the hidden spans set aside."""
    result = _Page(number=number, page=page)
    page_rect = page.rect
    dark_areas: list[pymupdf.Rect] | None = None
    raw_blocks = page.get_text("dict", flags=_TEXT_FLAGS)["blocks"]
    blocks: list[_Block] = []
    for raw in raw_blocks:
        if raw.get("type") != 0:
            continue
        lines: list[_Line] = []
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
                _Line(
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
        text = _join_lines([ln.text for ln in lines])
        block = _Block(page=number, order=0, bbox=rect, lines=lines, text=text)
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


def _reading_order(blocks: list[_Block], page_rect: pymupdf.Rect) -> list[_Block]:
    """Sort blocks for a one- or two-column page: full-width blocks split the page into bands,
    and inside a band the left column is read before the right one."""
    mid = (page_rect.x0 + page_rect.x1) / 2
    ordered: list[_Block] = []
    band: list[_Block] = []

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


# --------------------------------------------------------------------------- document-level analysis


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", text.lower())).strip()


def _strip_number(text: str) -> str:
    return re.sub(r"^(?:\d+(?:\.\d+)*|[IVX]+|[A-Z](?:\.\d+)*)\.?\s+", "", text.strip())


def _drop_page_furniture(pages: list[_Page]) -> None:
    """Drop running headers/footers (repeated in the margins across pages) and bare page numbers."""
    def margin(block: _Block, page: _Page) -> bool:
        h = page.page.rect.height
        return block.bbox.y1 < 0.1 * h or block.bbox.y0 > 0.9 * h

    def key(text: str) -> str:
        return re.sub(r"\d+", "#", _norm(text))

    seen: Counter[str] = Counter()
    for page in pages:
        seen.update({key(b.text) for b in page.blocks if margin(b, page)})
    threshold = max(2, round(0.3 * len(pages)))
    for page in pages:
        for block in page.blocks:
            if margin(block, page) and (seen[key(block.text)] >= threshold or _PAGE_NUMBER.match(block.text)):
                block.role = "furniture"


def _body_size(pages: list[_Page]) -> float:
    sizes: Counter[float] = Counter()
    for page in pages:
        for block in page.blocks:
            for line in block.lines:
                sizes[round(line.size * 2) / 2] += line.chars
    return sizes.most_common(1)[0][0] if sizes else 10.0


def _find_title(doc: pymupdf.Document, first: _Page) -> tuple[str, list[_Block]]:
    """Metadata title when meaningful, else the largest text in the top half of page 1."""
    half = first.page.rect.height * 0.5
    candidates = [b for b in first.blocks if b.role == "paragraph" and b.bbox.y0 < half]
    lines = [(line, b) for b in candidates for line in b.lines if sum(c.isalpha() for c in line.text) >= 3]
    title_blocks: list[_Block] = []
    text = ""
    if lines:
        biggest = max(line.size for line, _ in lines)
        chosen = [(line, b) for line, b in lines if line.size >= biggest - 0.5]
        first_y = chosen[0][0].bbox.y0
        kept = [(line, b) for line, b in chosen if line.bbox.y0 - first_y < 4 * biggest]
        text = _join_lines([line.text for line, _ in kept])
        title_blocks = list(dict.fromkeys(b for _, b in kept))
    meta = re.sub(r"\s+", " ", (doc.metadata or {}).get("title", "") or "").strip()
    if len(meta) >= 10 and len(meta.split()) >= 2 and not _BAD_META_TITLE.search(meta):
        if not title_blocks or _norm(meta)[:30] not in _norm(" ".join(b.text for b in title_blocks)):
            title_blocks = [b for b in candidates if _norm(b.text) and _norm(b.text) in _norm(meta)][:3]
        return meta, title_blocks
    return text, title_blocks


def _clean_name(name: str) -> str:
    name = re.sub(r"[\d*†‡§¶∗+,]+$", "", name.strip()).strip()
    return re.sub(r"\s+", " ", name)


def _find_authors(doc: pymupdf.Document, first: _Page, title_blocks: list[_Block]) -> list[str]:
    """Authors from the name lines right below the title (superscripts dropped), else the metadata author."""
    meta = (doc.metadata or {}).get("author", "") or ""
    meta_names = [_clean_name(n) for n in re.split(r";|,| and |&", meta) if _clean_name(n)]
    meta_names = [n for n in meta_names if not _BAD_META_AUTHOR.match(n)]
    found: list[str] = []
    if title_blocks:
        bottom = max(b.bbox.y1 for b in title_blocks)
        below = [b for b in first.blocks if b.bbox.y0 >= bottom - 1 and b not in title_blocks]
        lines = [ln for b in below for ln in b.lines]
        for line in lines[:8]:
            if _AFFILIATION.search(line.plain):
                break
            names = [_clean_name(p) for p in re.split(r",|\band\b|&", line.plain) if _clean_name(p)]
            good = [n for n in names if _looks_like_name(n)]
            if good and len(good) >= 0.6 * len(names):
                found.extend(good)
            elif found:
                break
    if found and (not meta_names or any(_norm(m) in _norm(" ".join(found)) for m in meta_names)):
        return found
    return meta_names or found


def _looks_like_name(text: str) -> bool:
    words = text.split()
    particles = {"de", "da", "del", "della", "van", "von", "der", "den", "le", "la", "di", "dos", "du"}
    return (
        2 <= len(words) <= 7
        and not re.search(r"[\d@:/]", text)
        and all(w[:1].isupper() or w in particles for w in words)
    )


def _classify_captions(pages: list[_Page]) -> None:
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


def _classify_equations(page: _Page, body_size: float) -> None:
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


def _graphics(page: _Page) -> list[pymupdf.Rect]:
    """Images and drawings on the page, leaving out page-size backgrounds and the header/footer bands."""
    rect = page.page.rect
    rects = [pymupdf.Rect(info["bbox"]) for info in page.page.get_image_info()] + page.drawings
    return [
        r & rect for r in rects
        if r.get_area() < 0.9 * rect.get_area() and r.y1 > 0.07 * rect.height and r.y0 < 0.93 * rect.height
        and r.intersects(rect)
    ]


def _is_prose(block: _Block, body_size: float) -> bool:
    return (
        block.role in ("paragraph", "heading")
        and len(block.text) >= 80
        and abs(block.size - body_size) <= 1.5
    )


def _figure_region(page: _Page, caption: _Block, body_size: float) -> pymupdf.Rect | None:
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


def _extract_figures(
    pages: list[_Page], body_size: float, warnings: list[str]
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
                    id=fig_id, number=number, caption=block.text, page=page.number, bbox=_rect(clip),
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
                    id=fig_id, page=page.number, bbox=_rect(rect), image_path="", width_px=width,
                    height_px=height, section_id=_section_at(page, rect),
                )
            )
    if missing:
        numbers = ", ".join(missing)
        warnings.append(f"no graphics found next to the caption of figure(s) {numbers}; caption rendered")
    return figures, images, regions


def _section_at(page: _Page, rect: pymupdf.Rect) -> str | None:
    before = [b for b in page.blocks if b.bbox.y0 <= rect.y0 and b.section_id]
    return before[-1].section_id if before else (page.blocks[0].section_id if page.blocks else None)


def _extract_tables(
    pages: list[_Page], warnings: list[str]
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
                    bbox=_rect(bbox) if bbox else None,
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


# --------------------------------------------------------------------------- sections


@dataclass
class _Heading:
    title: str
    level: int
    page: int
    order: float


def _toc_headings(doc: pymupdf.Document, pages: list[_Page], title: str) -> list[_Heading]:
    """Headings from the PDF outline, located in the text (in outline order) so atoms can be assigned."""
    toc = doc.get_toc()
    if len(toc) > 1 and _norm(toc[0][1])[:40] == _norm(title)[:40]:
        if sum(1 for entry in toc if entry[0] == toc[0][0]) == 1:
            toc = toc[1:]
    if not toc:
        return []
    top = min(entry[0] for entry in toc)
    headings: list[_Heading] = []
    position = (1, 0.0)
    for level, text, page_no in toc:
        if not 1 <= page_no <= len(pages):
            continue
        clean = re.sub(r"\s+", " ", text.replace("\xa0", " ")).strip()
        found = _locate_heading(pages, clean, page_no, position)
        position = found or max(position, (page_no, 0.0))
        headings.append(_Heading(title=clean, level=level - top + 1, page=position[0], order=position[1]))
    return headings


def _locate_heading(
    pages: list[_Page], title: str, page_no: int, after: tuple[int, float]
) -> tuple[int, float] | None:
    """(page, reading-order position) of a heading at or after `after`, near its outline page.

    Outline targets often point just above the heading (or before floats), so the heading may sit a
    page or more later: a run-in heading is accepted on the outline page and the next, a standalone
    heading block up to three pages later.
    """
    target = _norm(_strip_number(title))
    if not target:
        return None
    for page in pages[page_no - 1 : page_no + 3]:
        near = page.number <= page_no + 1
        for block in page.blocks:
            if block.role not in ("paragraph", "heading") or (page.number, block.order) <= after:
                continue
            text = _norm(_strip_number(block.text))
            if text.startswith(target[:60]) or (len(text) >= 8 and target.startswith(text)):
                if len(block.text) <= len(title) + 15:
                    block.role = "heading"
                    return page.number, float(block.order)
                if near:
                    return page.number, block.order - 0.5
    return None


def _font_headings(pages: list[_Page], body_size: float, skip: set[int]) -> list[_Heading]:
    """Headings guessed from numbering, known names, bold and font size (when there is no outline)."""
    found: list[tuple[_Block, str, int | None]] = []
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
            named = _norm(_strip_number(text)) in _NAMED_HEADINGS
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
    headings: list[_Heading] = []
    for block, text, level in found:
        block.role = "heading"
        if level is None:
            level = min(sizes.index(round(block.size)) + 1, 3) if round(block.size) >= body_size + 0.8 else 1
        headings.append(_Heading(title=text, level=min(level, 6), page=block.page, order=float(block.order)))
    return headings


def _reference_heading(pages: list[_Page], headings: list[_Heading]) -> list[_Heading]:
    """A "References" heading missing from the outline, found as a short block in the back half."""
    if any(_norm(_strip_number(h.title)) in _REFERENCE_HEADINGS for h in headings):
        return []
    for page in pages[len(pages) // 3 :]:
        for block in page.blocks:
            name = _norm(_strip_number(block.text))
            if block.role in ("paragraph", "heading") and name in _REFERENCE_HEADINGS:
                block.role = "heading"
                return [_Heading(block.text.strip(), level=1, page=page.number, order=float(block.order))]
    return []


def _build_sections(headings: list[_Heading]) -> list[Section]:
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


def _assign_sections(pages: list[_Page], headings: list[_Heading], sections: list[Section]) -> None:
    """Give every block the section of the last heading at or before it (sections are in heading order)."""
    ordered = sorted(headings, key=lambda h: (h.page, h.order))
    i = -1
    for page in pages:
        for block in page.blocks:
            here = (page.number, block.order)
            while i + 1 < len(ordered) and (ordered[i + 1].page, ordered[i + 1].order) <= here:
                i += 1
            block.section_id = sections[i].id if i >= 0 else None


# --------------------------------------------------------------------------- extraction


def _extract(path: Path, min_chars_per_page: int) -> tuple[DocumentGraph, dict[str, bytes]]:
    """Everything that reads the PDF content; runs in the child process."""
    warnings: list[str] = []
    with pymupdf.open(path) as doc:
        pages = [_read_page(page, i) for i, page in enumerate(doc, start=1)]
        total_chars = sum(p.visible_chars for p in pages)
        if total_chars / len(pages) < min_chars_per_page:
            raise PdfError(
                f"no text layer (scanned PDF?): {total_chars} visible characters on {len(pages)} page(s)",
                fix="run OCR first, e.g. `ocrmypdf in.pdf out.pdf`, and add the OCRed file",
            )
        empty = [str(p.number) for p in pages if p.visible_chars < 20]
        if empty:
            warnings.append(f"page(s) {', '.join(empty)} have no text layer")
        hidden = [h for p in pages for h in p.hidden]
        if hidden:
            warnings.append(
                f"{len(hidden)} hidden text span(s) (invisible, white or tiny) excluded on page(s) "
                + ", ".join(str(n) for n in sorted({h.page for h in hidden}))
            )

        _drop_page_furniture(pages)
        body_size = _body_size(pages)
        _classify_captions(pages)
        for page in pages:
            _classify_equations(page, body_size)

        title, title_blocks = _find_title(doc, pages[0])
        if not title:
            warnings.append("no title found")
        authors = _find_authors(doc, pages[0], title_blocks)
        for block in title_blocks:
            block.role = "title"

        headings = _toc_headings(doc, pages, title)
        section_source = "toc" if headings else "none"
        if not headings:
            headings = _font_headings(pages, body_size, {id(b) for b in title_blocks})
            section_source = "fonts" if headings else "none"
            if headings:
                warnings.append("no PDF outline; sections guessed from fonts and numbering")
        headings += _reference_heading(pages, headings)
        if not headings:
            warnings.append("no sections found")
        sections = _build_sections(headings)
        _assign_sections(pages, headings, sections)

        abstract_blocks = _find_abstract(pages, body_size)
        for block in abstract_blocks:
            block.role = "abstract"
        abstract = " ".join(_ABSTRACT_LABEL.sub("", b.text) for b in abstract_blocks)
        if not abstract:
            warnings.append("no abstract found")
        if abstract_blocks and abstract_blocks[0].page == 1:
            start = abstract_blocks[0].order
            for block in pages[0].blocks:
                if block.order < start and block.role == "paragraph" and block.section_id is None:
                    block.role = "front"

        figures, images, figure_regions = _extract_figures(pages, body_size, warnings)
        tables, table_regions = _extract_tables(pages, warnings)
        covered = {n: figure_regions.get(n, []) + table_regions.get(n, []) for n in range(1, len(pages) + 1)}
        equations = _equations(pages, covered)

        reference_ids = {s.id for s in sections if _norm(_strip_number(s.title)) in _REFERENCE_HEADINGS}
        atoms = _atoms(pages, body_size, figure_regions, table_regions, reference_ids, sections)
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


def _find_abstract(pages: list[_Page], body_size: float) -> list[_Block]:
    """Blocks after an "Abstract" heading (or starting with "Abstract"), else the first long paragraph."""
    candidates = [b for p in pages[:2] for b in p.blocks if b.role in ("paragraph", "heading")]
    for i, block in enumerate(candidates):
        head = _norm(block.text)
        if head == "abstract" or head == "summary":
            following = []
            for nxt in candidates[i + 1 :]:
                if nxt.role == "heading" or nxt.section_id != block.section_id and following:
                    break
                if following and abs(nxt.size - following[0].size) > 0.5:
                    break
                following.append(nxt)
            if following:
                block.role = "furniture"
                return following
        if re.match(r"^abstract\b\s*[—:.\-–]", block.text, re.I):
            return [block]
    first = [b for b in pages[0].blocks if b.role == "paragraph" and len(b.text) >= 400]
    return first[:1]


def _equations(pages: list[_Page], covered: dict[int, list[pymupdf.Rect]]) -> list[Equation]:
    """Display equations: vertically adjacent math blocks of one column merged, figure/table text left out."""
    equations: list[Equation] = []
    for page in pages:
        mid = (page.page.rect.x0 + page.page.rect.x1) / 2
        blocks = [
            b for b in page.blocks
            if b.role == "equation"
            and not any(_mostly_inside(b.bbox, r) for r in covered.get(page.number, ()))
        ]
        groups: list[list[_Block]] = []
        for block in sorted(blocks, key=lambda b: (b.bbox.y0, b.bbox.x0)):
            column = _column(block.bbox, mid)
            for group in groups:
                union = _union(b.bbox for b in group)
                if _column(union, mid) == column and block.bbox.y0 <= union.y1 + 8:
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
                    bbox=_rect(_union(b.bbox for b in group)), section_id=first.section_id,
                )
            )
    return equations


def _column(rect: pymupdf.Rect, mid: float) -> str:
    if rect.x1 <= mid + 10:
        return "left"
    return "right" if rect.x0 >= mid - 10 else "full"


def _union(rects: Iterable[pymupdf.Rect]) -> pymupdf.Rect:
    union = pymupdf.Rect()
    for rect in rects:
        union |= rect
    return union


def _atoms(
    pages: list[_Page],
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
                if any(_mostly_inside(block.bbox, r) for r in covered):
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
                    id=block.atom_id, text=block.text, page=page.number, bbox=_rect(block.bbox),
                    section_id=block.section_id, kind=kind,
                )
            )
    return atoms


def _mostly_inside(inner: pymupdf.Rect, outer: pymupdf.Rect) -> bool:
    area = inner.get_area()
    return area > 0 and (inner & outer).get_area() >= 0.6 * area
