"""Offline refinement: a search over the script writer's generation settings driven by the losses.

From the best version so far, each move targets one loss and is ranked by that loss's weighted share of
the train pairs' total (the biggest lever first):

    pace       duration   words_per_minute := the pace the voice really spoke at (script words / minute)
    coverage   coverage   concepts_per_segment + 1 (missed concepts are then sought in more atoms)
    structure  structure  type_weights scaled by sqrt(reference share / generated share) for the types
                          whose time shares differ most (the analyser's types of the spoken audio)
    style      quality    questions and analogies per minute set to the learned style's rates, and the
                          rubric's weakest sub-score pushed (more phrases for engagement, shorter sentences
                          for clarity)
    phrases    rouge      phrase_use + 0.25 (the references' own wording)

A move already tried from this parent is not tried again; when every move has been tried the search
is exhausted and training stops with that reason. The template body is unchanged: offline generation
reads only the settings (the LLM refiner rewrites the body, see llm_tasks).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Collection, Sequence

from podcast_assets.core.analysis.models import StyleVariant
from podcast_assets.core.config import LossWeights
from podcast_assets.core.training.models import GenerationSettings, Refinement, TrialItem

MOVES = ("pace", "coverage", "structure", "style", "phrases")
_LOSS_OF_MOVE = {"pace": "duration", "coverage": "coverage", "structure": "structure", "style": "quality",
                 "phrases": "rouge"}  # fmt: skip


def mean_losses(items: Sequence[TrialItem]) -> dict[str, float]:
    names = ("duration", "coverage", "structure", "quality", "rouge", "total")
    return {n: round(statistics.fmean(getattr(i.losses, n) for i in items), 4) for n in names}


def _shares(sequence: Sequence[str]) -> dict[str, float]:
    counts = Counter(sequence)
    return {t: c / len(sequence) for t, c in counts.items()} if sequence else {}


def _pace(items: Sequence[TrialItem], settings: GenerationSettings) -> tuple[GenerationSettings, str]:
    spoken = statistics.median(i.speech.script_words / (i.speech.audio_seconds / 60) for i in items)
    new = round(min(max(spoken, 60.0), 300.0), 1)
    return settings.model_copy(update={"words_per_minute": new}), (
        f"plan at {new:.0f} words/min, the pace the voice spoke at (was {settings.words_per_minute:.0f})"
    )


def _coverage(items: Sequence[TrialItem], settings: GenerationSettings) -> tuple[GenerationSettings, str]:
    missed = Counter(c for i in items for c in i.details.concepts_missed)
    new = min(settings.concepts_per_segment + 1, 10.0)
    top = ", ".join(c for c, _ in missed.most_common(3)) or "none"
    return settings.model_copy(update={"concepts_per_segment": new}), (
        f"name {new:g} concepts per segment (was {settings.concepts_per_segment:g}); most missed: {top}"
    )


def _structure(items: Sequence[TrialItem], settings: GenerationSettings) -> tuple[GenerationSettings, str]:
    ref: Counter[str] = Counter()
    gen: Counter[str] = Counter()
    for item in items:
        for t, share in _shares(item.details.reference_types).items():
            ref[t] += share / len(items)
        for t, share in _shares(item.details.generated_types).items():
            gen[t] += share / len(items)
    gaps = sorted(set(ref) | set(gen), key=lambda t: -abs(ref[t] - gen[t]))[:3]
    weights = dict(settings.type_weights)
    changes = []
    for t in gaps:
        factor = math.sqrt(max(ref[t], 0.02) / max(gen[t], 0.02))
        factor = min(max(factor, 0.5), 2.0)
        weights[t] = round(min(max(weights.get(t, 1.0) * factor, 0.1), 5.0), 3)
        changes.append(f"{t} x{factor:.2f} (reference {ref[t]:.0%}, spoken {gen[t]:.0%})")
    return settings.model_copy(update={"type_weights": weights}), "segment budget " + "; ".join(changes)


def _style(
    items: Sequence[TrialItem], settings: GenerationSettings, style: StyleVariant
) -> tuple[GenerationSettings, str]:
    engagement = statistics.fmean(i.details.engagement for i in items)
    clarity = statistics.fmean(i.details.clarity for i in items)
    segments_per_minute = statistics.fmean(
        len(i.details.reference_types) / max(i.details.reference_seconds / 60, 1e-6) for i in items
    )
    update: dict[str, object] = {
        "questions_per_minute": round(min(style.questions_per_minute, 10.0), 2),
        "analogies_per_minute": round(min(style.analogies_per_segment * segments_per_minute, 5.0), 2),
    }
    if engagement <= clarity:
        update["phrase_use"] = min(settings.phrase_use + 0.2, 1.0)
        weakest = f"engagement {engagement:.0f} is the weakest: more learned phrases"
    else:
        update["max_sentence_words"] = max(int(settings.max_sentence_words * 0.8), 8)
        weakest = (
            f"clarity {clarity:.0f} is the weakest: sentences of at most {update['max_sentence_words']} words"
        )
    return settings.model_copy(update=update), (
        f"questions {update['questions_per_minute']}/min and analogies {update['analogies_per_minute']}/min as "
        f"learned; {weakest}"
    )


def _phrases(settings: GenerationSettings) -> tuple[GenerationSettings, str]:
    new = min(settings.phrase_use + 0.25, 1.0)
    return settings.model_copy(
        update={"phrase_use": new}
    ), f"open {new:.0%} of type changes with learned phrases"


def propose(
    items: Sequence[TrialItem],
    settings: GenerationSettings,
    body: str,
    tried: Collection[str],
    *,
    style: StyleVariant,
    weights: LossWeights,
    transition_phrases: bool = True,
) -> Refinement | None:
    """The next settings to try from the parent whose train items are `items`; None when every move that
    would change something has been tried (`tried`: moves already made from this parent). Without learned
    transition phrases (`transition_phrases` False) the phrases move would change no word of the script, so it
    is not proposed: it would spend a trial and a step of patience on a copy of its parent."""
    if not items:
        raise ValueError("refinement needs the parent trial's train items")
    losses = mean_losses(items)
    ranked = sorted(MOVES, key=lambda m: -getattr(weights, _LOSS_OF_MOVE[m]) * losses[_LOSS_OF_MOVE[m]])
    for move in ranked:
        if move in tried or (move == "phrases" and not transition_phrases):
            continue
        if move == "pace":
            new, why = _pace(items, settings)
        elif move == "coverage":
            new, why = _coverage(items, settings)
        elif move == "structure":
            new, why = _structure(items, settings)
        elif move == "style":
            new, why = _style(items, settings, style)
        else:
            new, why = _phrases(settings)
        if new == settings:
            continue
        loss = _LOSS_OF_MOVE[move]
        return Refinement(
            move=move,
            settings=new,
            body=body,
            reason=f"move:{move}: {loss} loss {losses[loss]:.3f} (weighted {getattr(weights, loss) * losses[loss]:.3f}) "
            f"is the largest untried lever; {why}",
            losses=losses,
        )
    return None
