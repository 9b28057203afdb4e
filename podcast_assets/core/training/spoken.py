"""Paper sentences made speakable, for the offline writer: citations, equations, URLs, parenthetical asides
and openings that point along the paper's pages ("In this study,") dropped, sentences that only narrate its
layout ("Finally, we present a discussion") skipped, abbreviations spelled out, "we" becomes "they", long
sentences cut at clause boundaries, titles read aloud. Nothing is added: a sentence that cannot be spoken is
skipped."""

from __future__ import annotations

import re
import unicodedata

from podcast_assets.core.text import STOPWORDS, sentences

MIN_SENTENCE_WORDS = 5


_ABBREVIATIONS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), r)
    for p, r in (
        (r"\be\.\s?g\.(?:,)?", "for example,"),
        (r"\bi\.\s?e\.(?:,)?", "that is,"),
        (r"\bet\s+al\.?(?:'s)?", "and colleagues"),
        (r"\betc\.(?=\s+[A-Z]|\s*$)", "and so on."),
        (r"\betc\.", "and so on"),
        (r"\bvs?\.\s", "versus "),
        (r"\bcf\.\s", "compare "),
        (r"\bw\.r\.t\.", "with respect to"),
        (r"\bapprox\.\s", "approximately "),
        (r"\bresp\.\s", "respectively "),
        (r"\b[Ff]igs?\.\s*(?=\d)", "Figure "),
        (r"\b[Ee]qs?\.\s*(?=\(?\d)", "equation "),
        (r"\b[Ss]ecs?\.\s*(?=\d)", "section "),
        (r"\b[Tt]ab\.\s*(?=\d)", "table "),
        (r"\b[Nn]o\.\s*(?=\d)", "number "),
        (r"\bDr\.\s", "Doctor "),
    )
)
_INITIALISM = re.compile(r"\b(?:[A-Z]\.){2,}")
_BRACKETS = re.compile(r"\s*\[([^\[\]]*)\]")
_CITATION_INSIDE = re.compile(r"^[\d\s,;–\-]+$|\b(?:19|20)\d{2}[a-z]?\b|and colleagues")
"""What a bracket holds when it is a citation: reference numbers, or an author and a year."""
_PARENS = re.compile(r"(\s*)(\S*)(\s*)\(([^()]*)\)")
_ARGUMENT_WORDS = frozenset({"of", "to", "from", "is", "are", "was", "were", "be", "by", "with"}) | frozenset(
    {"at", "in", "on", "as", "than", "between", "and", "or", "for", "into"}
)
"""A bracket after one of these words is part of the sentence ('a ratio of (0.75, 1.33)'), not an aside."""
_UNSPEAKABLE = "\x00"
"""Marks text that cannot be read aloud once its brackets are gone: the sentence holding it is skipped."""
_SUBFIGURE = re.compile(r"\b((?:Figure|Table)\s*\d+)(?:\s*\([a-z]\)|[a-z]\b)")
_RUN_IN_HEADING = re.compile(
    r"^(?:[A-Z][\w\-]*(?:\s+(?:[A-Z][\w\-]*|and|of|for|the|in|on|to|with|a|an|vs)){0,5})[:.]\s+(?=[A-Z])"
)
"""A paragraph's run-in heading ('Contrastive Learning: The core idea ...')."""
_LEADING_REFERENCE = re.compile(
    r"^As (?:discussed|described|shown|detailed|mentioned|defined|illustrated|seen) (?:in|by) "
    r"(?:Section|Appendix|Algorithm|equation|Equation)\s*[\w.]*?,\s*"
)
_DOCUMENT_FLOW = re.compile(
    r"^(?:In (?:this|the present|our) (?:study|article|paper|work|section|chapter|manuscript|letter|report),|"
    r"For such,|In other words,|Afterwards,|Here,|To this end,|Initially,)\s+",
    re.IGNORECASE,
)
"""A sentence's opening words that point along the paper's pages ('In this study,', 'Afterwards,'): in a
conversation they point nowhere, so they are not said."""
_NAVIGATION = re.compile(
    r"\b(?:[Ss]ections?|[Aa]ppendix|[Aa]ppendices|[Cc]hapters?|Algorithms?\s*\d|Algorithms?\b(?!\s+[a-z])|"
    r"[Ee]quations?|Eqs?\.?|Lemma|Theorem|Supplementary|Refs?\.\s*\d+)\b"
)
"""Sentences that point into the paper's apparatus are not spoken."""
_ROADMAP = re.compile(
    r"^(?:(?:then|next|finally|afterwards|first|second|lastly|subsequently),?\s+)?"
    r"(?:we|this (?:paper|article|study|work|section|chapter)|the (?:paper|article|study))\s+"
    r"(?:(?:then|also|first|finally|briefly|further)\s+)?"
    r"(?:present|describe|discuss|introduce|outline|review|summari[sz]e|detail|provide|report|give)s?\b"
    r"(?:\W+\w+){0,7}?\W+(?:results?|experiments?|discussions?|conclusions?|analys[ie]s|overview|summary|details|"
    r"related work|literature|background|evaluation|set-?up|approach|methodology|framework|data ?sets?|findings|"
    r"implications|limitations|future work)\b",
    re.IGNORECASE,
)
_NEW_CONTENT = re.compile(r"\d|\b(?:novel|new|that|which|where|whose)\b", re.IGNORECASE)
"""A sentence that narrates the paper's layout ('Afterwards, we present a set of predictive analyses ...', 'Finally,
we present a discussion about ...') says where things are in the text, not what they are: it is not spoken, unless
it also says something (a number, a new thing, a clause about it)."""
_CODE_LINE = re.compile(r"(?:^|\s)\d{1,2}:\s|\bend (?:for|if|while)\b|\bRequire:")
_URL = re.compile(r"https?://\S+|www\.\S+|\S+@\S+")
_GLUED_CITATION = re.compile(r"(?<=[a-z]{3})\d{1,3}(?:[–,\-]\d{1,3})*(?=[\s.,;:!?]|$)")
"""Superscript reference numbers the PDF text glues to a word: 'task22.', 'by6', 'series23,'."""
_LISTED_CITATION = re.compile(r"(?<=[a-z]{3})\s+\d{1,3}(?:,\d{1,2})+(?=[.;:!?]|\s|$)")
"""Reference numbers after a word, listed without spaces: 'climatic conditions 81,82.' (not '1,000')."""
_ENUMERATOR = re.compile(r"(?:(?<=^)|(?<=\s))(?:\d{1,2}\)|[ivx]{1,4}\))\s*|^\d{1,2}\.\s+")
_LEADING_BULLET = re.compile(r"^\s*[•▪◦\-–—*]\s*")
_MATH = re.compile(
    r"[=<>≤≥∑∏∫√∈∉∀∃⊕⊗∼≈±×·∂∇→←↔⊆⊂∪∩∞|^_{}\\]|[\u0370-\u03ff]|[\u2200-\u22ff]|[\U0001d400-\U0001d7ff]"
)
_SYMBOLS = re.compile(r"[∗†‡§¶❶❷❸❹❺⃝]|\d⃝")
_LINE_HYPHEN = re.compile(r"(?<=[a-z])- (?=[a-z])(?!(?:and|or|to)\b)")
_CAPITAL_LINE_HYPHEN = re.compile(r"(?<=[A-Za-z])- (?=[A-Z])")
"""'Evol- Instruct', 'Open- CLIP': a name the line broke at its hyphen."""
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?])")
_MULTI_PUNCT = re.compile(r"([,;:])\s*(?=[,.;:!?])")

_FIRST_PERSON: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), r)
    for p, r in (
        (r"\b[Ll]et us\b", "let's"),
        (r"^We\b", "The authors"),
        (r"\bwe\b|\bWe\b", "they"),
        (r"^Our\b", "Their"),
        (r"\bour\b|\bOur\b", "their"),
        (r"\bours\b", "theirs"),
        (r"\bourselves\b", "themselves"),
        (r"\bus\b", "them"),
    )
)
ANAPHORIC_START = re.compile(
    r"^(?:this|these|that|those|it|its|they|their|such|however|moreover|furthermore|additionally|also|"
    r"therefore|thus|hence|in addition|as a result|finally|second|third|then|here|there|in contrast|"
    r"similarly|nevertheless|nonetheless|accordingly|consequently|specifically)\b",
    re.IGNORECASE,
)
"""A sentence starting so leans on the one before: a segment does not open with it mid-paragraph."""

_CLAUSE_BREAKS = re.compile(r"(;\s+|:\s+|\s+[–—]\s+|,\s+(?:but|and|which|whereas)\s+)")
_CLAUSE_OPENERS = {"but": "But ", "and": "And ", "which": "This ", "whereas": "By contrast, "}
_CLAUSE_CUE = re.compile(
    r"^(?:they|it|this|these|those|there|he|she|the authors)\b|\b(?:is|are|was|were|be|been|being|has|have|had|"
    r"can|could|will|would|may|might|must|should|shall|does|did|do)\b|\b\w{3,}ed\b",
    re.IGNORECASE,
)
"""A piece after ':', ', and', ', but' or a dash reads as a sentence of its own only with a subject pronoun or
a verb form it can be told by (an auxiliary, a past form); otherwise it is a list or a phrase, kept attached."""


def plain(text: str) -> str:
    """NFKC-normalised text with soft hyphens, odd symbols and line-break hyphens removed, '30×' spoken."""
    text = (
        unicodedata.normalize("NFKC", text).replace("\xad", "").replace("\u2019", "'").replace("\u2018", "'")
    )
    text = re.sub(r"(?<=\d)\s?×(?=[\s,.;:])", " times", _SYMBOLS.sub("", text))
    return _CAPITAL_LINE_HYPHEN.sub("-", _LINE_HYPHEN.sub("", " ".join(text.split())))


def _expand(text: str) -> str:
    for pattern, replacement in _ABBREVIATIONS:
        text = pattern.sub(replacement, text)
    return _INITIALISM.sub(lambda m: m.group(0).replace(".", ""), text)


def _drop_asides(text: str) -> str:
    """Citations in brackets, parenthetical asides (nested ones too), URLs, glued reference numbers."""
    text = _SUBFIGURE.sub(r"\1", _URL.sub("", text))

    def bracket(m: re.Match[str]) -> str:
        return "" if _CITATION_INSIDE.search(m.group(1)) else _UNSPEAKABLE

    def paren(m: re.Match[str]) -> str:
        before, word, gap = m.group(1), m.group(2), m.group(3)
        if word and not gap and re.search(r"\d$", word) and re.fullmatch(r"[a-z]", m.group(4)):
            return before + word + m.group(4)  # 'Figures 12(a), 12(b)': '12a, 12b'
        if word and not gap and re.search(r"[A-Za-z]$", word):
            return before + word + _UNSPEAKABLE  # f(x), O(n): notation
        if word.lower() in _ARGUMENT_WORDS:
            return before + word + gap + _UNSPEAKABLE
        return before + word

    previous = None
    while previous != text:
        previous = text
        text = _BRACKETS.sub(bracket, text)
        text = _PARENS.sub(paren, text)
    text = _LISTED_CITATION.sub("", _GLUED_CITATION.sub("", text))
    text = _ENUMERATOR.sub("", text)
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    return _MULTI_PUNCT.sub("", " ".join(text.split()))


def _is_prose(sentence: str) -> bool:
    """A sentence of running English: ends like one, mostly words, enough function words, no maths."""
    words = sentence.split()
    if len(words) < MIN_SENTENCE_WORDS or not sentence[0].isupper() and not sentence[0].isdigit():
        return False
    if not sentence.endswith((".", "!", "?")) or _MATH.search(sentence) or "@" in sentence:
        return False
    if _UNSPEAKABLE in sentence or _NAVIGATION.search(sentence) or _CODE_LINE.search(sentence):
        return False
    if _ROADMAP.search(sentence) and not _NEW_CONTENT.search(sentence):
        return False
    if " + " in sentence or any(unicodedata.combining(c) for c in sentence):
        return False
    if sentence.count("\u201c") != sentence.count("\u201d") or sentence.count('"') % 2:
        return False
    if sentence.count("(") != sentence.count(")") or sentence.count("[") != sentence.count("]"):
        return False
    if any(len(w) == 1 and w.isalpha() and w not in "aAI" for w in (t.strip(",.;:!?'\"") for t in words)):
        return False  # a lone letter is a variable
    alphabetic = sum(any(c.isalpha() for c in w) for w in words)
    function = sum(w.lower().strip(",.;:!?'\"") in STOPWORDS for w in words)
    tiny = sum(
        len(w.strip(",.;:!?'\"")) == 1 and w.strip(",.;:!?'\"").lower() not in ("a", "i") for w in words
    )
    return alphabetic >= 0.75 * len(words) and function >= 0.15 * len(words) and tiny <= 0.1 * len(words)


def _first_person(sentence: str) -> str:
    for pattern, replacement in _FIRST_PERSON:
        sentence = pattern.sub(replacement, sentence)
    return sentence


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def lower_first(text: str) -> str:
    """Lowercase the first letter unless the first word is an acronym or a name with inner capitals."""
    first = text.split(" ", 1)[0]
    if len(first) > 1 and (first[1:].lower() != first[1:] or first.isupper()):
        return text
    return text[:1].lower() + text[1:]


def finish(text: str) -> str:
    text = text.strip().rstrip(",;:–— ")
    if not text.endswith((".", "!", "?")):
        text += "."
    return _capitalise(text)


def cut_sentence(sentence: str, max_words: int) -> list[str]:
    """A sentence of at most `max_words` words as it is; a longer one cut at clause boundaries (';', ':',
    dashes, ', but', ', and', ', which', ', whereas') into spoken sentences of at most `max_words` each. A
    piece that is no clause of its own (a list, a phrase, a short tail) stays attached, and when it does not
    fit the sentence ends before it; a clause too long ends the cutting (what follows leans on it). [] when
    even the first clause is too long."""
    if len(sentence.split()) <= max_words:
        return [sentence]
    parts = _CLAUSE_BREAKS.split(sentence.rstrip(".!?"))
    pieces: list[str] = []
    current = parts[0]
    for separator, clause in zip(parts[1::2], parts[2::2], strict=True):
        word = separator.strip(" ,").lower()
        too_short = len(clause.split()) < 5 or len(current.split()) < 6
        phrase = word in ("and", "but", ":", "–", "—") and not _CLAUSE_CUE.search(clause)
        if (too_short and word != ";") or phrase:
            if len(current.split()) + len(clause.split()) > max_words and len(current.split()) >= 6:
                break  # the attached phrase does not fit: the sentence ends before it
            current += separator + clause
            continue
        pieces.append(current)
        current = _CLAUSE_OPENERS.get(word, "") + clause
    pieces.append(current)
    out = []
    for piece in pieces:
        if len(piece.split()) > max_words:
            break
        if len(piece.split()) >= MIN_SENTENCE_WORDS:
            out.append(finish(piece))
    return out


def spoken_sentences(text: str, max_words: int) -> list[str]:
    """Paper text as sentences a speaker can read: asides dropped, abbreviations spelled out, first person
    turned into the authors, long sentences cut (`cut_sentence`), fragments and maths skipped."""
    text = _drop_asides(_expand(plain(text)))
    out = []
    for raw in sentences(text):
        sentence = _LEADING_BULLET.sub("", raw).strip()
        stripped = _DOCUMENT_FLOW.sub("", _LEADING_REFERENCE.sub("", _RUN_IN_HEADING.sub("", sentence)))
        sentence = _capitalise(stripped) if stripped != sentence else sentence
        if not _is_prose(sentence):
            continue
        for piece in cut_sentence(_first_person(sentence), max_words):
            if len(sentences(piece)) == 1 and _is_prose(piece):
                out.append(piece)
    return out


_TITLE_SMALL_WORDS = frozenset(
    ["a", "an", "and", "as", "at", "by", "for", "from", "in", "of", "on", "or", "the", "to", "with"]
)


def spoken_title(title: str) -> str:
    """The title as said: an all-capitals title in title case."""
    title = " ".join(plain(title).split())
    if title.isupper():
        words = title.lower().split()
        title = " ".join(w if i and w in _TITLE_SMALL_WORDS else _capitalise(w) for i, w in enumerate(words))
    return title.rstrip(".")


# --------------------------------------------------------------------------- the plan
