"""The offline script writer (the default, no network): a podcast script made of the paper's own sentences,
shaped by the aggregated profile and obeying a prompt version's generation settings.

Why a real generator and not a template: every trial is scored against a human podcast of the same paper,
so the script must carry that paper's content (its abstract, methods, results, figures and key concepts) in
the order and proportions the references use. Nothing is invented: every content sentence is a paper
sentence made speakable (citations, equations, URLs and parenthetical asides dropped, abbreviations
spelled out, "we" becomes "they", long sentences cut at clause boundaries). The only words the writer adds
are signposts, questions and framings that state no fact ("Let's look at Figure 2", "So what is X,
exactly?", "Think of X as ..." around the paper's own definition), and the learned phrases of the profile.

The plan (`segment_plan`): the depth plan's seconds per type, scaled to the target length and multiplied by
`settings.type_weights`, become segments of about the type's learned median length, laid out along the
profile's canonical sequence. Documented expansion of the canonical sequence: each of its positions becomes
a run of one or more segments of that type (the type's segments shared evenly over its positions, earlier
positions first); a type with a budget that the canonical sequence lacks is inserted once, before the first
position whose type comes later in the narrative order (intro, background, problem, methodology,
key_finding, figure, implication, limitation, conclusion); a type too small for one segment (and tangent or
transition outside the canonical sequence) gives its seconds to the planned types pro rata. So the
run-compressed script types are the canonical sequence with those insertions (and without types whose
weight is 0).

Which atoms a segment of a type speaks (`_Paper.pools`): the type's pool holds the paper's body paragraphs
whose section (its own title first, then its ancestors at half weight each, through `section_type_prior`)
favours the type, reweighted by the type's cue phrases in the paragraph (`cue_scores`); paragraphs without a
known section title are placed by their position in the paper instead. Within a pool, the paragraphs that
suit the type best come first, each group in reading order; a paragraph that suits another type better
waits for that type while a segment of it is still to come. The abstract serves intro, background and key
findings; figure segments speak a figure's caption ("Figure N") and the body sentences that name it.
References, footnotes, captions, acknowledgements and appendices are never content. Once its own pool is
spent a type may borrow from a close type no later segment needs (`_BORROW`), and background, problem,
implication, limitation and conclusion may then take any paragraph rich in their cue phrases; methodology
and key_finding never borrow, and when the paper holds fewer of their words than planned their segments
are shrunk alike so every run of them still gets some (`_ration`). The first segment of every run is always
written, whatever the extraction found: when its pools are spent it takes the close types' pools and the
cue-found paragraphs (atoms another type waits for included), then the unspoken paragraph that suits its
type best (`_Draft.fallback`); only a later segment of a run is left out when nothing is left for it. An
atom is spoken at most once (a segment may only finish the atom its predecessor of the same run left
unfinished); a segment leads with the earliest unused atom that names its next uncovered key concept, or,
when an analogy is due, one that defines a key concept or makes a comparison. The draft is then fitted to the word budget by `fit_length`'s
rules; a paper with too few speakable sentences gives a shorter script (`paper_supply` tells how much).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from podcast_assets.core.analysis.aggregate import compress_runs
from podcast_assets.core.analysis.alignment import concept_pattern
from podcast_assets.core.analysis.local_typer import (
    ATOM_KIND_TYPES,
    SECTION_TYPES,
    cue_scores,
    section_type_prior,
)
from podcast_assets.core.analysis.models import SEGMENT_TYPES, AggregatedProfile, DepthPlan
from podcast_assets.core.ingest.models import DocumentGraph, Figure, KeyConcept
from podcast_assets.core.text import STOPWORDS, figure_numbers, normalize_text, sentences, singular
from podcast_assets.core.training.models import GenerationSettings, Script, ScriptSegment
from podcast_assets.core.training.spoken import (
    ANAPHORIC_START,
    finish,
    lower_first,
    plain,
    spoken_sentences,
    spoken_title,
)

WRITER = "offline-writer-v1"
"""Recorded in Script.writer; part of what a trial's content address depends on."""
HOST, GUEST = "host", "guest"

NARRATIVE_ORDER: tuple[str, ...] = tuple(t for t in SEGMENT_TYPES if t not in ("tangent", "transition"))
"""Where a type missing from the canonical sequence is inserted (see the module docstring)."""
CONTENT_TYPES = frozenset(NARRATIVE_ORDER) | {"tangent"}
CUE_FALLBACK = frozenset({"background", "problem", "implication", "limitation", "conclusion", "tangent"})
"""Types that, their pools spent, may speak any body paragraph rich in their cue phrases (never methodology
or key_finding, whose sections the paper always has)."""
CUE_FALLBACK_SCORE = 0.3
POOL_SHARE = 0.5
"""An atom joins a type's pool when its affinity to the type exceeds this share of its best affinity."""
ANALOGY_LOOKAHEAD = 6
"""When an analogy is due, a segment may lead with any of its next this-many atoms that can give one."""
FIT_TOLERANCE = 0.02
"""write_script corrects its own first draft when it misses the word budget by more than this share."""

# Types whose pool a segment may borrow from once its own is spent (close in meaning, never across the
# method/result divide).
_BORROW: dict[str, tuple[str, ...]] = {
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


@dataclass(frozen=True)
class PlannedSegment:
    type: str
    words: float


def _depth_plan(profile: AggregatedProfile, target_seconds: float, depth: str | None) -> DepthPlan | None:
    if depth is not None:
        if depth not in profile.depth_targets:
            known = ", ".join(sorted(profile.depth_targets)) or "none"
            raise ValueError(f"depth {depth!r} is not in the aggregated profile (it has: {known})")
        return profile.depth_targets[depth]
    if not profile.depth_targets:
        return None
    return min(
        profile.depth_targets.values(),
        key=lambda p: (abs(p.target_minutes * 60 - target_seconds), p.target_minutes),
    )


def _insert_missing(order: list[str], segment_type: str) -> list[str]:
    rank = NARRATIVE_ORDER.index(segment_type)
    later = [i for i, t in enumerate(order) if t in NARRATIVE_ORDER and NARRATIVE_ORDER.index(t) > rank]
    at = later[0] if later else len(order)
    return [*order[:at], segment_type, *order[at:]]


def segment_plan(
    profile: AggregatedProfile,
    settings: GenerationSettings,
    *,
    target_seconds: float,
    depth: str | None = None,
) -> list[PlannedSegment]:
    """The script's segments, in order, each with its word budget (see the module docstring).

    Seconds per type: the depth plan's (the named depth, else the one whose target length is nearest)
    scaled to `target_seconds`, times the type's weight; without depth plans, the learned time shares of
    `duration_targets`. Words = seconds x words_per_minute / 60."""
    plan = _depth_plan(profile, target_seconds, depth)
    if plan is not None and sum(plan.seconds_by_type.values()) > 0:
        scale = target_seconds / sum(plan.seconds_by_type.values())
        base = {t: s * scale for t, s in plan.seconds_by_type.items() if s > 0}
    else:
        total_share = sum(d.share for d in profile.duration_targets.values()) or 1.0
        base = {
            t: d.share / total_share * target_seconds for t, d in profile.duration_targets.items() if d.share
        }
    seconds = {t: s * settings.type_weights.get(t, 1.0) for t, s in base.items()}
    seconds = {t: s for t, s in seconds.items() if s > 0}

    def median(t: str) -> float:
        target = profile.duration_targets.get(t)
        if target and target.median_seconds > 0:
            return target.median_seconds
        count = plan.segment_counts.get(t, 1) if plan else 1
        return base[t] / max(1, count)

    order = compress_runs([t for t in profile.canonical_sequence if t in seconds])
    spare = 0.0
    for t in sorted(seconds, key=SEGMENT_TYPES.index):
        if t in order:
            continue
        if t in NARRATIVE_ORDER and round(seconds[t] / median(t)) >= 1:
            order = _insert_missing(order, t)
        else:
            spare += seconds.pop(t)
    if not order:
        return []
    kept = sum(seconds.values())
    seconds = {t: s + spare * s / kept for t, s in seconds.items()}
    positions = {t: order.count(t) for t in seconds}
    counts = {t: max(positions[t], round(s / median(t))) for t, s in seconds.items()}
    seen: dict[str, int] = {}
    planned = []
    for t in order:
        k = seen.get(t, 0)
        seen[t] = k + 1
        n = counts[t] // positions[t] + (1 if k < counts[t] % positions[t] else 0)
        words = seconds[t] * settings.words_per_minute / 60 / counts[t]
        planned.extend(PlannedSegment(type=t, words=words) for _ in range(n))
    return planned


# --------------------------------------------------------------------------- the paper, prepared


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
class _Paper:
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
        borrowed = [a for t in _BORROW.get(segment_type, ()) if t in free for a in self.pools.get(t, [])]
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


# --------------------------------------------------------------------------- phrases, questions, framings

_GREETINGS = ("welcome", "hello", "hi")
_SIGNPOSTS: dict[str, tuple[str, ...]] = {
    "intro": ("Let's start with what the paper is about.",),
    "background": ("First, some background.", "Let's set the scene.", "A bit of context first."),
    "problem": ("Here is the problem they set out to solve.", "So, the problem."),
    "methodology": ("Let's look at how they did it.", "Now, the approach.", "On to the method."),
    "key_finding": ("Now to what they found.", "Here is what the results show.", "On to the findings."),
    "figure": ("Let's look at one of the figures.",),
    "implication": ("Now, what this means in practice.", "Why this matters."),
    "limitation": ("Of course, there are caveats.", "Now, the limitations."),
    "conclusion": ("Let's wrap up.", "To sum up."),
    "tangent": ("A quick aside.",),
    "transition": ("Moving on.", "Next."),
}
_CONCEPT_QUESTIONS = (
    "So what {is} {c}, exactly?",
    "Where {does} {c} come in?",
    "How {does} {c} fit into all this?",
    "And what role {does} {c} play here?",
    "Can you unpack {c} a little?",
)
_TYPE_CONCEPT_QUESTIONS: dict[str, str] = {
    "methodology": "How {does} {c} work in their approach?",
    "key_finding": "And what did they find about {c}?",
    "limitation": "Are there caveats around {c}?",
    "implication": "Why {does} {c} matter?",
    "conclusion": "So what's the takeaway on {c}?",
}
_TYPE_QUESTIONS: dict[str, tuple[str, ...]] = {
    "intro": ("So what is this paper about?", "What got them started?"),
    "background": ("What's the background here?", "What should we know first?"),
    "problem": ("What problem are they trying to solve?", "So where does it get hard?"),
    "methodology": ("So how did they actually do it?", "How does that part work?", "What's the next step?"),
    "key_finding": ("And what did they find?", "So what do the results say?", "What else came out of it?"),
    "figure": ("What does the figure show?",),
    "implication": ("Why does this matter?", "What could this change?"),
    "limitation": ("Are there any limitations?", "What are the catches?"),
    "conclusion": ("So what's the big takeaway?", "How would you sum it up?"),
    "tangent": ("Where does that lead?",),
    "transition": ("Where does that lead?",),
}
_DEFINITION = re.compile(
    r"^(?P<term>(?:(?:The|A|An)\s+)?[^,;:]{2,60}?)\s+(?:is|are|refers to|denotes)\s+(?P<rest>(?:a|an|the|one)\b.{8,})$"
)
_COMPARISON = re.compile(
    r"\b(?:similar to|analogous(?: to)?|akin to|just as|in the same way|resembl\w*|mimic\w*|inspired by|"
    r"like an? )",
    re.IGNORECASE,
)


def _phrase_spans(phrases: Sequence[str]) -> list[str]:
    """Learned n-grams chained where one's tail is the next one's head ('diving into the fascinating' +
    'into the fascinating world' -> 'diving into the fascinating world'), in the profile's order."""
    spans = [p.split() for p in phrases if p.split()]
    merged = True
    while merged:
        merged = False
        for i, a in enumerate(spans):
            for j, b in enumerate(spans):
                if i == j:
                    continue
                for k in range(min(len(a), len(b)) - 1, 0, -1):
                    overlap = a[-k:]
                    if overlap == b[:k] and (k >= 2 or overlap[0] not in STOPWORDS):
                        spans[i] = a + b[k:]
                        del spans[j]
                        merged = True
                        break
                if merged:
                    break
            if merged:
                break
    out = [" ".join(s) for s in spans]
    return [s for s in out if not any(s != o and f" {s} " in f" {o} " for o in out)]


def _phrase_sentence(span: str, filler: str | None) -> str | None:
    """A learned span as a spoken sentence: an open-ended span ('... the world of') takes the filler; a
    closed one stands alone when it has three words or more."""
    words = span.split()
    if words[-1] in STOPWORDS:
        return finish(f"{span} {filler}") if filler else None
    return finish(span) if len(words) >= 3 else None


def _is_plural(concept: str) -> bool:
    last = concept.split()[-1]
    return (last.islower() and last.endswith("s") and singular(last) != last) or bool(
        re.fullmatch(r"[A-Z]{2,}s", last)
    )


def _verb(concept: str, singular_form: str, plural_form: str) -> str:
    return plural_form if _is_plural(concept) else singular_form


def _spoken_concept(concept: str) -> str:
    """A single lowercase singular noun takes 'the' in a question ('So what is the reranker?'); phrases,
    names, acronyms and plurals are said as they are."""
    if " " not in concept and concept.islower() and not _is_plural(concept):
        return f"the {concept}"
    return concept


def _question(segment_type: str, concept: str | None, index: int) -> str:
    """A question that introduces the coming segment, varied deterministically by its running index."""
    if concept is None:
        options = _TYPE_QUESTIONS.get(segment_type, ("Where does that lead?",))
        return options[index % len(options)]
    templates = list(_CONCEPT_QUESTIONS)
    if segment_type in _TYPE_CONCEPT_QUESTIONS:
        templates.insert(0, _TYPE_CONCEPT_QUESTIONS[segment_type])
    template = templates[index % len(templates)]
    return template.format(
        c=_spoken_concept(concept),
        **{"is": _verb(concept, "is", "are"), "does": _verb(concept, "does", "do")},
    )


def _cited_name(concept: str, text: str) -> bool:
    """Whether the concept is a cited author here ('Taori and colleagues'): never the subject of a question."""
    return re.search(re.escape(concept) + r"\s+and colleagues", text, re.IGNORECASE) is not None


def _question_concept(concepts: Sequence[str]) -> str | None:
    """The concept a question names: a phrase or an acronym before a single lowercase word that may be a
    verb form ('leveraging'), otherwise by the paper's own ranking."""

    def rank(phrase: str) -> int:
        if " " in phrase or phrase.isupper() or not phrase.islower():
            return 0
        verb_or_adjective = ("ing", "ed", "ly", "ive", "al", "ic", "ous", "ful", "able", "ible")
        return 2 if phrase.endswith(verb_or_adjective) else 1

    candidates = sorted(concepts, key=rank)
    return candidates[0] if candidates and rank(candidates[0]) < 2 else None


def _framed(sentence: str, concepts: Sequence[str], patterns: dict[str, re.Pattern[str]]) -> str | None:
    """The paper's own definition of a key concept ('X is a ...') or its own comparison, framed as an
    explanation ('Think of X as a ...'); None when the sentence is neither."""
    match = _DEFINITION.match(sentence)
    if match:
        term = match.group("term")
        bare = re.sub(r"^(?:The|A|An)\s+", "", term)
        # a key concept, or a name: a capital letter other than the sentence's first
        capitals = bare[1:] if bare == term else bare
        named = any(patterns[c].search(term) for c in concepts) or any(c.isupper() for c in capitals)
        if named and len(bare.split()) <= 6 and bare.split()[0].lower() not in STOPWORDS:
            return f"Think of {lower_first(term)} as {match.group('rest')}"
    if (
        _COMPARISON.search(sentence)
        and not sentence.startswith("Think of")
        and not ANAPHORIC_START.match(sentence)
    ):
        return f"Think of it this way: {lower_first(sentence)}"
    return None


def _topic(paper: _Paper, title: str) -> str:
    """What the episode is about, in a few words: a key concept of the title (a phrase before a word, one
    the abstract opens with first, then by the paper's ranking), else the title."""
    in_title = [k.phrase for k in paper.concepts if paper.patterns[k.phrase].search(title)]
    abstract = paper.graph.abstract or " ".join(a.text for a in paper.graph.atoms if a.kind == "abstract")
    opening = next(iter(sentences(plain(abstract))), "")
    ranked = sorted(in_title, key=lambda c: (" " not in c, not paper.patterns[c].search(opening)))
    return (ranked or [title])[0]


class _Rate:
    """Bresenham-style spacing: `due(words)` is true about once per `every` words, first at half of it."""

    def __init__(self, per_minute: float, words_per_minute: float):
        self.every = words_per_minute / per_minute if per_minute > 0 else math.inf
        self.next = self.every / 2

    def due(self, words: float) -> bool:
        return words >= self.next

    def done(self) -> None:
        self.next += self.every


# --------------------------------------------------------------------------- writing


@dataclass
class _Turn:
    type: str
    speaker: str
    sentences: list[str]
    atoms: list[str] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)

    @property
    def words(self) -> int:
        return sum(len(s.split()) for s in self.sentences)


def _fill(sentences_: list[str], candidate: list[str], budget: float, words: int) -> tuple[int, int]:
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
class _Draft:
    paper: _Paper
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

    def lead_atoms(self, segment_type: str, targets: Sequence[str], required: bool = False) -> list[tuple[str, bool]]:
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
        """Paper sentences for one segment: (sentences, atoms, whether one was framed as an analogy). A
        `required` segment (the first of its run) falls back to wider pools when its own is spent."""
        out: list[str] = []
        atoms: list[str] = []
        words = 0
        if self.carry and self.carry[0] == segment_type:
            _, atom_id, rest = self.carry
            taken, words = _fill(out, rest, budget, words)
            if taken:
                atoms.append(atom_id)
            self.carry = (segment_type, atom_id, rest[taken:]) if rest[taken:] else None
            if words >= budget - 1:
                return out, atoms, self._frame(out, analogy_due)
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
            taken, words = _fill(out, spoken[start:], budget, words)
            self.used.add(atom_id)
            if taken:
                atoms.append(atom_id)
            rest = spoken[start + taken :]
            if rest:  # the budget was reached inside this atom: the next segment of the run may finish it
                self.carry = (segment_type, atom_id, rest)
                break
            if words >= budget - 1:
                break
        return out, atoms, self._frame(out, analogy_due)

    def _explainable(self, leads: Sequence[tuple[str, bool]]) -> tuple[int, int] | None:
        """When an analogy is due: (lead index, sentence index) of the first paper sentence among the next
        few leads that defines a key concept or makes a comparison and does not lean on the sentence before
        it; the segment then starts there."""
        concepts = [k.phrase for k in self.paper.concepts]
        for i, (atom_id, _) in enumerate(leads[:ANALOGY_LOOKAHEAD]):
            for k, sentence in enumerate(self.paper.spoken[atom_id]):
                if not ANAPHORIC_START.match(sentence) and _framed(sentence, concepts, self.paper.patterns):
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

    def _frame(self, out: list[str], due: bool) -> bool:
        if not due:
            return False
        concepts = [k.phrase for k in self.paper.concepts]
        for i, sentence in enumerate(out):
            framed = _framed(sentence, concepts, self.paper.patterns)
            if framed:
                out[i] = framed
                return True
        return False

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
            _, words = _fill(out, spoken[1:], budget, words)
            if figure.number is not None:
                for atom_id in sorted(self.paper.spoken, key=self.paper.order.__getitem__):
                    if atom_id in self.used or words >= budget - 1:
                        continue
                    naming = [s for s in self.paper.spoken[atom_id] if figure.number in figure_numbers(s)]
                    taken, words = _fill(out, naming, budget, words)
                    if taken:
                        self.used.add(atom_id)
                        atoms.append(atom_id)
            return out, atoms, figure.id
        return None


def _speaker_count(profile: AggregatedProfile, speakers: int | None) -> int:
    """2 when asked, or when most reference pairs declare two or more speakers; else 1."""
    if speakers is not None:
        if speakers not in (1, 2):
            raise ValueError(f"speakers must be 1 or 2, not {speakers}")
        return speakers
    total = len(profile.style_variants["all"].pairs) if "all" in profile.style_variants else 0
    several = {
        p
        for key, variant in profile.style_variants.items()
        if key.startswith("speakers:") and key.split(":", 1)[1].isdigit() and int(key.split(":", 1)[1]) >= 2
        for p in variant.pairs
    }
    return 2 if total and len(several) * 2 > total else 1


def speaker_labels(profile: AggregatedProfile, speakers: int | None = None) -> list[str]:
    """The script's speaker labels: ['host', 'guest'] when asked for two speakers or when most reference
    pairs declare two or more (the profile's 'speakers:<n>' style variants), else ['host']. The LLM writer
    is briefed with the same labels, so both writers follow one rule."""
    return [HOST, GUEST] if _speaker_count(profile, speakers) == 2 else [HOST]


def _they(sentences_: list[str]) -> list[str]:
    """'The authors ...' once per segment; later sentences of the segment say 'They ...'."""
    out, named = [], False
    for s in sentences_:
        if s.startswith("The authors "):
            if named:
                s = "They " + s[len("The authors ") :]
            named = True
        out.append(s)
    return out


def write_script(
    graph: DocumentGraph,
    profile: AggregatedProfile,
    settings: GenerationSettings,
    *,
    target_seconds: float,
    prompt_version: str,
    pair_id: str | None = None,
    depth: str | None = None,
    speakers: int | None = None,
) -> Script:
    """A segment-typed podcast script of the paper, planned by `segment_plan` and spoken from the paper's
    own atoms (see the module docstring). Deterministic: the same inputs give the same script.

    Questions come at settings.questions_per_minute (in two-speaker mode the guest asks them, on its turn,
    about the coming segment's key concept); analogies at analogies_per_minute, only where a paper sentence
    defines a key concept or makes a comparison; a learned transition phrase opens a share phrase_use of the
    type changes, a plain signpost the others. The draft is then fitted to the word budget (`fit_length`
    rules) when it misses it by more than FIT_TOLERANCE."""
    if target_seconds <= 0:
        raise ValueError("target_seconds must be positive")
    paper = _Paper(graph, settings.max_sentence_words)
    plan = segment_plan(profile, settings, target_seconds=target_seconds, depth=depth)
    budget_words = max(1, round(sum(p.words for p in plan)))
    plan = _ration(plan, paper)
    two = len(speaker_labels(profile, speakers)) == 2
    title = spoken_title(graph.title) or "this paper"
    draft = _Draft(paper, settings)
    questions = _Rate(settings.questions_per_minute, settings.words_per_minute)
    analogies = _Rate(settings.analogies_per_minute, settings.words_per_minute)
    phrases = {
        role: [p.phrase for p in profile.universal_phrases.get(role, [])]
        for role in ("intro", "transition", "conclusion")
    }
    transition_spans = [s for s in _phrase_spans(phrases["transition"]) if len(s.split()) >= 2]
    turns: list[_Turn] = []
    written = 0
    type_changes = asked = 0
    asked_about: set[str | None] = set()
    signposts: dict[str, int] = {}
    next_speaker = HOST

    def emit(turn: _Turn) -> None:
        nonlocal written, next_speaker
        turns.append(turn)
        written += turn.words
        if two:
            next_speaker = GUEST if turn.speaker == HOST else HOST

    for index, slot in enumerate(plan):
        draft.free = set(SEGMENT_TYPES) - {p.type for p in plan[index + 1 :]}
        opening: list[str] = []
        lead_in = None
        if index == 0:
            opening = _opening(phrases["intro"], _topic(paper, title), title)
        elif slot.type != plan[index - 1].type:
            signpost, lead_in = _transition(
                slot.type, type_changes, settings.phrase_use, transition_spans, signposts
            )
            opening = [signpost]
            type_changes += 1
        budget = slot.words
        # the first segment of each run is always written, so the script keeps the plan's sequence whatever
        # the paper holds; a later segment of the run is left out when nothing is left for it
        first_of_run = index == 0 or slot.type != plan[index - 1].type
        question_due = index > 0 and questions.due(written) and (not two or next_speaker == GUEST)
        made = draft.figure(budget - sum(len(s.split()) for s in opening)) if slot.type == "figure" else None
        if made is not None:
            body, atoms, figure_id = made
            framed = False
        elif slot.type == "figure" and not first_of_run:
            continue
        elif slot.type == "transition":
            body, atoms, figure_id, framed = [], [], None, False
            opening = opening or [_SIGNPOSTS["transition"][0]]
        else:
            room = budget - sum(len(s.split()) for s in opening) - (8 if question_due else 0)
            body, atoms, framed = draft.content(slot.type, max(room, 1), analogies.due(written), first_of_run)
            figure_id = None
            if not body and not first_of_run:
                continue
        if framed:
            analogies.done()
        if lead_in and body and not body[0].startswith(("In ", "Think of")):
            opening, body = [], [lead_in + lower_first(body[0]), *body[1:]]
        question: list[str] = []
        if question_due:
            said = " ".join(body)
            mentioned = [
                c for c in paper.concepts_in(said) if c not in asked_about and not _cited_name(c, said)
            ]
            concept = _question_concept(sorted(mentioned, key=lambda c: c in draft.covered))
            question = [_question(slot.type, concept, asked)]
            asked_about.add(concept)
            asked += 1
            questions.done()
        figures = ([figure_id] if figure_id else []) + paper.figures_named(" ".join(body))
        content = _Turn(slot.type, HOST, _they(body), atoms, list(dict.fromkeys(figures)))
        if two:
            if question:
                emit(_Turn(slot.type, GUEST, opening + question))
                opening = []
            content.speaker = next_speaker
        content.sentences = opening + ([] if two else question) + content.sentences
        if content.sentences:
            emit(content)
        draft.covered.update(paper.concepts_in(" ".join(content.sentences)))
    if not turns:
        turns.append(_Turn(plan[0].type if plan else "intro", HOST, _opening(phrases["intro"], None, title)))
    closing = [
        s for span in _phrase_spans(phrases["conclusion"]) if (s := _phrase_sentence(span, "listening"))
    ]
    turns[-1].sentences.extend(closing)
    script = _script(turns, paper, graph, title, pair_id, prompt_version, target_seconds, budget_words, two)
    if abs(script.word_count - budget_words) > FIT_TOLERANCE * budget_words:
        script = _resize(script, paper, budget_words)
    return script.model_copy(update={"target_words": budget_words})


def _ration(plan: list[PlannedSegment], paper: _Paper) -> list[PlannedSegment]:
    """The plan with each type's segments shrunk to what the paper holds for that type (its pool's words,
    less a margin for sentences a segment skips), so a scarce type still reaches every one of its runs
    instead of being spent by the first; the words it cannot fill go to the other types when the draft is
    fitted to the budget."""
    planned: dict[str, float] = {}
    for slot in plan:
        planned[slot.type] = planned.get(slot.type, 0.0) + slot.words
    later = set(planned)
    supply = {
        t: sum(
            len(s.split())
            for a in paper.pools.get(t, [])
            if paper.best_type(a) == t or paper.best_type(a) not in later
            for s in paper.spoken[a]
        )
        for t in planned
    }
    scale = {
        t: min(1.0, RATION_MARGIN * supply[t] / words) if supply[t] and t in _RATIONED else 1.0
        for t, words in planned.items()
    }
    return [PlannedSegment(type=p.type, words=p.words * scale[p.type]) for p in plan]


_RATIONED = frozenset({"methodology", "key_finding"})
"""The types that never borrow: their runs must share what the paper has."""
RATION_MARGIN = 0.8


def _opening(intro_phrases: Sequence[str], topic: str | None, title: str) -> list[str]:
    """The episode's first words: the learned intro phrases (greetings first), then the paper's title."""
    spans = sorted(_phrase_spans(intro_phrases), key=lambda s: not s.startswith(_GREETINGS))
    said = [s for span in spans if (s := _phrase_sentence(span, topic))]
    return [*said[:2], finish(f"The paper is called {title}")]


def _transition(
    segment_type: str, change: int, share: float, spans: Sequence[str], signposts: dict[str, int]
) -> tuple[str, str | None]:
    """The first words of a new segment type: (a sentence, or a lead-in for the segment's first sentence
    that replaces it). A learned transition span opens `share` of the type changes (spread evenly): an
    open-ended span ('moving on to the') is completed with the type's noun, a span naming the work ('this
    research') leads into the first sentence ('In this research, ...'), another span of three words or more
    stands alone. The other type changes get the type's plain signpost (rotating through its variants)."""
    k = signposts.get(segment_type, 0)
    options = _SIGNPOSTS.get(segment_type, ("Moving on.",))
    signpost = options[k % len(options)]
    learned = math.floor((change + 1) * share + 1e-9) - math.floor(change * share + 1e-9)
    if learned and spans:
        span = spans[change % len(spans)]
        words = span.split()
        if words[0] in _DETERMINERS and words[-1] not in STOPWORDS:
            return signpost, f"In {span}, "
        sentence = _phrase_sentence(span, _TYPE_NOUNS.get(segment_type))
        if sentence:
            return sentence, None
    signposts[segment_type] = k + 1
    return signpost, None


_DETERMINERS = frozenset({"this", "the", "that", "these", "those", "their", "our"})


_TYPE_NOUNS: dict[str, str] = {
    "intro": "the paper",
    "background": "the background",
    "problem": "the problem",
    "methodology": "the method",
    "key_finding": "the results",
    "figure": "the figures",
    "implication": "what it means",
    "limitation": "the limitations",
    "conclusion": "the conclusion",
    "tangent": "a side note",
    "transition": "the next part",
}


def _script(
    turns: Sequence[_Turn],
    paper: _Paper,
    graph: DocumentGraph,
    title: str,
    pair_id: str | None,
    prompt_version: str,
    target_seconds: float,
    target_words: int,
    two: bool,
) -> Script:
    segments = [
        ScriptSegment(
            type=t.type,  # type: ignore[arg-type]
            speaker=t.speaker,
            text=" ".join(t.sentences),
            figures=list(dict.fromkeys([*t.figures, *paper.figures_named(" ".join(t.sentences))])),
            concepts=paper.concepts_in(" ".join(t.sentences)),
            atoms=list(dict.fromkeys(t.atoms)),
        )
        for t in turns
        if t.sentences
    ]
    return Script(
        pair_id=pair_id,
        title=title or graph.title or "Untitled paper",
        writer=WRITER,
        prompt_version=prompt_version,
        target_seconds=target_seconds,
        target_words=target_words,
        speakers=[HOST, GUEST] if two else [HOST],
        segments=segments,
    )


# --------------------------------------------------------------------------- length fitting


def paper_supply(graph: DocumentGraph, settings: GenerationSettings) -> dict[str, int]:
    """Words the writer could speak per segment type (its pool, close types' pools and cue-found paragraphs,
    counted once per type): the ceiling of what lengthening can reach for a paper. A mathematical or very
    short paper yields fewer speakable words than a long podcast needs, and then the script is shorter."""
    paper = _Paper(graph, settings.max_sentence_words)
    every_type = set(SEGMENT_TYPES)
    return {
        t: sum(len(s.split()) for a, _ in paper.pool(t, every_type) for s in paper.spoken[a])
        for t in SEGMENT_TYPES
        if paper.pool(t, every_type)
    }


def fit_length(
    script: Script,
    graph: DocumentGraph,
    profile: AggregatedProfile,
    settings: GenerationSettings,
    *,
    factor: float,
) -> Script:
    """The script lengthened (factor > 1) or cut (factor < 1) to about factor x its word count, for the
    length-correction loop (factor = target / measured seconds).

    Lengthening adds paper sentences to the content segments by the writer's rules (each segment's type
    pool, unused atoms only, reading order after the segment's last atom first), the segments furthest below
    factor x their own length first. Cutting drops the last sentence of the longest segment, again and
    again, never a segment's first sentence, a sentence naming a figure, a question or the final sign-off.
    Segment types, order and speakers never change. A script already using every suitable atom can only
    grow that far. `profile` is accepted so the call matches write_script's; the plan is not redone."""
    if factor <= 0:
        raise ValueError("factor must be positive")
    del profile  # the plan is not redone: only the segments' lengths change
    paper = _Paper(graph, settings.max_sentence_words)
    target = max(1, round(script.word_count * factor))
    resized = _resize(script, paper, target)
    return resized.model_copy(update={"target_words": target})


def _resize(script: Script, paper: _Paper, target: int) -> Script:
    turns = [
        _Turn(s.type, s.speaker, sentences(s.text), list(s.atoms), list(s.figures)) for s in script.segments
    ]
    total = sum(t.words for t in turns)
    if total < target:
        _lengthen(turns, paper, target)
    elif total > target:
        _cut(turns, paper, target)
    segments = []
    for turn, old in zip(turns, script.segments, strict=True):
        text = " ".join(turn.sentences)
        segments.append(
            old.model_copy(
                update={
                    "text": text,
                    "atoms": turn.atoms,
                    "concepts": paper.concepts_in(text),
                    "figures": list(dict.fromkeys([*old.figures, *paper.figures_named(text)])),
                }
            )
        )
    return script.model_copy(update={"segments": segments})


def _content_end(turn: _Turn, paper: _Paper) -> int:
    """Index after the segment's last sentence that comes from one of its atoms (new content goes there,
    before a closing phrase)."""
    for i in range(len(turn.sentences) - 1, -1, -1):
        if paper.atom_of(turn.sentences[i], turn.atoms):
            return i + 1
    return len(turn.sentences)


def _content_words(sentence: str) -> set[str]:
    return {singular(w) for w in normalize_text(sentence) if w not in STOPWORDS}


def _tails(turns: list[_Turn], paper: _Paper) -> dict[int, list[tuple[str, str]]]:
    """Per segment, the sentences of its atoms after the last one it says (a segment stopped at its budget
    inside a paragraph): lengthening finishes a paragraph before it opens a new one. An atom two segments
    share belongs to the later one."""
    said = [_content_words(s) for t in turns for s in t.sentences]
    owner = {a: i for i, t in enumerate(turns) for a in t.atoms}
    tails: dict[int, list[tuple[str, str]]] = {}
    for atom_id, i in sorted(owner.items(), key=lambda item: (item[1], paper.order.get(item[0], 0))):
        spoken = paper.spoken.get(atom_id, [])
        words = [_content_words(s) for s in spoken]
        last = max(
            (k for k, w in enumerate(words) if w and any(len(w & x) >= 0.8 * len(w) for x in said)),
            default=None,
        )
        if last is not None:
            tails.setdefault(i, []).extend((atom_id, s) for s in spoken[last + 1 :])
    return tails


def _lengthen(turns: list[_Turn], paper: _Paper, target: int) -> None:
    used = {a for t in turns for a in t.atoms} | {f for t in turns for f in t.figures}
    every_type = set(SEGMENT_TYPES)  # the script is written: no later segment waits for an unused atom
    scale = target / max(1, sum(t.words for t in turns))
    goals = [t.words * scale for t in turns]
    carry = _tails(turns, paper)
    open_ = {i for i, t in enumerate(turns) if t.atoms and t.type in CONTENT_TYPES}
    total = sum(t.words for t in turns)
    while total < target and open_:
        i = max(open_, key=lambda k: (goals[k] - turns[k].words, -k))
        turn = turns[i]
        queue = carry.get(i) or []
        if not queue:
            last = max((paper.order.get(a, -1) for a in turn.atoms), default=-1)
            free = [a for a, _ in paper.pool(turn.type, every_type) if a not in used and paper.spoken.get(a)]
            after = [a for a in free if paper.order[a] > last]
            nxt = (after or free)[:1]
            if not nxt:
                open_.discard(i)
                continue
            used.add(nxt[0])
            queue = [(nxt[0], s) for s in paper.spoken[nxt[0]]]
        atom_id, sentence = queue.pop(0)
        carry[i] = queue
        n = len(sentence.split())
        if total + n / 2 > target:
            open_.discard(i)
            continue
        own = [k for k, s in enumerate(turn.sentences) if paper.atom_of(s, [atom_id])]
        at = own[-1] + 1 if own else _content_end(turn, paper)
        turn.sentences.insert(at, sentence)
        if atom_id not in turn.atoms:
            turn.atoms.append(atom_id)
        total += n


def _protected(turn: _Turn, index: int, last: bool) -> bool:
    sentence = turn.sentences[index]
    return (
        index == 0
        or sentence.rstrip("\"')").endswith("?")
        or bool(figure_numbers(sentence))
        or (last and index == len(turn.sentences) - 1)
    )


def _cut(turns: list[_Turn], paper: _Paper, target: int) -> None:
    total = sum(t.words for t in turns)
    while total > target:
        dropped = False
        for i in sorted(range(len(turns)), key=lambda k: (-turns[k].words, k)):
            turn = turns[i]
            last = i == len(turns) - 1
            droppable = [j for j in range(len(turn.sentences)) if not _protected(turn, j, last)]
            # the segment's last sentence from its content first (closing phrases stay)
            droppable.sort(key=lambda j: (paper.atom_of(turn.sentences[j], turn.atoms) is None, -j))
            j = next((j for j in droppable if total - target >= len(turn.sentences[j].split()) / 2), None)
            if j is None:
                continue
            total -= len(turn.sentences.pop(j).split())
            turn.atoms = [
                a
                for a in turn.atoms
                if a not in paper.words or any(paper.atom_of(s, [a]) for s in turn.sentences)
            ]
            dropped = True
            break
        if not dropped:
            return
