"""A document graph prepared for writing (`Paper`): spoken sentences per atom, the pool of atoms each segment
type may speak, key concepts and where they are named, figures and their caption atoms.

Which atoms a segment of a type speaks (`Paper.pools`): the type's pool holds the paper's body paragraphs
whose section (its own title first, then its ancestors at half weight each, through `section_type_prior`)
favours the type, reweighted by the type's cue phrases in the paragraph (`cue_scores`); paragraphs without a
known section title are placed by their position in the paper instead. Within a pool, the paragraphs that
suit the type best come first, each group in reading order. The abstract serves intro, background and key
findings. References, footnotes, captions, acknowledgements and appendices are never content. A segment
whose own pool is spent may borrow from a close type (`BORROW`), and background, problem, implication,
limitation and conclusion may then take any paragraph rich in their cue phrases (`Paper.pool`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from podcast_assets.core.analysis.alignment import concept_pattern
from podcast_assets.core.analysis.local_typer import (
    ATOM_KIND_TYPES,
    SECTION_TYPES,
    cue_scores,
    section_type_prior,
)
from podcast_assets.core.ingest.models import DocumentGraph, Figure, KeyConcept
from podcast_assets.core.text import STOPWORDS, figure_numbers, normalize_text, singular
from podcast_assets.core.training.spoken import ANAPHORIC_START, plain, spoken_sentences

CUE_FALLBACK = frozenset({"background", "problem", "implication", "limitation", "conclusion", "tangent"})
"""Types that, their pools spent, may speak any body paragraph rich in their cue phrases (never methodology
or key_finding, whose sections the paper always has)."""
CUE_FALLBACK_SCORE = 0.3
POOL_SHARE = 0.5
"""An atom joins a type's pool when its affinity to the type exceeds this share of its best affinity."""

# Types whose pool a segment may borrow from once its own is spent (close in meaning, never across the
# method/result divide).
BORROW: dict[str, tuple[str, ...]] = {
    "intro": ("background", "problem"),
    "background": ("intro", "problem"),
    "problem": ("background", "intro"),
    "key_finding": ("conclusion",),
    "implication": ("conclusion", "limitation"),
    "limitation": ("implication",),
    "conclusion": ("implication", "key_finding"),
    "tangent": ("background",),
}

# Where, as a share of the paper's body, a paragraph of each type usually sits (for paragraphs without a
# known section title): centre and spread.
_POSITION: dict[str, tuple[float, float]] = {
    "intro": (0.0, 0.08),
    "background": (0.08, 0.12),
    "problem": (0.12, 0.12),
    "methodology": (0.45, 0.2),
    "key_finding": (0.68, 0.18),
    "implication": (0.85, 0.12),
    "limitation": (0.85, 0.12),
    "conclusion": (0.97, 0.08),
}


def _clean_title(title: str) -> str:
    return re.sub(r"^[\dIVXivx.\s]+(?=[A-Za-z])", "", title).lower()


def _excluded_title(title: str) -> bool:
    """References, acknowledgements, appendices: titles the typer knows and maps to no type."""
    clean = _clean_title(title)
    match = next((types for pattern, types in SECTION_TYPES if pattern.search(clean)), None)
    return match == {} or "supplementa" in clean


_GLUED_HEADING = re.compile(
    r"^([A-Z][\w\-]*(?:\s+[\w\-]+){0,7}?)\s+"
    r"(?=(?:For|First|In|The|We|This|To|As|These|Since|After|Given|Each|Our|Here|It|Then|Finally|Based|Using|"
    r"Unlike|Although|While|Following|Moreover|However)\b)"
)
_NAME_BEFORE = frozenset(["on", "in", "of", "from", "to", "with", "by", "at", "the", "a", "an", "and", "as"])


def _strip_glued_heading(text: str) -> str:
    """A heading the table of contents does not list, glued to its paragraph ('Future risks For the 7 ...'):
    text before a capitalised sentence opener among the paragraph's first words, unless the word before the
    opener makes it part of a name ('trained on The Pile')."""
    match = _GLUED_HEADING.match(text)
    if match is None or match.group(1).split()[-1].lower() in _NAME_BEFORE:
        return text
    return text[match.end() :]


def _heading_pattern(graph: DocumentGraph) -> re.Pattern[str] | None:
    """A section heading the PDF text glued to the start of its first paragraph ('2.1 Dynamic Financial
    Networks There are many ...')."""
    titles = sorted(
        {s.title.strip() for s in graph.sections if len(s.title.strip()) > 2}, key=len, reverse=True
    )
    if not titles:
        return None
    return re.compile(r"^\s*(?:(?:" + "|".join(re.escape(t) for t in titles) + r")[\s.:]+)+(?=[A-Z])")


def _completed(text: str, following: Sequence) -> str:
    """A paragraph the page or column broke mid-sentence, completed with the head of the next body paragraph
    when that one starts in lowercase (the head is a fragment there, so it is spoken only once)."""
    if re.search(r"[.!?:][\"')\]]*\s*$", text) or not following:
        return text
    nxt = following[0].text.strip()
    if not nxt[:1].islower():
        return text
    head = re.split(r"(?<=[.!?])\s+", nxt, maxsplit=1)[0]
    return f"{text.rstrip()} {head}"


def _gauss(x: float, mu: float, sigma: float) -> float:
    return math.exp(-0.5 * ((x - mu) / sigma) ** 2)


def _speakable_concept(concept: KeyConcept) -> bool:
    words = normalize_text(concept.phrase)
    return len(concept.phrase) >= 3 and any(w not in STOPWORDS for w in words)


@dataclass
class Paper:
    """A document graph prepared for writing: spoken sentences per atom, type pools, concepts, figures."""

    graph: DocumentGraph
    max_words: int
    order: dict[str, int] = field(default_factory=dict)
    spoken: dict[str, list[str]] = field(default_factory=dict)
    affinity: dict[str, dict[str, float]] = field(default_factory=dict)
    pools: dict[str, list[str]] = field(default_factory=dict)
    concepts: list[KeyConcept] = field(default_factory=list)
    patterns: dict[str, re.Pattern[str]] = field(default_factory=dict)
    mentions: dict[str, list[str]] = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)
    caption_atoms: dict[str, str] = field(default_factory=dict)
    words: dict[str, set[str]] = field(default_factory=dict)
    cues: dict[str, dict[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        graph = self.graph
        sections = {s.id: s for s in graph.sections}
        self.order = {a.id: i for i, a in enumerate(graph.atoms)}
        body = [a for a in graph.atoms if a.kind in ("paragraph", "abstract")]
        body = [a for a in body if not self._excluded(a.section_id, sections)]
        if not any(a.kind == "abstract" for a in body) and graph.abstract.strip():
            self.spoken["abstract"] = spoken_sentences(graph.abstract, self.max_words)
            self.affinity["abstract"] = dict(ATOM_KIND_TYPES["abstract"])
            self.order["abstract"] = -1
        headings = _heading_pattern(graph)
        for i, atom in enumerate(body):
            text = _completed(atom.text, body[i + 1 :])
            text = _strip_glued_heading(headings.sub("", text) if headings else text)
            self.spoken[atom.id] = spoken_sentences(text, self.max_words)
            if atom.kind == "abstract":
                self.affinity[atom.id] = dict(ATOM_KIND_TYPES["abstract"])
                continue
            prior = self._section_prior(atom.section_id, sections)
            cues = self.cues[atom.id] = cue_scores(atom.text)
            if prior:
                self.affinity[atom.id] = {t: w * (1 + cues.get(t, 0.0)) for t, w in prior.items() if w > 0}
            else:
                position = i / max(1, len(body) - 1)
                self.affinity[atom.id] = {
                    t: _gauss(position, mu, sigma) * (1 + cues.get(t, 0.0))
                    for t, (mu, sigma) in _POSITION.items()
                }
        for atom_id, affinity in self.affinity.items():
            if not self.spoken.get(atom_id):
                continue
            best = max(affinity.values(), default=0.0)
            for t, value in affinity.items():
                if best > 0 and value > POOL_SHARE * best:
                    self.pools.setdefault(t, []).append(atom_id)
        for t, pool in self.pools.items():
            # atoms that suit this type best first, then those another type wants more; each in reading order
            pool.sort(
                key=lambda a, t=t: (
                    self.best_type(a) != t,
                    self.order[a],
                )
            )
        self.words = {
            a: {singular(w) for s in ss for w in normalize_text(s)} for a, ss in self.spoken.items()
        }
        self.concepts = [
            k for k in sorted(graph.key_concepts, key=lambda k: -k.score) if _speakable_concept(k)
        ]
        self.patterns = {k.phrase: concept_pattern(k.phrase) for k in self.concepts}
        for atom_id, ss in self.spoken.items():
            text = " ".join(ss)
            self.mentions[atom_id] = [k.phrase for k in self.concepts if self.patterns[k.phrase].search(text)]
        captioned = [f for f in graph.figures if f.caption.strip()]
        self.figures = sorted(captioned, key=lambda f: (f.number is None, f.number or 0, f.page))
        captions = [a for a in graph.atoms if a.kind == "caption"]
        for figure in self.figures:
            head = plain(figure.caption)[:60]
            match = next((a for a in captions if plain(a.text)[:60] == head), None)
            if match is not None:
                self.caption_atoms[figure.id] = match.id

    @staticmethod
    def _excluded(section_id: str | None, sections: dict) -> bool:
        seen = 0
        while section_id in sections and seen <= len(sections):
            if _excluded_title(sections[section_id].title):
                return True
            section_id, seen = sections[section_id].parent_id, seen + 1
        return False

    @staticmethod
    def _section_prior(section_id: str | None, sections: dict) -> dict[str, float]:
        """The atom's own section title first, then each ancestor at half the weight of the one below."""
        combined: dict[str, float] = {}
        weight, seen = 1.0, 0
        while section_id in sections and seen <= len(sections):
            for t, share in section_type_prior(sections[section_id].title).items():
                combined[t] = combined.get(t, 0.0) + weight * share
            section_id, weight, seen = sections[section_id].parent_id, weight / 2, seen + 1
        total = sum(combined.values())
        return {t: v / total for t, v in combined.items()} if total > 0 else {}

    def pool(self, segment_type: str, free: Iterable[str] = ()) -> list[tuple[str, bool]]:
        """Atoms a segment of the type may speak, best first, each with whether it was found by its cue
        phrases alone: the type's own pool, then the pools of close types in `free` (types no later segment
        needs), then (for the types in CUE_FALLBACK) any body paragraph rich in the type's cue phrases."""
        free = set(free)
        own = list(self.pools.get(segment_type, []))
        borrowed = [a for t in BORROW.get(segment_type, ()) if t in free for a in self.pools.get(t, [])]
        chosen = list(dict.fromkeys(own + borrowed))
        out = [(a, False) for a in chosen]
        if segment_type in CUE_FALLBACK:
            taken = set(chosen)
            cued = [
                a
                for a, scores in self.cues.items()
                if a not in taken
                and self.spoken.get(a)
                and scores.get(segment_type, 0.0) >= CUE_FALLBACK_SCORE
            ]
            cued.sort(key=lambda a: (-self.cues[a][segment_type], self.order[a]))
            out += [(a, True) for a in cued]
        return out

    def best_type(self, atom_id: str) -> str | None:
        affinity = self.affinity.get(atom_id)
        return max(affinity, key=affinity.__getitem__) if affinity else None

    def cue_start(self, atom_id: str, segment_type: str) -> int:
        """The first sentence of an atom found by its cues that carries one (or the one before it, when it
        leans on it)."""
        spoken = self.spoken[atom_id]
        hit = next((i for i, s in enumerate(spoken) if cue_scores(s).get(segment_type, 0.0) > 0), 0)
        return hit - 1 if hit > 0 and ANAPHORIC_START.match(spoken[hit]) else hit

    def concepts_in(self, text: str) -> list[str]:
        return [k.phrase for k in self.concepts if self.patterns[k.phrase].search(text)]

    def figures_named(self, text: str) -> list[str]:
        ids = self.graph.figure_ids_by_number()
        return list(dict.fromkeys(ids[n] for n in figure_numbers(text) if n in ids))

    def atom_of(self, sentence: str, candidates: Iterable[str]) -> str | None:
        """The candidate atom most of the sentence's words come from (at least 60 %), if any."""
        words = {singular(w) for w in normalize_text(sentence) if w not in STOPWORDS}
        if not words:
            return None
        best = max(
            candidates,
            key=lambda a: (len(words & self.words.get(a, set())), -self.order.get(a, 0)),
            default=None,
        )
        if best is None or len(words & self.words.get(best, set())) < 0.6 * len(words):
            return None
        return best
