"""`write_script`: the plan spoken from the paper, segment by segment, with the opening, signposts,
questions and analogies at the version's rates, one or two speakers, then fitted to the word budget.

Two speakers are a host and an expert (the guest): the host opens, signposts each new part and always asks what
the paper's structure answers there (what problem, how, how well, what it means, what it leaves open); the expert
answers with the paper's content, in turns of at most ANSWER_SENTENCES sentences, the host following up or
reacting between them. The host also says the first sentence of each new part, and of a long stretch of one,
setting it up, as hosts do. Learned phrases are said only once the phrase filter passes them (no show names, no
recogniser garbage: script_checks.phrase_problem).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from podcast_assets.core.analysis.models import SEGMENT_TYPES, AggregatedProfile
from podcast_assets.core.ingest.models import DocumentGraph
from podcast_assets.core.training.models import GenerationSettings, Script, ScriptSegment
from podcast_assets.core.training.script_checks import paper_vocabulary, phrase_problem
from podcast_assets.core.training.spoken import lower_first, spoken_title
from podcast_assets.core.training.writer.draft import Draft, Rate, Turn
from podcast_assets.core.training.writer.length import resize
from podcast_assets.core.training.writer.paper import Paper
from podcast_assets.core.training.writer.phrasing import (
    SIGNPOSTS,
    follow_up,
    opening_words,
    phrase_sentence,
    phrase_spans,
    question_for,
    they,
    topic,
    transition,
)
from podcast_assets.core.training.writer.plan import ration, segment_plan

WRITER = "offline-writer-v3"
"""Recorded in Script.writer; part of what a trial's content address depends on."""
HOST, GUEST = "host", "guest"
ANSWER_SENTENCES = 2
"""The most sentences of one expert turn before the host follows up or reacts (two-speaker scripts)."""
SETUP_SENTENCES = 3
"""A part of at least this many sentences is set up by the host with its first (a new part always is)."""
FIT_TOLERANCE = 0.02
"""write_script corrects its own first draft when it misses the word budget by more than this share."""


def _speaker_count(profile: AggregatedProfile, speakers: int | None) -> int:
    """As asked; else 1 only when most reference pairs are known to have one speaker (their pair.yaml says so),
    and 2 otherwise: a podcast about a paper is a conversation (every peer makes two hosts), and the local
    recogniser does not count speakers, so a pair whose count is unknown is not taken for a monologue."""
    if speakers is not None:
        if speakers not in (1, 2):
            raise ValueError(f"speakers must be 1 or 2, not {speakers}")
        return speakers
    total = len(profile.style_variants["all"].pairs) if "all" in profile.style_variants else 0
    alone = profile.style_variants["speakers:1"].pairs if "speakers:1" in profile.style_variants else []
    return 1 if total and len(alone) * 2 > total else 2


def speaker_labels(profile: AggregatedProfile, speakers: int | None = None) -> list[str]:
    """The script's speaker labels: ['host'] when asked for one speaker or when most reference pairs declare one
    (the profile's 'speakers:1' style variant), else ['host', 'guest']. The LLM writer is briefed with the same
    labels, so both writers follow one rule."""
    return [HOST, GUEST] if _speaker_count(profile, speakers) == 2 else [HOST]


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

    Questions come at settings.questions_per_minute, about what the coming segment answers and fitted to it (in
    two-speaker mode the host asks them and the expert, the guest, answers: see the module docstring); at
    analogies_per_minute a segment leads with a paper sentence that defines a key concept or makes a comparison,
    said as the paper says it; a learned transition phrase opens a share phrase_use of the
    type changes, a plain signpost the others. The draft is then fitted to the word budget (`fit_length`
    rules) when it misses it by more than FIT_TOLERANCE."""
    if target_seconds <= 0:
        raise ValueError("target_seconds must be positive")
    paper = Paper(graph, settings.max_sentence_words)
    plan = segment_plan(profile, settings, target_seconds=target_seconds, depth=depth)
    budget_words = max(1, round(sum(p.words for p in plan)))
    plan = ration(plan, paper)
    two = len(speaker_labels(profile, speakers)) == 2
    title = spoken_title(graph.title) or "this paper"
    draft = Draft(paper, settings)
    questions = Rate(settings.questions_per_minute, settings.words_per_minute)
    analogies = Rate(settings.analogies_per_minute, settings.words_per_minute)
    vocabulary = paper_vocabulary(graph)
    phrases = {
        role: [p.phrase for p in profile.universal_phrases.get(role, [])
               if phrase_problem(p.phrase, vocabulary, p.pairs) is None]  # fmt: skip
        for role in ("intro", "transition", "conclusion")
    }
    transition_spans = [s for s in phrase_spans(phrases["transition"]) if len(s.split()) >= 2]
    turns: list[Turn] = []
    written = 0
    type_changes = asked = reacted = 0
    signposts: dict[str, int] = {}

    def emit(turn: Turn) -> None:
        nonlocal written
        turns.append(turn)
        written += turn.words

    for index, slot in enumerate(plan):
        draft.free = set(SEGMENT_TYPES) - {p.type for p in plan[index + 1 :]}
        opening: list[str] = []
        lead_in = None
        if index == 0:
            opening = opening_words(phrases["intro"], topic(paper, title), title)
        elif slot.type != plan[index - 1].type:
            signpost, lead_in = transition(
                slot.type, type_changes, settings.phrase_use, transition_spans, signposts
            )
            opening = [signpost]
            type_changes += 1
        budget = slot.words
        # the first segment of each run is always written, so the script keeps the plan's sequence whatever
        # the paper holds; a later segment of the run is left out when nothing is left for it
        first_of_run = index == 0 or slot.type != plan[index - 1].type
        question_due = index > 0 and (questions.due(written) or (two and first_of_run))  # each new part is asked for
        made = draft.figure(budget - sum(len(s.split()) for s in opening)) if slot.type == "figure" else None
        if made is not None:
            body, atoms, figure_id = made
            explained = False
        elif slot.type == "figure" and not first_of_run:
            continue
        elif slot.type == "transition":
            body, atoms, figure_id, explained = [], [], None, False
            opening = opening or [SIGNPOSTS["transition"][0]]
        else:
            room = budget - sum(len(s.split()) for s in opening) - (8 if question_due else 0)
            body, atoms, explained = draft.content(slot.type, max(room, 1), analogies.due(written), first_of_run)
            figure_id = None
            if not body and not first_of_run:
                continue
        if explained:
            analogies.done()
        if lead_in and body and not two and not body[0].startswith("In "):
            opening, body = [], [lead_in + lower_first(body[0]), *body[1:]]
        figures = list(dict.fromkeys(([figure_id] if figure_id else []) + paper.figures_named(" ".join(body))))
        spoken = said = they(body)
        parts = _units(said)
        setup: list[str] = []
        if two:
            # the host sets a new part (or a long stretch of one) up with its first sentence, the expert takes it on
            # (a figure is the expert's to show: the host asks what it shows)
            long_part = first_of_run or len(said) >= SETUP_SENTENCES
            setup = parts.pop(0) if len(parts) > 1 and long_part and slot.type != "figure" else []
        replies = _turns(parts) if two else [said]
        question: list[str] = []
        if question_due and replies and replies[0]:
            question = [question_for(slot.type, asked, " ".join(replies[0]), after_setup=bool(setup))]
            asked += 1
            questions.done()
        if two:
            if opening or setup or question:
                emit(Turn(slot.type, HOST, opening + setup + question, atoms if setup else [], figures if setup else []))
            for k, answer in enumerate(replies):
                if k:
                    ask = questions.due(written) and len(answer) > 1
                    # the host takes the next point up and asks on, with a question its rest answers
                    units = _units(answer)
                    lead = units[0] if ask and len(units) > 1 else []
                    answer = answer[len(lead) :]
                    emit(Turn(slot.type, HOST, lead + [follow_up(slot.type, reacted, ask=ask, answer=" ".join(answer))]))
                    reacted += 1
                    if ask:
                        questions.done()
                first = k == 0 and not setup  # the atoms and figures go with the first words said of them
                emit(Turn(slot.type, GUEST, answer, atoms if first else [], figures if first else []))
        elif opening + question + said:
            emit(Turn(slot.type, HOST, opening + question + said, atoms, figures))
        draft.covered.update(paper.concepts_in(" ".join(spoken)))
    if not turns:
        turns.append(
            Turn(plan[0].type if plan else "intro", HOST, opening_words(phrases["intro"], None, title))
        )
    closing = [s for span in phrase_spans(phrases["conclusion"]) if (s := phrase_sentence(span, "listening"))]
    if closing and two and turns[-1].speaker != HOST:
        turns.append(Turn(turns[-1].type, HOST, closing))
    else:
        turns[-1].sentences.extend(closing)
    script = _script(turns, paper, graph, title, pair_id, prompt_version, target_seconds, budget_words, two)
    if abs(script.word_count - budget_words) > FIT_TOLERANCE * budget_words:
        script = resize(script, paper, budget_words)
    return script.model_copy(update={"target_words": budget_words})


_CONTINUATION = re.compile(r"^(?:And|But|Or|So|By contrast,|Which)\b")
"""A sentence opening so is the rest of the one before (spoken.cut_sentence makes them): one speaker says both."""


def _units(said: Sequence[str]) -> list[list[str]]:
    """The sentences grouped so that a continuation stays with the sentence it continues."""
    out: list[list[str]] = []
    for sentence in said:
        if out and _CONTINUATION.match(sentence):
            out[-1].append(sentence)
        else:
            out.append([sentence])
    return out


def _turns(parts: Sequence[list[str]]) -> list[list[str]]:
    """The expert's turns: units gathered up to ANSWER_SENTENCES sentences (a longer unit is a turn of its own)."""
    out: list[list[str]] = []
    for unit in parts:
        if out and len(out[-1]) + len(unit) <= ANSWER_SENTENCES:
            out[-1].extend(unit)
        else:
            out.append(list(unit))
    return out


def _script(
    turns: Sequence[Turn],
    paper: Paper,
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
