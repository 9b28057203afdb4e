"""Drafting one segment at a time from the prepared paper (`Draft`): which unspoken atoms a segment may
speak, which one leads (the next uncovered key concept, or a definition when an analogy is due), where in
it the segment starts, and how many of its sentences fit the budget.

A paragraph that suits another type better waits for that type while a segment of it is still to come. The
first segment of every run is always written, whatever the extraction found: when its pools are spent it
takes the close types' pools and the cue-found paragraphs (atoms another type waits for included), then the
unspoken paragraph that suits its type best (`Draft.fallback`). An atom is spoken at most once (a segment
may only finish the atom its predecessor of the same run left unfinished). Figure segments speak a
figure's caption ("Figure N") and the body sentences that name it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from podcast_assets.core.analysis.models import SEGMENT_TYPES
from podcast_assets.core.text import figure_numbers
from podcast_assets.core.training.models import GenerationSettings
from podcast_assets.core.training.spoken import ANAPHORIC_START, lower_first, plain, spoken_sentences
from podcast_assets.core.training.writer.paper import Paper
from podcast_assets.core.training.writer.phrasing import is_explanation

ANALOGY_LOOKAHEAD = 6
"""When an analogy is due, a segment may lead with any of its next this-many atoms that can give one."""


class Rate:
    """Bresenham-style spacing: `due(words)` is true about once per `every` words, first at half of it."""

    def __init__(self, per_minute: float, words_per_minute: float):
        self.every = words_per_minute / per_minute if per_minute > 0 else math.inf
        self.next = self.every / 2

    def due(self, words: float) -> bool:
        return words >= self.next

    def done(self) -> None:
        self.next += self.every


@dataclass
class Turn:
    type: str
    speaker: str
    sentences: list[str]
    atoms: list[str] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)

    @property
    def words(self) -> int:
        return sum(len(s.split()) for s in self.sentences)


def fill(sentences_: list[str], candidate: list[str], budget: float, words: int) -> tuple[int, int]:
    """How many of `candidate` to add to reach `budget` (adding one only while it brings the count closer);
    returns (taken, new word count)."""
    taken = 0
    for sentence in candidate:
        n = len(sentence.split())
        if sentences_ and words + n / 2 > budget:
            break
        sentences_.append(sentence)
        words += n
        taken += 1
    return taken, words


@dataclass
class Draft:
    paper: Paper
    settings: GenerationSettings
    used: set[str] = field(default_factory=set)
    covered: set[str] = field(default_factory=set)
    carry: tuple[str, str, list[str]] | None = None
    concept_credit: float = 0.0
    free: set[str] = field(default_factory=set)
    """Types no later segment of the plan needs: their pools may be borrowed."""

    def available(self, segment_type: str) -> list[tuple[str, bool]]:
        """The type's pool without the atoms spoken already and those left to a later segment: an atom
        another type suits best waits for that type while a segment of it is still to come."""
        out = []
        for atom_id, cued in self.paper.pool(segment_type, self.free):
            best = self.paper.best_type(atom_id)
            if atom_id not in self.used and (best in (segment_type, None) or best in self.free):
                out.append((atom_id, cued))
        return out

    def fallback(self, segment_type: str) -> list[tuple[str, bool]]:
        """For a segment that must be written (the first of its run) when `available` has nothing: first the
        type's pool, every close type's and the cue-found paragraphs, atoms another type waits for included;
        then any unspoken atom, those that suit the type best first, each group in reading order."""
        every_type = set(SEGMENT_TYPES)
        wider = [(a, cued) for a, cued in self.paper.pool(segment_type, every_type) if a not in self.used]
        if wider:
            return wider
        rest = [a for a, spoken in self.paper.spoken.items() if spoken and a not in self.used]
        rest.sort(key=lambda a: (-self.paper.affinity.get(a, {}).get(segment_type, 0.0), self.paper.order[a]))
        return [(a, False) for a in rest]

    def lead_atoms(
        self, segment_type: str, targets: Sequence[str], required: bool = False
    ) -> list[tuple[str, bool]]:
        pool = self.available(segment_type) or (self.fallback(segment_type) if required else [])
        leads: list[tuple[str, bool]] = []
        for concept in targets:
            lead = next((p for p in pool if concept in self.paper.mentions.get(p[0], ())), None)
            if lead is not None and lead not in leads:
                leads.append(lead)
        return leads + [p for p in pool if p not in leads]

    def targets(self, segment_type: str) -> list[str]:
        self.concept_credit += self.settings.concepts_per_segment
        n = int(self.concept_credit + 1e-9)
        self.concept_credit -= n
        available = {c for a, _ in self.available(segment_type) for c in self.paper.mentions[a]}
        return [
            k.phrase for k in self.paper.concepts if k.phrase in available and k.phrase not in self.covered
        ][:n]

    def content(
        self, segment_type: str, budget: float, analogy_due: bool, required: bool = False
    ) -> tuple[list[str], list[str], bool]:
        """Paper sentences for one segment: (sentences, atoms, whether one explains: a definition or a comparison,
        when an analogy is due). A `required` segment (the first of its run) falls back to wider pools when its
        own is spent."""
        out: list[str] = []
        atoms: list[str] = []
        words = 0
        if self.carry and self.carry[0] == segment_type:
            _, atom_id, rest = self.carry
            taken, words = fill(out, rest, budget, words)
            if taken:
                atoms.append(atom_id)
            self.carry = (segment_type, atom_id, rest[taken:]) if rest[taken:] else None
            if words >= budget - 1:
                return out, atoms, self._explains(out, analogy_due)
        self.carry = None
        targets = self.targets(segment_type)
        leads = self.lead_atoms(segment_type, targets, required)
        explained = self._explainable(leads) if analogy_due and not out else None
        if explained is not None:
            leads = [leads[explained[0]], *leads[: explained[0]], *leads[explained[0] + 1 :]]
        for atom_id, cued in leads:
            spoken = self.paper.spoken[atom_id]
            if explained is not None and not out:
                start = explained[1]
            elif cued:
                start = self.paper.cue_start(atom_id, segment_type)
            else:
                start = self._start(segment_type, spoken, targets, budget) if not out else 0
            taken, words = fill(out, spoken[start:], budget, words)
            self.used.add(atom_id)
            if taken:
                atoms.append(atom_id)
            rest = spoken[start + taken :]
            if rest:  # the budget was reached inside this atom: the next segment of the run may finish it
                self.carry = (segment_type, atom_id, rest)
                break
            if words >= budget - 1:
                break
        return out, atoms, self._explains(out, analogy_due)

    def _explainable(self, leads: Sequence[tuple[str, bool]]) -> tuple[int, int] | None:
        """When an analogy is due: (lead index, sentence index) of the first paper sentence among the next
        few leads that defines a key concept or makes a comparison and does not lean on the sentence before
        it; the segment then starts there."""
        concepts = [k.phrase for k in self.paper.concepts]
        for i, (atom_id, _) in enumerate(leads[:ANALOGY_LOOKAHEAD]):
            for k, sentence in enumerate(self.paper.spoken[atom_id]):
                if not ANAPHORIC_START.match(sentence) and is_explanation(sentence, concepts, self.paper.patterns):
                    return i, k
        return None

    def _start(self, segment_type: str, spoken: list[str], targets: Sequence[str], budget: float) -> int:
        """Where a segment starts in its lead atom: at its beginning, unless the first target concept is
        named only beyond the budget; then at the sentence that names it (or the nearest one before it that
        does not lean on its predecessor). Openings and closings always start at the beginning."""
        if not targets or segment_type in ("intro", "conclusion"):
            return 0
        pattern = self.paper.patterns[targets[0]]
        hit = next((i for i, s in enumerate(spoken) if pattern.search(s)), None)
        if hit is None:
            return 0
        if sum(len(s.split()) for s in spoken[: hit + 1]) <= budget:
            return 0
        while hit > 0 and ANAPHORIC_START.match(spoken[hit]):
            hit -= 1
        return hit

    def _explains(self, out: list[str], due: bool) -> bool:
        """Whether, an analogy being due, one of the segment's sentences is a definition or a comparison."""
        concepts = [k.phrase for k in self.paper.concepts]
        return due and any(is_explanation(s, concepts, self.paper.patterns) for s in out)

    def figure(self, budget: float) -> tuple[list[str], list[str], str] | None:
        """A figure segment: the next unused captioned figure named by its number, its caption's sentences,
        then the body's sentences that name it."""
        self.carry = None
        for figure in self.paper.figures:
            if figure.id in self.used:
                continue
            self.used.add(figure.id)
            caption = re.sub(
                r"^\s*(?:fig(?:ure)?\.?|table)\s*\d+\s*[.:|]?\s*",
                "",
                plain(figure.caption),
                flags=re.IGNORECASE,
            )
            spoken = spoken_sentences(caption, self.settings.max_sentence_words)
            name = f"Figure {figure.number}" if figure.number is not None else "one of the figures"
            lead = f"Let's look at {name}: {lower_first(spoken[0])}" if spoken else f"Let's look at {name}."
            out = [lead]
            atoms = [self.paper.caption_atoms[figure.id]] if figure.id in self.paper.caption_atoms else []
            words = len(lead.split())
            _, words = fill(out, spoken[1:], budget, words)
            if figure.number is not None:
                for atom_id in sorted(self.paper.spoken, key=self.paper.order.__getitem__):
                    if atom_id in self.used or words >= budget - 1:
                        continue
                    naming = [s for s in self.paper.spoken[atom_id] if figure.number in figure_numbers(s)]
                    taken, words = fill(out, naming, budget, words)
                    if taken:
                        self.used.add(atom_id)
                        atoms.append(atom_id)
            return out, atoms, figure.id
        return None
