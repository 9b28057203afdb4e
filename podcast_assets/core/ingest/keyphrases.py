"""Key concepts of a paper: ranked phrases from its own vocabulary, specific against general English."""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict

from wordfreq import zipf_frequency

from podcast_assets.core.ingest.models import KeyConcept, TextAtom
from podcast_assets.core.text import STOPWORDS, singular

_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*[A-Za-z]|[A-Za-z]")
_TOKEN = re.compile(r"[A-Za-z][A-Za-z'\-]*[A-Za-z]|[A-Za-z]|\d[\w.,]*|[^\sA-Za-z\d]")
_MAX_WORDS = 4


def _chunks(text: str) -> list[list[str]]:
    """Runs of content words, split at stopwords, punctuation and numbers (surface forms kept)."""
    chunks: list[list[str]] = []
    current: list[str] = []
    for token in _TOKEN.findall(text):
        word = token.strip("'-")
        is_word = bool(word) and _WORD.fullmatch(word) is not None
        acronym = is_word and len(word) >= 2 and word.isupper()
        usable = is_word and word.lower() not in STOPWORDS and (len(word) >= 3 or acronym)
        if usable:
            current.append(word)
        elif current:
            chunks.append(current)
            current = []
    if current:
        chunks.append(current)
    return chunks


def _key(words: list[str]) -> str:
    lowered = [w.lower() for w in words]
    last = words[-1]
    lowered[-1] = last[:-1].lower() if re.fullmatch(r"[A-Z]{2,}s", last) else singular(lowered[-1])
    return " ".join(lowered)


def _specificity(key: str) -> float:
    """Mean of how rare each word is in general English (0 = very common, 1 = unseen)."""
    parts = key.split()
    return sum(max(0.0, 7.0 - zipf_frequency(w, "en")) / 7.0 for w in parts) / len(parts)


def _phrase_keys(text: str) -> set[str]:
    keys: set[str] = set()
    for chunk in _chunks(text):
        for n in range(1, _MAX_WORDS + 1):
            for i in range(len(chunk) - n + 1):
                keys.add(_key(chunk[i : i + n]))
    return keys


def extract_key_concepts(
    atoms: list[TextAtom], *, title: str = "", abstract: str = "", top_k: int = 25
) -> list[KeyConcept]:
    """Rank 1-4 word phrases by body frequency x specificity x a title/abstract boost."""
    freq: Counter[str] = Counter()
    surfaces: dict[str, Counter[str]] = defaultdict(Counter)
    mentions: dict[str, list[str]] = defaultdict(list)
    for atom in atoms:
        if atom.kind == "reference":
            continue
        for chunk in _chunks(atom.text):
            for n in range(1, _MAX_WORDS + 1):
                for i in range(len(chunk) - n + 1):
                    words = chunk[i : i + n]
                    key = _key(words)
                    freq[key] += 1
                    surfaces[key][" ".join(words)] += 1
                    if not mentions[key] or mentions[key][-1] != atom.id:
                        mentions[key].append(atom.id)
    title_keys = _phrase_keys(title)
    abstract_keys = _phrase_keys(abstract)

    scored: list[tuple[float, str]] = []
    for key, count in freq.items():
        boost = (2.0 if key in title_keys else 1.0) * (1.5 if key in abstract_keys else 1.0)
        if count < 2 and boost == 1.0:
            continue
        n_words = key.count(" ") + 1
        score = math.log1p(count) * count**0.5 * _specificity(key) ** 2 * (1.0 + 0.5 * (n_words - 1)) * boost
        if score > 0:
            scored.append((score, key))
    scored.sort(key=lambda item: (-item[0], item[1]))

    chosen: list[tuple[float, str]] = []
    for score, key in scored:
        if len(chosen) >= top_k:
            break
        if any(_redundant(key, other, freq) for _, other in chosen):
            continue
        inner = next((i for i, (_, other) in enumerate(chosen) if _redundant(other, key, freq)), None)
        if inner is None:
            chosen.append((score, key))
        else:
            chosen[inner] = (chosen[inner][0], key)
    return [
        KeyConcept(
            phrase=_display(surfaces[key]),
            score=round(score, 4),
            frequency=freq[key],
            atom_ids=mentions[key],
        )
        for score, key in chosen
    ]


def _redundant(key: str, other: str, freq: Counter[str]) -> bool:
    """True if `key` is part of the already chosen `other` and occurs mostly inside it."""
    if f" {key} " in f" {other} ":
        return freq[key] <= 1.5 * freq[other]
    return False


def _display(forms: Counter[str]) -> str:
    """The most frequent surface form, preferring a lowercase one unless the phrase holds an acronym."""
    ranked = sorted(forms.items(), key=lambda item: (-item[1], item[0]))
    best = ranked[0][0]
    if any(len(w) > 1 and w.isupper() for w in best.split()):
        return best
    return next((form for form, _ in ranked if form == form.lower()), best)
