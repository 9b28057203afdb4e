"""Paper PDF -> DocumentGraph, safely: cheap validation first, then the extraction in a child process that is
killed after a timeout (some PDFs hang pymupdf) and whose crash cannot take the caller down.

pymupdf "succeeds" on useless input (HTML saved as .pdf, silently repaired truncated files, scans with no
text, hidden text), so every such case is checked and turned into a PdfError naming the file and the fix.
The child is started with `spawn`, never `fork`: the caller may be a threaded Dagster worker, and a forked
copy of a threaded process can deadlock on a lock another thread held.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path

import pymupdf

from podcast_assets.core.errors import PdfError
from podcast_assets.core.ingest.models import DocumentGraph
from podcast_assets.core.ingest.pdf.document import read_document, read_text_layer
from podcast_assets.core.ingest.sniff import file_kind, read_head

REDOWNLOAD = "download the PDF again (e.g. from arXiv or the publisher) and add it to the pair folder"


def validate_pdf(path: Path, *, max_pages: int = 500) -> int:
    """Fast checks that the file is a usable PDF; returns its page count or raises PdfError."""
    path = Path(path)
    if not path.is_file():
        raise PdfError("file not found", path=path, fix="check the pair folder holds paper.pdf")
    if path.stat().st_size == 0:
        raise PdfError("empty file (0 bytes)", path=path, fix=REDOWNLOAD)
    head = read_head(path)
    if b"%PDF-" not in head:
        kind = file_kind(head)
        if kind == "an HTML page":
            kind += " (probably a download or login page saved as .pdf)"
        raise PdfError(f"not a PDF: it looks like {kind}", path=path, fix=REDOWNLOAD)
    try:
        doc = pymupdf.open(path, filetype="pdf")
    except Exception as exc:
        raise PdfError(f"cannot be opened as a PDF ({exc})", path=path, fix=REDOWNLOAD) from exc
    with doc:
        if not doc.is_pdf:
            raise PdfError("not a PDF document", path=path, fix=REDOWNLOAD)
        if doc.is_repaired:
            raise PdfError(
                "damaged or truncated, pymupdf had to repair it (pages or text may be missing); re-download",
                path=path,
                fix=REDOWNLOAD,
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
        raise PdfError("the PDF has no pages", path=path, fix=REDOWNLOAD)
    if pages > max_pages:
        raise PdfError(
            f"{pages} pages, more than the limit of {max_pages}",
            path=path,
            fix="use the paper itself rather than a thesis or proceedings volume, or raise max_pages",
        )
    return pages


Worker = Callable[[Connection, str, int], None]


def extract_document_graph(
    path: Path,
    *,
    max_pages: int = 500,
    timeout_s: float = 300.0,
    min_chars_per_page: int = 200,
    worker: Worker | None = None,
) -> tuple[DocumentGraph, dict[str, bytes]]:
    """Validate, then extract the document graph in a child process killed after `timeout_s`.

    Returns the graph (every Figure.image_path is "") and {figure_id: png_bytes}. `worker` is the function
    the child runs (default: `extraction_worker`); it must be importable by name, as `spawn` imports it.
    """
    path = Path(path)
    validate_pdf(path, max_pages=max_pages)
    payload, images = _in_child(
        path, worker or extraction_worker, min_chars_per_page, timeout_s, "extraction"
    )
    return DocumentGraph.model_validate_json(payload), images


def check_text_layer(
    path: Path, *, max_pages: int = 500, timeout_s: float = 300.0, min_chars_per_page: int = 200
) -> int:
    """The paper's cheap check, made before its podcast is transcribed or the pair is added: `validate_pdf`,
    then its pages read in a child process (killed after `timeout_s`) and a text layer required, by the same
    rule as the extraction. Returns the page count or raises PdfError; a fraction of the extraction's time."""
    path = Path(path)
    pages = validate_pdf(path, max_pages=max_pages)
    _in_child(path, text_layer_worker, min_chars_per_page, timeout_s, "reading the text layer")
    return pages


def _in_child(path: Path, worker: Worker, min_chars_per_page: int, timeout_s: float, what: str) -> tuple:
    """Run `worker` on the PDF in a spawned child killed after `timeout_s`: what it sent after "ok", or the
    PdfError it sent, or one saying it hung or crashed."""
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=worker, args=(sender, str(path), min_chars_per_page), daemon=True)
    proc.start()
    sender.close()
    try:
        if not receiver.poll(timeout_s):
            proc.kill()
            raise PdfError(
                f"{what} did not finish within {timeout_s:g} s",
                path=path,
                fix="the PDF is probably malformed; re-save it (e.g. `qpdf in.pdf out.pdf`) "
                "or raise the timeout",
            )
        try:
            message = receiver.recv()
        except EOFError:
            proc.join(5)
            raise PdfError(
                f"{what} crashed (child exit code {proc.exitcode})",
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
    return payload, extra


def extraction_worker(conn: Connection, path: str, min_chars_per_page: int) -> None:
    """Child-process body: run the extraction and send ("ok", json, images) or ("error", msg, fix)."""
    _answer(conn, lambda: _graph_json(path, min_chars_per_page), "extraction")


def text_layer_worker(conn: Connection, path: str, min_chars_per_page: int) -> None:
    """Child-process body: read the pages, require a text layer; send ("ok", visible characters, None)."""
    _answer(conn, lambda: (read_text_layer(Path(path), min_chars_per_page), None), "reading the pages")


def _graph_json(path: str, min_chars_per_page: int) -> tuple[str, dict[str, bytes]]:
    graph, images = read_document(Path(path), min_chars_per_page)
    return graph.model_dump_json(), images


def _answer(conn: Connection, work: Callable[[], tuple], what: str) -> None:
    try:
        conn.send(("ok", *work()))
    except PdfError as exc:
        conn.send(("error", exc.message, exc.fix))
    except Exception as exc:  # any pymupdf failure becomes a user-facing error in the parent
        conn.send(
            (
                "error",
                f"{what} failed ({type(exc).__name__}: {exc})",
                "the PDF is probably malformed; re-save it (e.g. `qpdf in.pdf out.pdf`) and add it again",
            )
        )
    finally:
        conn.close()
