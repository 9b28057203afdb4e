"""The paper as the LLM is shown it (`visible_paper`): its text without what its PDF hides from readers
(`DocumentGraph.hidden_text`), its figures and its key concepts, cut at an atom boundary past PAPER_MAX_CHARS."""

from __future__ import annotations

import re
from collections.abc import Mapping

from pydantic import Field

from podcast_assets.core.ingest.models import DocumentGraph
from podcast_assets.core.records import Record

PAPER_MAX_CHARS = 60_000
"""Paper text sent to the writer and the quality judge (about 15k tokens); longer papers are cut at an
atom boundary and the cut is reported (`VisiblePaper.truncated`)."""


HIDDEN_MIN_WORDS = 2
"""Hidden text of fewer words (a footnote mark, a sub-script, a 'Vol.:(0123456789)' stamp) is not stripped: one
word cannot carry an instruction, and cutting it wherever it occurs would cut the same word from visible text."""


HIDDEN_WINDOW = 4
"""Hidden text is stripped as every run of visible text made of its word windows of this size, so a hidden
record merged from several spans or cut at its length limit is still found piece by piece."""


_WORD = re.compile(r"\S+")


class VisiblePaper(Record):
    """The paper as the LLM tasks see it: only what a reader of the PDF can see."""

    title: str
    abstract: str
    text: str = Field(description="Title, abstract and body paragraphs by section (references left out).")
    figures: dict[str, str] = Field(description="Figure and table id -> caption: the ids a script may cite.")
    hidden_spans: int = Field(ge=0, description="Hidden text records the graph lists.")
    stripped: int = Field(
        ge=0, description="Runs of hidden text cut from the title, abstract, atoms, captions."
    )
    truncated: bool = Field(description="The body was cut at PAPER_MAX_CHARS.")


def word_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, normalised word) of each word that has a letter or digit: case and punctuation ignored."""
    found = []
    for m in _WORD.finditer(text):
        norm = re.sub(r"\W+", "", m.group().lower())
        if norm:
            found.append((m.start(), m.end(), norm))
    return found


def _hidden_windows(graph: DocumentGraph) -> dict[int, set[tuple[str, ...]]]:
    """Word windows of every hidden record long enough to strip, by window size."""
    windows: dict[int, set[tuple[str, ...]]] = {}
    for hidden in graph.hidden_text:
        words = [w for _, _, w in word_spans(hidden.text)]
        if len(words) < HIDDEN_MIN_WORDS:
            continue
        n = min(HIDDEN_WINDOW, len(words))
        windows.setdefault(n, set()).update(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
    return windows


def strip_hidden(text: str, windows: Mapping[int, set[tuple[str, ...]]]) -> tuple[str, int]:
    """`text` without every run of words covered by hidden-text windows; and how many runs were cut."""
    if not windows or not text:
        return text, 0
    tokens = word_spans(text)
    words = [w for _, _, w in tokens]
    covered = [False] * len(tokens)
    for n, grams in windows.items():
        for i in range(len(words) - n + 1):
            if tuple(words[i : i + n]) in grams:
                covered[i : i + n] = [True] * n
    runs: list[tuple[int, int]] = []
    for i, hit in enumerate(covered):
        if not hit:
            continue
        if runs and covered[i - 1]:
            runs[-1] = (runs[-1][0], tokens[i][1])
        else:
            runs.append((tokens[i][0], tokens[i][1]))
    if not runs:
        return text, 0
    out = text[: runs[0][0]]
    for k, (_, end) in enumerate(runs):
        out = _join(out, text[end : runs[k + 1][0] if k + 1 < len(runs) else len(text)])
    return out.strip(), len(runs)


def _join(left: str, right: str) -> str:
    """Two pieces around a cut, with one space between words and none before punctuation."""
    left, right = left.rstrip(" \t"), right.lstrip(" \t")
    if not left or not right or left.endswith("\n") or right[0] in ".,;:!?\n":
        return left + right
    return f"{left} {right}"


def _shorten(text: str, limit: int) -> str:
    """`text` cut at a word boundary to at most `limit` characters, marked with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0] + "…"


def visible_paper(graph: DocumentGraph, *, max_chars: int = PAPER_MAX_CHARS) -> VisiblePaper:
    """The paper text given to the writer and the judges, without the PDF's hidden text.

    The extractor already leaves hidden spans out of the atoms; this strips them again from every string
    sent (title, abstract, atoms, captions) so a graph made otherwise, or by an older extractor, cannot
    smuggle "ignore previous instructions" to a judge. The count is reported for the item's metadata.
    """
    windows = _hidden_windows(graph)
    stripped = 0

    def clean(text: str) -> str:
        nonlocal stripped
        result, cut = strip_hidden(text, windows)
        stripped += cut
        return result

    title, abstract = clean(graph.title), clean(graph.abstract)
    figures: dict[str, str] = {}
    for item in (*graph.figures, *graph.tables):
        figures[item.id] = _shorten(clean(" ".join(item.caption.split())), 400)
    captions = {" ".join(item.caption.split()) for item in (*graph.figures, *graph.tables) if item.caption}
    section_titles = {s.id: clean(s.title) for s in graph.sections}
    lines = [f"Title: {title}"] + ([f"Abstract: {abstract}"] if abstract else [])
    truncated, current, size = False, None, sum(len(line) + 1 for line in lines)
    for atom in graph.atoms:
        if atom.kind == "reference" or (atom.kind == "abstract" and abstract):
            continue
        if atom.kind == "caption" and " ".join(atom.text.split()) in captions:
            continue  # listed with its figure id
        text = clean(atom.text)
        if not text:
            continue
        block = []
        if atom.section_id != current and section_titles.get(atom.section_id or ""):
            block.append(f"\n## {section_titles[atom.section_id or '']}")
        current = atom.section_id
        block.append(text)
        grown = size + sum(len(b) + 1 for b in block)
        if grown > max_chars:
            truncated = True
            break
        lines += block
        size = grown
    return VisiblePaper(
        title=title,
        abstract=abstract,
        text="\n".join(lines),
        figures=figures,
        hidden_spans=len(graph.hidden_text),
        stripped=stripped,
        truncated=truncated,
    )
