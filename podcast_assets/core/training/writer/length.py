"""Fitting a script to a word count: `fit_length` lengthens it with more of the paper's sentences or cuts
sentences from its longest segments, never changing the segments' types, order or speakers; `paper_supply`
tells how far a paper can go.
"""

from __future__ import annotations

from podcast_assets.core.analysis.models import SEGMENT_TYPES, AggregatedProfile
from podcast_assets.core.ingest.models import DocumentGraph
from podcast_assets.core.text import STOPWORDS, figure_numbers, normalize_text, sentences, singular
from podcast_assets.core.training.models import GenerationSettings, Script
from podcast_assets.core.training.writer.draft import Turn
from podcast_assets.core.training.writer.paper import Paper
from podcast_assets.core.training.writer.plan import NARRATIVE_ORDER

CONTENT_TYPES = frozenset(NARRATIVE_ORDER) | {"tangent"}


def paper_supply(graph: DocumentGraph, settings: GenerationSettings) -> dict[str, int]:
    """Words the writer could speak per segment type (its pool, close types' pools and cue-found paragraphs,
    counted once per type): the ceiling of what lengthening can reach for a paper. A mathematical or very
    short paper yields fewer speakable words than a long podcast needs, and then the script is shorter."""
    paper = Paper(graph, settings.max_sentence_words)
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
    paper = Paper(graph, settings.max_sentence_words)
    target = max(1, round(script.word_count * factor))
    resized = resize(script, paper, target)
    return resized.model_copy(update={"target_words": target})


def resize(script: Script, paper: Paper, target: int) -> Script:
    turns = [
        Turn(s.type, s.speaker, sentences(s.text), list(s.atoms), list(s.figures)) for s in script.segments
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


def _content_end(turn: Turn, paper: Paper) -> int:
    """Index after the segment's last sentence that comes from one of its atoms (new content goes there,
    before a closing phrase)."""
    for i in range(len(turn.sentences) - 1, -1, -1):
        if paper.atom_of(turn.sentences[i], turn.atoms):
            return i + 1
    return len(turn.sentences)


def _content_words(sentence: str) -> set[str]:
    return {singular(w) for w in normalize_text(sentence) if w not in STOPWORDS}


def _tails(turns: list[Turn], paper: Paper) -> dict[int, list[tuple[str, str]]]:
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


def _lengthen(turns: list[Turn], paper: Paper, target: int) -> None:
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


def _protected(turn: Turn, index: int, last: bool) -> bool:
    sentence = turn.sentences[index]
    return (
        index == 0
        or sentence.rstrip("\"')").endswith("?")
        or bool(figure_numbers(sentence))
        or (last and index == len(turn.sentences) - 1)
    )


def _cut(turns: list[Turn], paper: Paper, target: int) -> None:
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
