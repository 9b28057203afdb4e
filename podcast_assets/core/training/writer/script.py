"""`write_script`: the plan spoken from the paper, segment by segment, with the opening, signposts,
questions and analogies at the version's rates, one or two speakers, then fitted to the word budget.
"""

from __future__ import annotations

from collections.abc import Sequence

from podcast_assets.core.analysis.models import SEGMENT_TYPES, AggregatedProfile
from podcast_assets.core.ingest.models import DocumentGraph
from podcast_assets.core.training.models import GenerationSettings, Script, ScriptSegment
from podcast_assets.core.training.spoken import lower_first, spoken_title
from podcast_assets.core.training.writer.draft import Draft, Rate, Turn
from podcast_assets.core.training.writer.length import resize
from podcast_assets.core.training.writer.paper import Paper
from podcast_assets.core.training.writer.phrasing import (
    SIGNPOSTS,
    cited_name,
    opening_words,
    phrase_sentence,
    phrase_spans,
    question_concept,
    question_for,
    they,
    topic,
    transition,
)
from podcast_assets.core.training.writer.plan import ration, segment_plan

WRITER = "offline-writer-v1"
"""Recorded in Script.writer; part of what a trial's content address depends on."""
HOST, GUEST = "host", "guest"
FIT_TOLERANCE = 0.02
"""write_script corrects its own first draft when it misses the word budget by more than this share."""


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
    paper = Paper(graph, settings.max_sentence_words)
    plan = segment_plan(profile, settings, target_seconds=target_seconds, depth=depth)
    budget_words = max(1, round(sum(p.words for p in plan)))
    plan = ration(plan, paper)
    two = len(speaker_labels(profile, speakers)) == 2
    title = spoken_title(graph.title) or "this paper"
    draft = Draft(paper, settings)
    questions = Rate(settings.questions_per_minute, settings.words_per_minute)
    analogies = Rate(settings.analogies_per_minute, settings.words_per_minute)
    phrases = {
        role: [p.phrase for p in profile.universal_phrases.get(role, [])]
        for role in ("intro", "transition", "conclusion")
    }
    transition_spans = [s for s in phrase_spans(phrases["transition"]) if len(s.split()) >= 2]
    turns: list[Turn] = []
    written = 0
    type_changes = asked = 0
    asked_about: set[str | None] = set()
    signposts: dict[str, int] = {}
    next_speaker = HOST

    def emit(turn: Turn) -> None:
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
        question_due = index > 0 and questions.due(written) and (not two or next_speaker == GUEST)
        made = draft.figure(budget - sum(len(s.split()) for s in opening)) if slot.type == "figure" else None
        if made is not None:
            body, atoms, figure_id = made
            framed = False
        elif slot.type == "figure" and not first_of_run:
            continue
        elif slot.type == "transition":
            body, atoms, figure_id, framed = [], [], None, False
            opening = opening or [SIGNPOSTS["transition"][0]]
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
                c for c in paper.concepts_in(said) if c not in asked_about and not cited_name(c, said)
            ]
            concept = question_concept(sorted(mentioned, key=lambda c: c in draft.covered))
            question = [question_for(slot.type, concept, asked)]
            asked_about.add(concept)
            asked += 1
            questions.done()
        figures = ([figure_id] if figure_id else []) + paper.figures_named(" ".join(body))
        content = Turn(slot.type, HOST, they(body), atoms, list(dict.fromkeys(figures)))
        if two:
            if question:
                emit(Turn(slot.type, GUEST, opening + question))
                opening = []
            content.speaker = next_speaker
        content.sentences = opening + ([] if two else question) + content.sentences
        if content.sentences:
            emit(content)
        draft.covered.update(paper.concepts_in(" ".join(content.sentences)))
    if not turns:
        turns.append(
            Turn(plan[0].type if plan else "intro", HOST, opening_words(phrases["intro"], None, title))
        )
    closing = [s for span in phrase_spans(phrases["conclusion"]) if (s := phrase_sentence(span, "listening"))]
    turns[-1].sentences.extend(closing)
    script = _script(turns, paper, graph, title, pair_id, prompt_version, target_seconds, budget_words, two)
    if abs(script.word_count - budget_words) > FIT_TOLERANCE * budget_words:
        script = resize(script, paper, budget_words)
    return script.model_copy(update={"target_words": budget_words})


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
