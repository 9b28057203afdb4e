"""The offline judges: which key concepts a script covers (matching), and a transparent quality rubric.

Coverage. A key concept counts as covered when the script says it or one of its variants:
- the phrase as the analyser matches it (`concept_pattern`: any spacing or hyphen between its words, a
  plural or possessive ending, any case);
- the phrase with its last word made singular ("LLMs" -> "LLM", "market indices" -> "market indice[s]");
- the acronym the paper gives it in parentheses ("knowledge distillation (KD)" -> "KD"), matched with the
  capitals the paper writes, since a short acronym in lower case is often an everyday word ("IT", "US");
- for an acronym concept, the long form the paper spells out before it ("KD" -> "knowledge distillation").
Long forms are found with the Schwartz-Hearst algorithm (Schwartz & Hearst, "A simple algorithm for
identifying abbreviation definitions in biomedical text", PSB 2003): the acronym's letters are matched right
to left in the words before the parenthesis, the first letter at the start of a word.

Naming a concept is not covering it: the script must explain it, in its own words. A mention counts only where
its window (the sentence that names the concept and the one after it) explains it with the words that are not
a copy of the paper: a window's words that lie in runs of COPY_RUN or more words the paper has too are the
paper's, not the script's (a read-out of the paper names every concept and explains none). Its own words explain
when they hold a definition, an example, an analogy or a comparison (EXPLAINING), or at least MIN_CONTEXT_TERMS
content words besides the concept's ("Today: knowledge distillation." does not explain it; "knowledge
distillation, where a small student model learns from a big teacher" does).
A concept named only in copied or bare sentences is reported as named but not explained.

Quality (always labelled "rubric"). Three scores out of 100, each the mean of component scores in [0, 1]:
- engagement: questions per minute, analogies per segment and enthusiasm markers per minute of the podcast
  as heard, each against the learned style's rate, by closeness = min(measured, learned) /
  max(measured, learned) (1 on target, 0.5 at half or double, 0 for none where the references have some).
- clarity: (a) mean sentence length against the learned mean, scored exp(-z^2 / 2) with z the difference in
  learned standard deviations (1 on the mean, 0.61 one sd off, 0.14 two sd off); (b) the share of the terms
  the podcast uses (the analyser's technical terms and key concepts of each segment) that it defines at
  least once (1 when it uses none: nothing is left undefined), by the definition rule of the style profiles,
  against the reference podcast's share: min(1, share / reference share), defining more than the reference
  never costs. Without a reference the share itself is the score. (The learned style carries definition
  styles but no definition rate, so the pair's reference is the target.)
- accuracy: the share of the script's content sentences (at least MIN_CLAIM_TERMS content terms) that one
  paper atom supports: more than half of the sentence's IDF weight of terms occurs in that atom.

The podcast "as heard" is the analyser's reading of the round-trip transcript, measured by the same
`style_profile` that measured the references: the learned rates come from recogniser transcripts, so the
script is compared like with like (a writer's punctuation would otherwise meet the recogniser's).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import NamedTuple

from podcast_assets.core.analysis.alignment import _terms, concept_pattern
from podcast_assets.core.analysis.models import AlignedSegments, StyleProfile, StyleVariant
from podcast_assets.core.analysis.profiles import _EXAMPLE, _definition_kind, _term_alternation, style_profile
from podcast_assets.core.ingest.models import DocumentGraph, TranscriptionResult
from podcast_assets.core.text import ANALOGY, fold, normalize_text, sentences, singular
from podcast_assets.core.training.models import QualityJudgement

# --------------------------------------------------------------------------- coverage

_PARENTHESISED = re.compile(r"\(\s*([A-Za-z][A-Za-z0-9\-]{1,11})\s*\)")
"""A candidate short form: one word of 2-12 characters in parentheses; it must hold two capitals (below)."""
_FOOTNOTE = re.compile(r"(?<=[A-Za-z])\d+$")
"""A citation or footnote number the PDF glued to the long form's last word ('Common Neighbors37')."""


COPY_RUN = 8
"""Words in a row that a script shares with the paper before they count as copied: short runs ('the large
language model', 'in this paper we') are shared by any two texts on a topic; eight words in a row are not."""
MIN_CONTEXT_TERMS = 4
"""Content words of the script's own (the analyser's terms, the concept's words aside) that make a window
explanatory without a definition, example, analogy or comparison marker."""
EXPLAINING = re.compile(
    r"\b(?:means|refers? to|stands? for|is (?:basically|essentially|simply)|in other words|that is to say"
    r"|called|known as|compared (?:to|with)|unlike|rather than|instead of|versus|whereas|the difference"
    r"|than)\b",
    re.IGNORECASE,
)
"""Markers of a definition or comparison (with ANALOGY and the profiles' example markers, explaining words)."""


class CoverageMatch(NamedTuple):
    covered: list[str]
    missed: list[str]
    found: dict[str, str]
    """Covered concept -> the words of the script that named it, in the first sentence that explains it."""
    named_only: list[str]
    """Missed concepts the script names, but only in copied or bare sentences (in concept order)."""


class PaperRuns:
    """The paper's word sequences of `n` words (COPY_RUN by default; title, abstract and every atom but
    references), to tell which words of a script are copied from it."""

    def __init__(self, graph: DocumentGraph, n: int = COPY_RUN):
        self.n = n
        texts = [graph.title, graph.abstract, *(a.text for a in graph.atoms if a.kind != "reference")]
        self.runs = {
            tuple(words[i : i + n]) for words in (normalize_text(t) for t in texts) for i in range(len(words) - n + 1)
        }

    def copied(self, words: Sequence[str]) -> list[bool]:
        """For each of the (normalised) words, whether it lies in a run of `n` words the paper has too."""
        mask = [False] * len(words)
        for i in range(len(words) - self.n + 1):
            if tuple(words[i : i + self.n]) in self.runs:
                mask[i : i + self.n] = [True] * self.n
        return mask

    def own_words(self, text: str) -> list[str]:
        """The text's words (normalised) that do not lie in a run of `n` words the paper has too."""
        words = normalize_text(text)
        return [w for w, c in zip(words, self.copied(words), strict=True) if not c]


def explains(window: str, concept: str, runs: PaperRuns) -> bool:
    """Whether a window naming `concept` explains it in its own words (see the module docstring)."""
    own = " ".join(runs.own_words(window))
    if EXPLAINING.search(own) or ANALOGY.search(own) or _EXAMPLE.search(own):
        return True
    return len(set(_terms(own)) - set(_terms(concept))) >= MIN_CONTEXT_TERMS


def _normal(phrase: str) -> str:
    """Case-folded words with hyphens as spaces and each word singular: the key variants are compared by."""
    return " ".join(singular(w) for w in re.split(r"[\s\-]+", fold(phrase)) if w)


def _long_form(short: str, candidate: str) -> str | None:
    """Schwartz-Hearst: the shortest tail of `candidate` whose characters spell `short` in order, its first
    letter starting a word; None when there is none."""
    s, c = len(short) - 1, len(candidate) - 1
    while s >= 0:
        letter = short[s].lower()
        if not letter.isalnum():
            s -= 1
            continue
        while c >= 0 and (
            candidate[c].lower() != letter or (s == 0 and c > 0 and candidate[c - 1].isalnum())
        ):
            c -= 1
        if c < 0:
            return None
        c -= 1
        s -= 1
    return candidate[candidate.rfind(" ", 0, c + 1) + 1 :]


def paper_acronyms(graph: DocumentGraph) -> dict[str, str]:
    """Acronym -> long form, as the paper defines them: '<long form> (<ACRONYM>)'. The first definition wins."""
    texts = [graph.title, graph.abstract, *(a.text for a in graph.atoms if a.kind != "reference")]
    found: dict[str, str] = {}
    for text in texts:
        for m in _PARENTHESISED.finditer(text):
            short = m.group(1)
            if sum(ch.isupper() for ch in short) < 2 or short in found:
                continue
            # Schwartz-Hearst's window: at most min(|short| + 5, 2 |short|) words before the parenthesis.
            words = text[: m.start()].split()[-min(len(short) + 5, 2 * len(short)) :]
            long = _long_form(short, " ".join(words))
            if long is None or "(" in long or ")" in long:  # another parenthesis inside: not one long form
                continue
            long = _FOOTNOTE.sub("", long.strip(" ,;:-\"'"))
            if len(long.split()) >= 2 and short.lower() not in long.lower():
                found[short] = long
    return found


def _acronym_pattern(short: str) -> re.Pattern[str]:
    """The acronym as the paper capitalises it (separators between its parts as in concept_pattern), with an
    optional plural or possessive; case-sensitive."""
    base = short[:-1] if short.endswith("s") and short[:-1].isupper() else short
    return re.compile(concept_pattern(base).pattern, 0)


def concept_variants(phrase: str, acronyms: dict[str, str]) -> list[re.Pattern[str]]:
    """The patterns any of which covers the concept (see the module docstring)."""
    patterns = [concept_pattern(phrase)]
    words = phrase.split()
    if words and singular(words[-1]) != words[-1]:
        patterns.append(concept_pattern(" ".join([*words[:-1], singular(words[-1])])))
    key = _normal(phrase)
    for short, long in acronyms.items():
        if _normal(long) == key:
            patterns.append(_acronym_pattern(short))
        elif _normal(short) == key:
            patterns.append(concept_pattern(long))
            long_words = long.split()
            if singular(long_words[-1]) != long_words[-1]:
                patterns.append(concept_pattern(" ".join([*long_words[:-1], singular(long_words[-1])])))
    return patterns


def match_concepts(script_text: str, concepts: Sequence[str], graph: DocumentGraph) -> CoverageMatch:
    """Which of the concepts the script explains (named by any variant, in a window that is neither copied from
    the paper nor bare); the rest are missed, those merely named listed apart (all in concept order)."""
    acronyms = paper_acronyms(graph)
    runs = PaperRuns(graph)
    said = sentences(script_text)
    covered, missed, named, found = [], [], [], {}
    for concept in dict.fromkeys(concepts):
        variants = concept_variants(concept, acronyms)
        mentions = [i for i, sentence in enumerate(said) if any(p.search(sentence) for p in variants)]
        explained = next(
            (i for i in mentions if explains(" ".join(said[i : i + 2]), concept, runs)), None
        )
        if explained is not None:
            covered.append(concept)
            found[concept] = next(m for p in variants if (m := p.search(said[explained]))).group(0)
        else:
            missed.append(concept)
            if mentions:
                named.append(concept)
    return CoverageMatch(covered, missed, found, named)


# --------------------------------------------------------------------------- quality rubric

MIN_CLAIM_TERMS = 3
"""A sentence with fewer content terms (after stopwords and talk words) makes no checkable claim: 'Exactly.',
'That's a great question.', 'Welcome back to the show.'."""
SUPPORT_SHARE = 0.5
"""A claim is supported when more than half of its IDF-weighted terms occur together in one paper atom:
most of what it says is said in one place of the paper."""
ON_TARGET = 0.9
"""A component scoring at least this is within 10% of its target: no suggestion is made for it."""


def closeness(measured: float, target: float) -> float:
    """min / max of two non-negative rates: 1 on target, 0.5 at half or double, 1 when both are 0."""
    if measured < 0 or target < 0:
        raise ValueError(f"rates cannot be negative: {measured}, {target}")
    high = max(measured, target)
    return min(measured, target) / high if high > 0 else 1.0


def sentence_length_score(
    mean_length: float, learned_mean: float, learned_sd: float
) -> tuple[float, float | None]:
    """(score, z): exp(-z^2 / 2) with z = (mean - learned mean) / learned sd. A zero learned sd (every
    reference sentence of one length) leaves no z: the score is 1 on the mean, else 0."""
    diff = mean_length - learned_mean
    if learned_sd <= 0:
        return (1.0 if diff == 0 else 0.0), None
    z = diff / learned_sd
    return math.exp(-(z**2) / 2), z


class DefinedTerms(NamedTuple):
    used: list[str]
    defined: list[str]

    @property
    def share(self) -> float:
        """Share of the used terms that are defined; 1 when no term is used (none is left undefined)."""
        return len(self.defined) / len(self.used) if self.used else 1.0


def defined_terms(segments: AlignedSegments) -> DefinedTerms:
    """The distinct terms the podcast uses (each segment's technical terms and key concepts; case, hyphens and
    plurals folded: 'Encoders' and 'encoder' are one term) and those a sentence of it defines, by the style
    profiles' definition rule (profiles._definition_kind)."""
    used: dict[str, None] = {}
    defined: set[str] = set()
    for seg in segments.segments:
        terms = {_normal(t): t for t in [*seg.technical_terms, *seg.key_concepts] if t.strip()}
        used.update(dict.fromkeys(terms))
        for sentence in sentences(seg.text):
            defined.update(
                key
                for key, term in terms.items()
                if key not in defined and _definition_kind(sentence, _term_alternation([term]))
            )
    return DefinedTerms(list(used), [t for t in used if t in defined])


class Support(NamedTuple):
    content_sentences: int
    supported: int
    unsupported_examples: list[str]


def claim_support(script_text: str, graph: DocumentGraph) -> Support:
    """How many of the script's content sentences a paper atom supports (SUPPORT_SHARE of IDF weight).

    Terms are the analyser's (lowercase singular content words). IDF is smoothed over the paper's atoms,
    idf = ln((1 + N) / (1 + df)) + 1, so a term the paper never uses weighs most: a sentence about something
    else is not carried by a few common words it shares with the paper."""
    atoms = [set(_terms(a.text)) for a in graph.atoms if a.kind != "reference"]
    atoms = [a for a in atoms if a]
    df = Counter(t for a in atoms for t in a)
    n = len(atoms)

    def idf(term: str) -> float:
        return math.log((1 + n) / (1 + df[term])) + 1

    content = 0
    supported = 0
    unsupported: list[str] = []
    for sentence in sentences(script_text):
        terms = set(_terms(sentence))
        if len(terms) < MIN_CLAIM_TERMS:
            continue
        content += 1
        weights = {t: idf(t) for t in terms}
        whole = math.fsum(weights.values())
        best = max((math.fsum(weights[t] for t in terms & atom) for atom in atoms), default=0.0)
        if best / whole > SUPPORT_SHARE:
            supported += 1
        elif len(unsupported) < 3:
            unsupported.append(sentence)
    return Support(content, supported, unsupported)


class _Component(NamedTuple):
    """One part of a score: its value in [0, 1] and what to change when it falls short of ON_TARGET."""

    score: float
    suggestion: str


def _rate(what: str, measured: float, learned: float, unit: str) -> _Component:
    more = "more" if measured < learned else "fewer"
    text = f"{what.format(more=more)}: {measured:.2f}{unit} vs learned {learned:.2f}{unit}"
    return _Component(closeness(measured, learned), text)


def quality_rubric(
    *,
    script_text: str,
    spoken: TranscriptionResult,
    spoken_segments: AlignedSegments,
    graph: DocumentGraph,
    style: StyleVariant,
    reference_segments: AlignedSegments | None = None,
) -> QualityJudgement:
    """The offline quality judgement (see the module docstring for every formula).

    `spoken` is the round-trip transcript of the script's audio and `spoken_segments` the analyser's segments
    of it (engagement and clarity: the podcast as heard); `script_text` is checked against the paper
    (accuracy); `reference_segments`, the reference podcast's, set the defined-terms target."""
    heard: StyleProfile = style_profile(spoken_segments, spoken)

    engagement = {
        "questions": _rate(
            "ask {more} questions", heard.questions_per_minute, style.questions_per_minute, "/min"
        ),
        "analogies": _rate(
            "use {more} analogies", heard.analogies_per_segment, style.analogies_per_segment, "/segment"
        ),
        "enthusiasm": _rate(
            "use {more} enthusiasm markers ('fascinating', 'wow', '!')",
            heard.enthusiasm_per_minute,
            style.enthusiasm_per_minute,
            "/min",
        ),
    }

    length_score, z = sentence_length_score(
        heard.mean_sentence_length, style.mean_sentence_length, style.sentence_length_sd
    )
    direction = "shorter" if heard.mean_sentence_length > style.mean_sentence_length else "longer"
    terms = defined_terms(spoken_segments)
    reference = defined_terms(reference_segments) if reference_segments is not None else None
    target = reference.share if reference is not None and reference.used else None
    if target is None:
        defined_score = terms.share
    else:
        defined_score = min(1.0, terms.share / target) if target > 0 else 1.0
    undefined = ", ".join([t for t in terms.used if t not in set(terms.defined)][:5])
    against = f" vs {target:.0%} in the reference" if target is not None else ""
    clarity = {
        "sentence_length": _Component(
            length_score,
            f"write {direction} sentences: {heard.mean_sentence_length:.1f} words on average vs learned "
            f"{style.mean_sentence_length:.1f} ± {style.sentence_length_sd:.1f}",
        ),
        "defined_terms": _Component(
            defined_score,
            f"define more of the terms used: {len(terms.defined)} of {len(terms.used)} ({terms.share:.0%}"
            f"{against}), e.g. {undefined}",
        ),
    }

    support = claim_support(script_text, graph)
    supported = support.supported / support.content_sentences if support.content_sentences else 0.0
    examples = "; ".join(f'"{s[:80]}"' for s in support.unsupported_examples[:2])
    accuracy = _Component(
        supported,
        f"stay closer to the paper: {support.supported} of {support.content_sentences} content sentences "
        f"are supported by a paper passage" + (f", not e.g. {examples}" if examples else "")
        if support.content_sentences
        else "say what the paper says: no sentence of the script makes a claim that can be checked against it",
    )

    notes = {
        "minutes": (spoken.duration or max((seg.end for seg in spoken_segments.segments), default=0.0)) / 60,
        "segments": float(len(spoken_segments.segments)),
        "questions_per_minute": heard.questions_per_minute,
        "learned_questions_per_minute": style.questions_per_minute,
        "analogies_per_segment": heard.analogies_per_segment,
        "learned_analogies_per_segment": style.analogies_per_segment,
        "enthusiasm_per_minute": heard.enthusiasm_per_minute,
        "learned_enthusiasm_per_minute": style.enthusiasm_per_minute,
        "mean_sentence_length": heard.mean_sentence_length,
        "learned_mean_sentence_length": style.mean_sentence_length,
        "learned_sentence_length_sd": style.sentence_length_sd,
        **({"sentence_length_z": z} if z is not None else {}),
        "terms_used": float(len(terms.used)),
        "terms_defined": float(len(terms.defined)),
        "defined_share": terms.share,
        **({"reference_defined_share": target} if target is not None else {}),
        "content_sentences": float(support.content_sentences),
        "supported_sentences": float(support.supported),
        "support_share_threshold": SUPPORT_SHARE,
        **{f"{name}_score": c.score for name, c in {**engagement, **clarity}.items()},
        "accuracy_score": accuracy.score,
    }
    parts = [*engagement.values(), *clarity.values(), accuracy]
    return QualityJudgement(
        method="rubric",
        engagement=100 * sum(c.score for c in engagement.values()) / len(engagement),
        clarity=100 * sum(c.score for c in clarity.values()) / len(clarity),
        accuracy=100 * accuracy.score,
        notes=notes,
        suggestions=[c.suggestion for c in sorted(parts, key=lambda c: c.score) if c.score < ON_TARGET],
    )
