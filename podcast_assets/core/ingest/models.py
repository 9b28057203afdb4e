"""Records of the ingest stage: the paper as a document graph, the podcast as a word-timed transcript, and a
pair's optional settings (`pair.yaml`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from podcast_assets.core.records import Record

# --------------------------------------------------------------------------- document graph


class BBox(Record):
    """A rectangle on a PDF page, in PDF points (origin top-left, as pymupdf reports it)."""

    x0: float
    y0: float
    x1: float
    y1: float


class Section(Record):
    id: str = Field(description="Stable id, e.g. 's03'.")
    title: str
    level: int = Field(ge=1, description="1 = top-level heading.")
    page: int = Field(ge=1, description="1-based page where the heading appears.")
    parent_id: str | None = None
    atom_ids: list[str] = Field(default_factory=list)


class TextAtom(Record):
    """One paragraph of body text."""

    id: str = Field(description="Stable id derived from page and reading order, e.g. 'p03-b007'.")
    text: str
    page: int = Field(ge=1)
    bbox: BBox
    section_id: str | None = None
    kind: Literal["paragraph", "abstract", "caption", "reference", "footnote"] = "paragraph"


class Figure(Record):
    id: str = Field(description="'fig-<number>' for numbered figures, 'img-p<page>-<n>' otherwise.")
    number: int | None = None
    caption: str = ""
    page: int = Field(ge=1)
    bbox: BBox
    image_path: str = Field(description="Artifact-store path of the exported PNG.")
    width_px: int
    height_px: int
    section_id: str | None = None


class Table(Record):
    id: str
    number: int | None = None
    caption: str = ""
    page: int = Field(ge=1)
    bbox: BBox | None = None
    cells: list[list[str | None]] = Field(
        default_factory=list, description="Rows of cells when the table grid was found, else empty."
    )
    section_id: str | None = None


class Equation(Record):
    id: str
    text: str = Field(description="The equation as extracted text (Unicode, not LaTeX).")
    number: str | None = Field(default=None, description="Its label, e.g. '3' for '(3)'.")
    page: int = Field(ge=1)
    bbox: BBox
    section_id: str | None = None


class KeyConcept(Record):
    phrase: str
    score: float = Field(description="Higher is more central to this paper; comparable within one paper.")
    frequency: int = Field(ge=1, description="Occurrences in the body text.")
    atom_ids: list[str] = Field(default_factory=list, description="Atoms that mention it.")


class HiddenText(Record):
    """Text present in the PDF that a reader cannot see (white, tiny or invisible). Never used as content."""

    page: int
    text: str
    reason: Literal["invisible", "white", "tiny"]


class DocumentGraph(Record):
    pdf_sha256: str
    extractor_version: str
    page_count: int
    title: str
    authors: list[str] = Field(default_factory=list)
    abstract: str = ""
    sections: list[Section] = Field(default_factory=list)
    section_source: Literal["toc", "fonts", "none"] = "none"
    atoms: list[TextAtom] = Field(default_factory=list)
    figures: list[Figure] = Field(default_factory=list)
    tables: list[Table] = Field(default_factory=list)
    equations: list[Equation] = Field(default_factory=list)
    key_concepts: list[KeyConcept] = Field(default_factory=list)
    hidden_text: list[HiddenText] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)

    def figure_ids_by_number(self) -> dict[int, str]:
        """Figure id by figure number, for the numbered figures ('Figure 3' in a text is the id here)."""
        return {f.number: f.id for f in self.figures if f.number is not None}

    def outline_markdown(self) -> str:
        """A readable outline: title, authors, sections with their atom counts, figures and tables."""
        lines = [f"# {self.title}"]
        if self.authors:
            lines.append(f"*{', '.join(self.authors)}*")
        if self.abstract:
            lines.append("")
            lines.append(f"> {self.abstract[:600]}{'…' if len(self.abstract) > 600 else ''}")
        lines.append("")
        for s in self.sections:
            lines.append(f"{'  ' * (s.level - 1)}- {s.title} (p. {s.page}, {len(s.atom_ids)} paragraphs)")
        if self.figures:
            lines.append("")
            lines.append("**Figures**")
            lines.extend(f"- {f.id} (p. {f.page}): {f.caption[:120]}" for f in self.figures)
        if self.tables:
            lines.append("")
            lines.append("**Tables**")
            lines.extend(f"- {t.id} (p. {t.page}): {t.caption[:120]}" for t in self.tables)
        if self.key_concepts:
            lines.append("")
            lines.append("**Key concepts**: " + ", ".join(k.phrase for k in self.key_concepts[:20]))
        return "\n".join(lines)


# --------------------------------------------------------------------------- transcription


class Word(Record):
    word: str
    start: float = Field(ge=0)
    end: float = Field(ge=0)
    probability: float = Field(ge=0, le=1, description="Recogniser confidence for this word.")


class TranscriptSegment(Record):
    id: int
    start: float = Field(ge=0)
    end: float = Field(ge=0)
    text: str
    words: list[Word] = Field(default_factory=list)
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    speaker: str | None = Field(default=None, description="Speaker label when the recogniser gives one.")


class TranscriptionResult(Record):
    audio_sha256: str
    provider: str
    model: str
    options: dict[str, str | int | float | bool | None] = Field(default_factory=dict)
    language: str
    language_probability: float | None = None
    duration: float = Field(ge=0, description="Audio duration in seconds (decoded).")
    header_duration: float | None = Field(default=None, description="Duration the file header claims.")
    segments: list[TranscriptSegment]
    mean_confidence: float = Field(ge=0, le=1, description="Mean word probability.")
    processing_seconds: float = Field(ge=0, description="Wall time of the recognition that made this record.")
    warnings: list[str] = Field(default_factory=list)

    @property
    def words(self) -> list[Word]:
        return [w for s in self.segments for w in s.words]

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments).strip()


# --------------------------------------------------------------------------- training pairs


class PairMeta(Record):
    """Optional `pair.yaml` beside a pair's files."""

    speaker_gender: Literal["female", "male", "mixed", "unknown"] = "unknown"
    source: str | None = Field(default=None, description="Where the pair came from (URL, repository, ...).")
    language: str = Field(default="en", pattern=r"^[a-z]{2,3}$", description="ISO 639 code of the podcast.")
    speakers: int | None = Field(default=None, ge=1)
    notes: str | None = None
