"""Text helpers every stage shares, each defined once: word normalisation, sentences, stopwords, analogy
markers, references to figures and tables, and the cleaning of reference scripts.

One vocabulary per idea, so that, for instance, the analogies counted in a segment and the "analogy"
style of a definition are found by the same markers.
"""

from __future__ import annotations

import re
import unicodedata

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})
_NON_WORD = re.compile(r"[^\w']+")
_EDGE_APOSTROPHES = re.compile(r"(?<!\w)'+|'+(?!\w)")
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*$")
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?][\"')\]])\s+|(?<=[.!?])\s+")

STOPWORDS = frozenset(
    """
    a about above across after again against all almost along already also although always am among an and
    another any anyone anything are around as at be because been before being below between both but by can
    cannot could did do does doing done down during each either else enough even ever every few for from
    further had has have having he her here hers herself him himself his how however i if in into is it its
    itself just least less like made make makes making many may me might more most much must my myself
    namely near neither no nor not now of off often on once one only onto or other others otherwise our ours
    ourselves out over own per perhaps rather same several shall she should since so some such than that the
    their theirs them themselves then there thereby therefore these they this those though through thus to
    together too toward towards under until up upon us very via was we well were what whatever when where
    whereas whether which while who whom whose why will with within without would yet you your yours
    yourself yourselves
    et al fig figs figure figures table tables section sections eq eqs equation equations appendix ie eg cf
    etc vs resp respectively use used uses using based show shows shown showing see seen given give gives
    obtain obtained propose proposed present presented provide provides provided consider considered
    describe described denote denoted compared compare including include includes new different
    various first second third two three four five six seven eight nine ten high higher low lower large
    larger small smaller good better best able well thus hence also way ways work works paper study studies
    result results approach approaches method methods respectively case cases example examples number
    numbers total set sets type types value values level levels important significant significantly
    particular particularly specific specifically main mainly overall similar further moreover
    furthermore additionally finally et
    """.split()
)
"""Written-English function words and the generic vocabulary of papers: never a key concept or a topic word."""

SPOKEN_STOPWORDS = frozenset(
    """
    yeah yes okay oh wow um uh hmm right really actually just like know think thing things going get got
    lot lots kind sort exactly great question point absolutely mean let's it's that's there's what's
    i'm you're we're they're don't doesn't isn't can't won't gonna wanna say says said talk talking
    today everyone folks guys welcome thanks thank
    """.split()
)
"""Words of talk that carry no topic, on top of STOPWORDS."""


def fold(text: str) -> str:
    """Case-folded text with straight apostrophes, for marker matching."""
    return text.casefold().translate(_APOSTROPHES)


def normalize_text(text: str) -> list[str]:
    """Lowercase words without punctuation; apostrophes inside words are kept ("don't")."""
    text = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES).lower()
    text = _NON_WORD.sub(" ", text).replace("_", " ")
    return _EDGE_APOSTROPHES.sub(" ", text).split()


def singular(word: str) -> str:
    """A cheap singular form, used only to merge plural and singular variants of one word."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "shes", "ches", "xes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def ends_sentence(token: str) -> bool:
    """Whether a word (as Whisper prints it) ends a sentence: a final . ! or ?, closing quotes or brackets aside."""
    return _SENTENCE_END.search(token.strip()) is not None


def sentences(text: str) -> list[str]:
    """The text cut after each sentence-final mark (Whisper punctuates); pieces without a word are dropped."""
    return [s.strip() for s in _SENTENCE_SPLIT.split(text.strip()) if normalize_text(s)]


def is_question(sentence: str) -> bool:
    """Whether the sentence ends in a question mark (closing quotes and brackets aside)."""
    return sentence.rstrip("\"')").endswith("?")


def find_questions(text: str) -> list[str]:
    return [s for s in sentences(text) if is_question(s)]


# --------------------------------------------------------------------------- analogies

ANALOGY = re.compile(
    r"\b(?:(?:it's|it is|that's|that is|this is|is|are|kind of|sort of|a bit|just) like\b"
    r"|think of (?:it|this|that|them|\w+ as)\b|imagine\b|similar to\b|as if\b|as though\b|akin to\b"
    r"|analog(?:y|ies|ous)\b|picture (?:this|a|an)\b|the same way\b)",
    re.IGNORECASE,
)
"""Markers of an analogy: "it's like", "think of", "imagine", "similar to", "as if", "akin to", ..."""


def has_analogy(text: str) -> bool:
    return ANALOGY.search(fold(text)) is not None


def find_analogies(text: str) -> list[str]:
    """Sentences with an analogy marker."""
    return [s for s in sentences(text) if has_analogy(s)]


# --------------------------------------------------------------------------- figures and tables

FIGURE_WORD = r"fig(?:ure)?s?\.?"
"""How a figure is named: figure, figures, fig, fig., figs."""
TABLE_WORD = r"tables?"
FIGURE_NOUNS = r"(?:figure|chart|graph|plot|diagram)"
"""Nouns that may stand for a numbered figure ("the third chart")."""
VISUAL_NOUNS = re.compile(
    r"\b(?:figure|graph|plot|chart|diagram|image|picture|table|axis|curve)s?\b", re.IGNORECASE
)
"""Talk about something seen: a figure, graph, plot, axis, ..."""
ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")

NUMBERED_REFERENCE = re.compile(
    rf"\b(?:(?P<figure>{FIGURE_WORD})|(?P<table>{TABLE_WORD}))\s*(?P<number>\d{{1,3}})\b", re.IGNORECASE
)
"""'Figure 3', 'fig. 2', 'figs 4', 'table 1': a figure or table named by its number."""
ORDINAL_REFERENCE = re.compile(rf"\b({'|'.join(ORDINALS)})\s+{FIGURE_NOUNS}s?\b", re.IGNORECASE)
"""'the third figure', 'the second chart'."""


def figure_numbers(text: str) -> list[int]:
    """Numbers of the figures the text names ('figure 3', 'fig. 2'), in order of mention."""
    return [int(m.group("number")) for m in NUMBERED_REFERENCE.finditer(text) if m.group("figure")]


def figure_ordinals(text: str) -> list[int]:
    """1-based positions of the figures the text names by ordinal ('the third figure' -> 3)."""
    return [ORDINALS.index(m.group(1).lower()) + 1 for m in ORDINAL_REFERENCE.finditer(text)]


def names_a_numbered_visual(text: str) -> bool:
    """Whether the text names a figure or a table by its number."""
    return NUMBERED_REFERENCE.search(text) is not None


# --------------------------------------------------------------------------- reference scripts

_MARKUP = re.compile(r"<[^>]+>")
_SPEAKER_PREFIX = re.compile(r"^\s*(?:speaker|person|host|guest)\s*\d*\s*:\s*", re.IGNORECASE | re.MULTILINE)


def clean_reference_script(raw: str) -> str:
    """The spoken words of a podcast script: SSML-like tags (<prosody ...>, <Person1>) and speaker prefixes
    ('Speaker 1:') removed, white space folded. Used to compare a transcript with the script it was read from."""
    text = _SPEAKER_PREFIX.sub("", _MARKUP.sub(" ", raw))
    return " ".join(text.split())


# --------------------------------------------------------------------------- words as spoken, for comparison

_STAGE = re.compile(
    r"\[[^\]]*\]|\*[^*\n]{1,40}\*|\((?:laughs?|laughter|music|pause|sighs?|applause|inaudible|crosstalk)\)", re.I
)
_LINE_SPEAKER = re.compile(
    r"^\s*(?:\[?(?i:speaker|person|host|guest)[ _]?\d*\]?|[A-Z][a-z]{1,15}(?: [A-Z][a-z]{1,15})?)\s*:\s+", re.M
)
"""A speaker label at a line's start: 'Speaker 1:', 'SPEAKER_2:', '[Host]:', or a name ('Alex:', 'Mary Ann:')."""
FILLERS = re.compile(r"\b(?:u+m+|u+h+|e+r+m+|e+r+|h+m+|m+h+m+|m+m+|uh-huh|you know)\b[,.]?\s*", re.I)
"""Hesitations and the commonest verbal tic: said by people and some voices, written by no script."""


def spoken_words(text: str) -> str:
    """The words of a script or transcript as compared with another: markup (<prosody>, <Person1>), stage
    directions ([laughs], (music), *sighs*), speaker labels at a line's start ('Host:', 'SPEAKER_1:', 'Alex:')
    and fillers removed, white space folded. Both sides of a comparison go through it, so neither a reference's
    'um's nor a script's labels count for or against it."""
    text = _LINE_SPEAKER.sub("", _STAGE.sub(" ", _MARKUP.sub(" ", text)))
    return " ".join(FILLERS.sub(" ", text).split())
