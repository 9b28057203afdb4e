"""The words the writer adds to the paper's own: the opening, signposts and learned transition phrases at type
changes, questions about the coming segment, fitted to what the answer gives, and reactions. None of them states a fact.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from podcast_assets.core.text import STOPWORDS, sentences
from podcast_assets.core.training.script_checks import answers
from podcast_assets.core.training.spoken import ANAPHORIC_START, finish, plain
from podcast_assets.core.training.writer.paper import Paper

_GREETINGS = ("welcome", "hello", "hi")
GREETING = "Hello and welcome."
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
_TYPE_QUESTIONS: dict[str, tuple[str, ...]] = {
    "intro": ("So what is this paper about?", "What got them started?"),
    "background": ("What's the background here?", "What should we know first?"),
    "problem": ("What problem are they trying to solve?", "So where does it get hard?"),
    "methodology": ("So how did they actually do it?", "How does that part work?", "What's the next step?"),
    "key_finding": ("And what did they find?", "So what do the results say?", "What else came out of it?"),
    "figure": ("What does the figure show?", "What are we looking at here?"),
    "implication": ("Why does this matter?", "What could this change?"),
    "limitation": ("Are there any limitations?", "What are the catches?"),
    "conclusion": ("So what's the big takeaway?", "How would you sum it up?"),
    "tangent": ("Where does that lead?",),
    "transition": ("Where does that lead?",),
}
_FINDING_WITH_NUMBERS = ("How well did it work, in numbers?", "How big is the effect?")
"""Asked before findings whose answer holds the paper's numbers."""
_OPEN = ("Tell me more.", "Go on, what's next?")
"""Asked when none of the type's questions fits the answer (each type has open ones, so rarely)."""
_FOLLOW_UPS: dict[str, tuple[str, ...]] = {
    "methodology": ("And what happens next?", "How does that step work?", "And then?"),
    "key_finding": ("What else came out of it?", "And what about the rest?"),
    "background": ("And why does that matter here?",),
    "problem": ("Why is that hard?",),
    "implication": ("Who would use that?",),
    "limitation": ("Anything else they leave open?",),
}
"""The host's follow-up question inside a long answer, by segment type."""
BACKCHANNELS = ("Right.", "Okay.", "I see.", "Got it.", "Go on.", "Interesting.")
"""The host's short reactions inside a long answer when no question is due."""
_DEFINITION = re.compile(
    r"^(?P<term>(?:(?:The|A|An)\s+)?[^,;:]{2,60}?)\s+(?:(?:is|are)(?: defined as)?\s+(?:a|an|one)\b|refers? to|denotes)"
    r"\s+(?P<rest>.{8,})$"
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


def question_for(segment_type: str, index: int, answer: str, *, after_setup: bool = False) -> str:
    """The host's question that opens a segment, asked of what the paper's structure answers there (what problem,
    how, how well, what it means, what it leaves open), varied deterministically by its running index, and one
    that `answer` (what the expert says next) gives what it asks for (script_checks.answers: no "how big is the
    effect?" before a sentence without an amount); before findings that hold an amount, it asks for it. When the
    host has just set the part up with its first sentence (`after_setup`), the question follows that up ("What
    else came out of it?", not "And what did they find?" after saying a finding). Never built from a keyword."""
    follow = _FOLLOW_UPS.get(segment_type, ()) if after_setup else ()
    asked = _TYPE_QUESTIONS.get(segment_type, _OPEN)
    if segment_type == "key_finding" and answers(_FINDING_WITH_NUMBERS[0], answer):
        asked = _FINDING_WITH_NUMBERS
    for options in (follow, asked):
        fitting = _first_fitting(options, index, answer)
        if fitting:
            return fitting
    return _OPEN[index % len(_OPEN)]


def _first_fitting(options: Sequence[str], index: int, answer: str) -> str | None:
    """The first of `options`, rotated by `index`, that `answer` answers."""
    rotated = [options[(index + k) % len(options)] for k in range(len(options))]
    return next((q for q in rotated if answers(q, answer)), None)


def follow_up(segment_type: str, index: int, *, ask: bool, answer: str) -> str:
    """What the host says between two parts of a long answer: a follow-up question when one is due and `answer`
    (the next part) gives what it asks for, else a short reaction."""
    fitting = _first_fitting(_FOLLOW_UPS.get(segment_type, ("And then?",)), index, answer) if ask else None
    return fitting or BACKCHANNELS[index % len(BACKCHANNELS)]


def is_explanation(sentence: str, concepts: Sequence[str], patterns: dict[str, re.Pattern[str]]) -> bool:
    """Whether the sentence is the paper's own definition of a key concept or a name ('X is a ...', 'X refers
    to ...') or the paper's own comparison ('similar to', 'like a'); it is said as the paper says it. (Such
    sentences used to be framed 'Think of X as ...': a prefix that made any sentence sound like an analogy and
    counted as one.)"""
    match = _DEFINITION.match(sentence)
    if match:
        term = match.group("term")
        bare = re.sub(r"^(?:The|A|An)\s+", "", term)
        # a key concept, or a name: a capital letter other than the sentence's first
        capitals = bare[1:] if bare == term else bare
        named = any(patterns[c].search(term) for c in concepts) or any(c.isupper() for c in capitals)
        if named and len(bare.split()) <= 6 and bare.split()[0].lower() not in STOPWORDS:
            return True
    return bool(_COMPARISON.search(sentence)) and not ANAPHORIC_START.match(sentence)


def topic(paper: Paper, title: str) -> str:
    """What the episode is about, in a few words: a key concept of the title (a phrase before a word, one
    the abstract opens with first, then by the paper's ranking), else the title."""
    in_title = [k.phrase for k in paper.concepts if paper.patterns[k.phrase].search(title)]
    abstract = paper.graph.abstract or " ".join(a.text for a in paper.graph.atoms if a.kind == "abstract")
    opening = next(iter(sentences(plain(abstract))), "")
    ranked = sorted(in_title, key=lambda c: (" " not in c, not paper.patterns[c].search(opening)))
    return (ranked or [title])[0]


def opening_words(intro_phrases: Sequence[str], topic: str | None, title: str) -> list[str]:
    """The episode's first words: the learned intro phrases (greetings first; a plain greeting when none of them
    greets, since every episode opens with one), then the paper's title."""
    spans = sorted(phrase_spans(intro_phrases), key=lambda s: not s.startswith(_GREETINGS))
    said = [s for span in spans if (s := phrase_sentence(span, topic))][:2]
    if not any(s.lower().startswith(_GREETINGS) for s in said):
        said.insert(0, GREETING)
    return [*said, finish(f"The paper is called {title}")]


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
