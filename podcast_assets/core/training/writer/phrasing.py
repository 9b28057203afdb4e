"""The words the writer adds to the paper's own: the opening, signposts and learned transition phrases at type
changes, questions about the coming segment, and the paper's own definitions and comparisons framed as
explanations. None of them states a fact.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from podcast_assets.core.text import STOPWORDS, sentences, singular
from podcast_assets.core.training.spoken import ANAPHORIC_START, finish, lower_first, plain
from podcast_assets.core.training.writer.paper import Paper

_GREETINGS = ("welcome", "hello", "hi")
SIGNPOSTS: dict[str, tuple[str, ...]] = {
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


def phrase_spans(phrases: Sequence[str]) -> list[str]:
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


def phrase_sentence(span: str, filler: str | None) -> str | None:
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


def question_for(segment_type: str, concept: str | None, index: int) -> str:
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


def cited_name(concept: str, text: str) -> bool:
    """Whether the concept is a cited author here ('Taori and colleagues'): never the subject of a question."""
    return re.search(re.escape(concept) + r"\s+and colleagues", text, re.IGNORECASE) is not None


def question_concept(concepts: Sequence[str]) -> str | None:
    """The concept a question names: a phrase or an acronym before a single lowercase word that may be a
    verb form ('leveraging'), otherwise by the paper's own ranking."""

    def rank(phrase: str) -> int:
        if " " in phrase or phrase.isupper() or not phrase.islower():
            return 0
        verb_or_adjective = ("ing", "ed", "ly", "ive", "al", "ic", "ous", "ful", "able", "ible")
        return 2 if phrase.endswith(verb_or_adjective) else 1

    candidates = sorted(concepts, key=rank)
    return candidates[0] if candidates and rank(candidates[0]) < 2 else None


def as_explanation(
    sentence: str, concepts: Sequence[str], patterns: dict[str, re.Pattern[str]]
) -> str | None:
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


def topic(paper: Paper, title: str) -> str:
    """What the episode is about, in a few words: a key concept of the title (a phrase before a word, one
    the abstract opens with first, then by the paper's ranking), else the title."""
    in_title = [k.phrase for k in paper.concepts if paper.patterns[k.phrase].search(title)]
    abstract = paper.graph.abstract or " ".join(a.text for a in paper.graph.atoms if a.kind == "abstract")
    opening = next(iter(sentences(plain(abstract))), "")
    ranked = sorted(in_title, key=lambda c: (" " not in c, not paper.patterns[c].search(opening)))
    return (ranked or [title])[0]


def opening_words(intro_phrases: Sequence[str], topic: str | None, title: str) -> list[str]:
    """The episode's first words: the learned intro phrases (greetings first), then the paper's title."""
    spans = sorted(phrase_spans(intro_phrases), key=lambda s: not s.startswith(_GREETINGS))
    said = [s for span in spans if (s := phrase_sentence(span, topic))]
    return [*said[:2], finish(f"The paper is called {title}")]


def transition(
    segment_type: str, change: int, share: float, spans: Sequence[str], signposts: dict[str, int]
) -> tuple[str, str | None]:
    """The first words of a new segment type: (a sentence, or a lead-in for the segment's first sentence
    that replaces it). A learned transition span opens `share` of the type changes (spread evenly): an
    open-ended span ('moving on to the') is completed with the type's noun, a span naming the work ('this
    research') leads into the first sentence ('In this research, ...'), another span of three words or more
    stands alone. The other type changes get the type's plain signpost (rotating through its variants)."""
    k = signposts.get(segment_type, 0)
    options = SIGNPOSTS.get(segment_type, ("Moving on.",))
    signpost = options[k % len(options)]
    learned = math.floor((change + 1) * share + 1e-9) - math.floor(change * share + 1e-9)
    if learned and spans:
        span = spans[change % len(spans)]
        words = span.split()
        if words[0] in _DETERMINERS and words[-1] not in STOPWORDS:
            return signpost, f"In {span}, "
        sentence = phrase_sentence(span, _TYPE_NOUNS.get(segment_type))
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


def they(sentences_: list[str]) -> list[str]:
    """'The authors ...' once per segment; later sentences of the segment say 'They ...'."""
    out, named = [], False
    for s in sentences_:
        if s.startswith("The authors "):
            if named:
                s = "They " + s[len("The authors ") :]
            named = True
        out.append(s)
    return out
