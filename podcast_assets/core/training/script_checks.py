"""Checks that catch nonsense in a written script, by either writer, before anyone listens to it (pure functions;
a trial reports them for every item, and the writers' tests assert them).

A script's turns are its runs of segments by one speaker. Each check counts what it finds and keeps examples:
- copied: the share of the script's words that lie in runs of COPY_WORDS or more words the paper has too (a turn
  that reads the paper out); limit MAX_COPIED_SHARE.
- unanswered: a question (a turn whose last sentence asks) whose next turn is not another speaker's answer (a
  turn with a statement of ANSWER_WORDS words or more), or does not give what the question asks for: a question
  for an amount or a comparison ("how big", "how well", "in numbers") wants a number or a comparison, one for a
  reason ("why") a cause, a figure's a description (`answers`); limit 0.
- keyword_only: a question whose words, once the question words and fillers are set aside, are nothing but one
  key concept or one keyword of the paper (a concept's word or a technical term: "So what is WEZ, exactly?"): a
  question built from a bare keyword; limit 0.
- before_explained: a key concept named in a turn before the first turn that explains it (rubric.explains: in the
  script's own words, with a definition, example, comparison or context), or never explained; reported.
- rejected_phrases: the profile's phrases that are nonsense here (`rejected`: naming a show or a host, or holding
  words that are neither English nor the paper's) found in the script; limit 0.
- imbalance: the largest speaker's share of the words, in a script of two or more speakers; limit MAX_SPEAKER_SHARE.
Besides the checks, `prompting_share` is the share of turns that ask or react (a question, or a turn of at most
REACTION_WORDS words): a dialogue has many, a read-out none.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from wordfreq import zipf_frequency

from podcast_assets.core.analysis.alignment import TERM_ZIPF, concept_pattern
from podcast_assets.core.analysis.models import AggregatedProfile
from podcast_assets.core.ingest.models import DocumentGraph
from podcast_assets.core.text import STOPWORDS, normalize_text, sentences
from podcast_assets.core.training.models import Finding, Script, ScriptChecks
from podcast_assets.core.training.rubric import PaperRuns, explains

COPY_WORDS = 12
MAX_COPIED_SHARE = 0.20
MAX_SPEAKER_SHARE = 0.80
ANSWER_WORDS = 5
REACTION_WORDS = 12
EXAMPLES = 3
MIN_PHRASE_PAIRS = 2
"""A learned phrase is a way of speaking once two podcasts say it; one podcast's phrase is its content."""
ENGLISH_ZIPF = 2.0
"""A word rarer than this in general English (wordfreq) that the paper does not use is not a real word here: a
recogniser's mishearing or a name from another show."""
QUESTION_FILLER = frozenset(
    "so what whats how why when where which who whom whose is are was were do does did can could would will "
    "should tell me us you your about exactly actually really just then now here there little bit more again "
    "okay ok well and but that this these those it its of the a an to in on for with as by".split()
)
_SHOW = re.compile(
    r"\b(?:welcome (?:back )?to|you(?:'re| are) listening to|this is (?:the )?\w+ (?:podcast|show)|your host|"
    r"i'm your|my name is|subscribe|episode \d+)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Turn:
    speaker: str
    text: str


def turns_of(script: Script) -> list[Turn]:
    """The script's runs of segments by one speaker, each one turn."""
    turns: list[Turn] = []
    for segment in script.segments:
        if turns and turns[-1].speaker == segment.speaker:
            turns[-1] = Turn(segment.speaker, f"{turns[-1].text} {segment.text}")
        else:
            turns.append(Turn(segment.speaker, segment.text))
    return turns


_ASKS_AMOUNT = re.compile(r"\b(?:how (?:big|well|much|many|large|often|fast|good|accurate)|in numbers|by how much)\b", re.I)
_ASKS_REASON = re.compile(r"^\W*(?:(?:and|so|but)\s+)?why\b", re.I)
_ASKS_FIGURE = re.compile(r"\bwhat (?:does|do) (?:the|this|that) (?:figure|table|plot|chart)s? show\b", re.I)
_GIVES_AMOUNT = re.compile(
    r"\d|\b(?:percent|twice|half|double|triple|more|less|fewer|higher|lower|better|worse|faster|slower|larger|"
    r"smaller|outperform\w*|superior|inferior|improv\w*|reduc\w*|increas\w*|decreas\w*|best|worst|most|least|"
    r"(?:high|low|larg|small|great|fast|slow|strong|weak|earli|clos)est|no significant)\b",
    re.I,
)
_REFERENCE_NUMBER = re.compile(r"\b(?:fig(?:ure)?s?|tables?|sections?|equations?|chapters?|steps?)\.?\s*\d+(?:\s*(?:,|and)\s*\d+)*", re.I)
"""'Figure 11' is a name, not an amount."""
_GIVES_REASON = re.compile(
    r"\b(?:because|since|due to|as a result|so that|in order to|leads? to|led to|caus\w*|driv\w*|lack\w*|"
    r"without|cannot|can't|fails?|hard|difficult|costly|expensive|limit\w*|problem|challeng\w*|need\w*|"
    r"requir\w*|depend\w*|matters?|important|allows?|enables?|otherwise)\b",
    re.I,
)
_GIVES_FIGURE = re.compile(r"\b(?:shows?|showing|plots?|compares?|presents?|displays?|depicts?|illustrat\w*|"
                           r"each|axis|line|bar|curve|map|panel|colou?r\w*)\b", re.I)  # fmt: skip


def answers(question: str, answer: str) -> bool:
    """Whether `answer` gives the kind of thing `question` asks for, where the question says (an amount or a
    comparison, a reason, what a figure shows); any statement answers an open question."""
    if _ASKS_AMOUNT.search(question):
        return bool(_GIVES_AMOUNT.search(_REFERENCE_NUMBER.sub(" ", answer)))
    if _ASKS_REASON.search(question):
        return bool(_GIVES_REASON.search(answer))
    if _ASKS_FIGURE.search(question):
        return bool(_GIVES_FIGURE.search(answer))
    return True


def _statement_words(text: str) -> int:
    """Words of the longest sentence of the text that does not ask."""
    return max((len(s.split()) for s in sentences(text) if not s.rstrip().endswith("?")), default=0)


def keywords_of(graph: DocumentGraph, concepts: Iterable[str]) -> set[str]:
    """The paper's keywords: the words of its key concepts and its technical terms (words it uses that are rare
    in general English, under the analyser's TERM_ZIPF)."""
    words = {w for c in concepts for w in normalize_text(c)}
    return words | {w for w in paper_vocabulary(graph) if w.isalpha() and zipf_frequency(w, "en") < TERM_ZIPF}


def keyword_only(question: str, concepts: Iterable[str], keywords: Collection[str] = ()) -> bool:
    """Whether the question's words, question words and fillers set aside, are one key concept or one of the
    paper's `keywords`: a frame around a keyword. "What did they find?" and "How would you sum it up?" are not,
    "So what is WEZ, exactly?" is."""
    rest = [w for w in normalize_text(question) if w not in QUESTION_FILLER and w not in STOPWORDS]
    if any(rest == normalize_text(c) for c in concepts):
        return True
    return len(rest) == 1 and rest[0] in keywords


def phrase_problem(phrase: str, vocabulary: set[str], pairs: int | None = None) -> str | None:
    """Why a learned phrase may not be said (None: it may): it was heard in fewer than MIN_PHRASE_PAIRS podcasts
    (`pairs`; then it is that podcast's content, "France is a heavy hitter", not a way of speaking), it names a
    show or a host, or it holds a word that is neither English nor the paper's (a mishearing: "podcast fi",
    "Genei")."""
    if pairs is not None and pairs < MIN_PHRASE_PAIRS:
        return f"heard in {pairs} podcast only: its content, not a pattern"
    if _SHOW.search(phrase):
        return "names a show or a host"
    for word in normalize_text(phrase):
        if word not in vocabulary and zipf_frequency(word, "en") < ENGLISH_ZIPF:
            return f"{word!r} is neither an English word nor the paper's"
    return None


def paper_vocabulary(graph: DocumentGraph) -> set[str]:
    texts = [graph.title, graph.abstract, *(a.text for a in graph.atoms)]
    return {w for t in texts for w in normalize_text(t)}


def rejected(profile: AggregatedProfile, graph: DocumentGraph) -> dict[str, str]:
    """{phrase: why} for the profile's learned phrases (every role's) that are nonsense in a podcast of this paper
    (a show's or host's name, a word neither English nor the paper's). A phrase heard in one podcast only is not
    said as a learned phrase, but is no nonsense when a writer's own words happen to hold it ("what did they find")."""
    vocabulary = paper_vocabulary(graph)
    phrases = {p.phrase for shares in profile.universal_phrases.values() for p in shares}
    return {p: why for p in sorted(phrases) if (why := phrase_problem(p, vocabulary))}


def check_script(
    script: Script, graph: DocumentGraph, *, concepts: Sequence[str], reject: Iterable[str] = ()
) -> ScriptChecks:
    """Every check of the module docstring on `script`, a podcast of `graph`; `concepts` the key concepts it is
    to explain; `reject` the phrases it must not say (the filter's rejections of the profile's phrases)."""
    turns = turns_of(script)
    runs = PaperRuns(graph, COPY_WORDS)
    keywords = keywords_of(graph, concepts)
    words = [normalize_text(t.text) for t in turns]
    masks = [runs.copied(w) for w in words]
    total = sum(len(w) for w in words) or 1
    copied = sum(sum(m) for m in masks)
    copied_turns = [t.text[:160] for t, m in zip(turns, masks, strict=True) if any(m)]

    unanswered, keyword, questions, prompting = [], [], 0, 0
    for i, turn in enumerate(turns):
        said = sentences(turn.text)
        keyword += [q for q in said if q.rstrip().endswith("?") and keyword_only(q, concepts, keywords)]
        asks = bool(said) and said[-1].rstrip().endswith("?")
        if asks or len(turn.text.split()) <= REACTION_WORDS:
            prompting += 1
        if not asks:
            continue
        questions += 1
        following = turns[i + 1] if i + 1 < len(turns) else None
        if (following is None or following.speaker == turn.speaker or _statement_words(following.text) < ANSWER_WORDS
                or not answers(said[-1], following.text)):  # fmt: skip
            unanswered.append(said[-1])

    late = []
    for concept in concepts:
        pattern = concept_pattern(concept)
        named = next((i for i, t in enumerate(turns) if pattern.search(t.text)), None)
        if named is None:
            continue
        explained = next((i for i, t in enumerate(turns) if pattern.search(t.text) and explains(t.text, concept, runs)), None)  # fmt: skip
        if explained is None or explained > named:
            late.append(f"{concept} (named in turn {named + 1}, " + (
                "never explained)" if explained is None else f"explained in turn {explained + 1})"))  # fmt: skip

    text = " ".join(t.text for t in turns).lower()
    said_rejected = [p for p in dict.fromkeys(reject) if p.strip() and p.lower() in text]
    by_speaker: dict[str, int] = {}
    for t, w in zip(turns, words, strict=True):
        by_speaker[t.speaker] = by_speaker.get(t.speaker, 0) + len(w)
    largest = max(by_speaker.values(), default=0) / total
    two = len(by_speaker) >= 2 or len(script.speakers) >= 2
    copied_share = copied / total

    findings = [
        Finding(check="copied", count=len(copied_turns), limit=MAX_COPIED_SHARE, passed=copied_share <= MAX_COPIED_SHARE,
                examples=copied_turns[:EXAMPLES]),
        Finding(check="unanswered", count=len(unanswered), limit=0, passed=not unanswered, examples=unanswered[:EXAMPLES]),
        Finding(check="keyword_only", count=len(keyword), limit=0, passed=not keyword, examples=keyword[:EXAMPLES]),
        Finding(check="before_explained", count=len(late), limit=None, passed=True, examples=late[:EXAMPLES]),
        Finding(check="rejected_phrases", count=len(said_rejected), limit=0, passed=not said_rejected,
                examples=said_rejected[:EXAMPLES]),
        Finding(check="imbalance", count=int(two and largest > MAX_SPEAKER_SHARE), limit=MAX_SPEAKER_SHARE,
                passed=not two or largest <= MAX_SPEAKER_SHARE, examples=[f"{s}: {n} words" for s, n in by_speaker.items()]),
    ]  # fmt: skip
    return ScriptChecks(turns=len(turns), questions=questions, prompting_share=round(prompting / max(len(turns), 1), 4),
                        copied_share=round(copied_share, 4), largest_speaker_share=round(largest, 4),
                        findings=findings)  # fmt: skip
