"""Offline refinement and the session's next trial: the largest weighted loss is the first lever, a move is
tried once per parent, content already scored counts as tried, and the convergence rule stops the loop."""

from __future__ import annotations

import pytest

from podcast_assets.core.analysis.models import AggregatedProfile, StyleVariant
from podcast_assets.core.config import ConvergenceSettings, LossWeights
from podcast_assets.core.errors import TrainingError
from podcast_assets.core.storage import LocalArtifactStore
from podcast_assets.core.training import refine
from podcast_assets.core.training.models import (
    GenerationSettings,
    LossDetails,
    Losses,
    SpeechReport,
    TrialItem,
)
from podcast_assets.core.training.prompts import PromptLibrary
from podcast_assets.core.training.session import (
    item_path,
    next_trial,
    record_item,
    session_failures,
    session_items,
    start_session,
    trial_complete,
)
from podcast_assets.core.training.summary import build_report
from podcast_assets.resources.training import PROMPTS_DIR

STYLE = StyleVariant(
    pairs=["a"], mean_sentence_length=14, sentence_length_sd=6, vocabulary_complexity=0.3, jargon_density=2,
    questions_per_minute=1.8, analogies_per_segment=0.2, example_frequency=0.5, enthusiasm_per_minute=1.0,
    definition_style={}, figure_style="not_discussed",
)  # fmt: skip


def item(pair="a", trial="t001", split="train", *, duration=0.05, coverage=0.1, structure=0.3, quality=0.3,
         rouge=0.7, words=600, seconds=240.0, ref_types=("intro", "methodology", "conclusion"),
         gen_types=("intro", "methodology", "methodology", "conclusion")) -> TrialItem:  # fmt: skip
    parts = {
        "duration": duration,
        "coverage": coverage,
        "structure": structure,
        "quality": quality,
        "rouge": rouge,
    }
    total = sum(getattr(LossWeights(), k) * v for k, v in parts.items())
    return TrialItem(
        pair_id=pair, trial_id=trial, prompt_version="script_writer/v1", split=split, key=f"{pair}-{trial}",
        script_path="s.json", audio_path="a.mp3",
        speech=SpeechReport(voices={"host": "joe"}, passes=1, script_words=words, pass_seconds=[seconds],
                            audio_seconds=seconds, synthesis_seconds=10, round_trip_wer=0.05),
        losses=Losses(**parts, total=total),
        details=LossDetails(
            generated_seconds=seconds, reference_seconds=250, concepts_covered=["x"], concepts_missed=["y"],
            coverage_method="match", reference_types=list(ref_types), generated_types=list(gen_types),
            writer_types=list(ref_types), sequence_similarity=0.7, distribution_similarity=0.7,
            quality_method="rubric", engagement=60, clarity=80, accuracy=50, rouge_1=0.4, rouge_2=0.1, rouge_l=0.2,
        ),
        seconds={}, llm_usd=0.0,
    )  # fmt: skip


def propose(items, settings=None, tried=()):
    return refine.propose(
        items, settings or GenerationSettings(), "body", set(tried), style=STYLE, weights=LossWeights()
    )


def test_the_largest_weighted_loss_is_the_first_lever():
    assert propose([item(coverage=0.9)]).move == "coverage"
    assert propose([item(structure=0.9, coverage=0.0)]).move == "structure"
    assert propose([item(duration=0.9, words=700)]).move == "pace"
    assert propose([item(duration=0.9, words=600)]).move != "pace", (
        "the voice already speaks at the planned pace"
    )


def test_each_move_changes_what_its_reason_says():
    faster = propose([item(duration=0.9, words=700, seconds=240)])
    assert faster.settings.words_per_minute == 175.0 and "175 words/min" in faster.reason
    coverage = propose([item(coverage=0.9)])
    assert coverage.settings.concepts_per_segment == 3.0 and "most missed: y" in coverage.reason
    structure = propose([item(structure=0.9, coverage=0)])
    assert structure.settings.type_weights["methodology"] < 1.0, (
        "spoken methodology share above the reference's"
    )
    style = propose([item(quality=0.9, coverage=0, structure=0)])
    assert style.settings.questions_per_minute == 1.8 and "engagement" in style.reason


def test_the_phrases_move_waits_for_learned_transition_phrases():
    rouge_first = [item(rouge=1.0, coverage=0, structure=0, quality=0, duration=0)]
    assert propose(rouge_first).move == "phrases"
    without = refine.propose(rouge_first, GenerationSettings(), "body", set(), style=STYLE, weights=LossWeights(),
                             transition_phrases=False)  # fmt: skip
    assert without is None or without.move != "phrases", "no phrase to open a type change with: nothing moves"


def test_a_tried_move_or_one_that_changes_nothing_is_skipped_and_none_when_all_are_spent():
    first = propose([item(coverage=0.9)])
    second = propose([item(coverage=0.9)], tried={first.move})
    assert second.move != first.move
    assert propose([item()], tried=set(refine.MOVES)) is None
    maxed = GenerationSettings(concepts_per_segment=10)
    assert propose([item(coverage=0.9)], maxed).move != "coverage"


def test_refinement_needs_train_items():
    with pytest.raises(ValueError):
        propose([])


@pytest.fixture
def world(tmp_path):
    store = LocalArtifactStore(tmp_path / "store")
    library = PromptLibrary(PROMPTS_DIR, store)
    profile = AggregatedProfile.model_construct(version=1)
    session = start_session(
        store, library, profile, {"a": "train", "b": "validation"}, target_depth="reference"
    )
    return store, library, session


def scored(store, session, trial, a_total, b_total):
    for pair, split, q in (("a", "train", a_total), ("b", "validation", b_total)):
        record_item(store, session, item(pair, trial, split, quality=q))


def test_next_trial_refines_from_the_best_and_stops_by_the_rule(world):
    store, library, session = world
    rule = ConvergenceSettings(max_trials=3, min_improvement=0.01, patience=1)
    assert not trial_complete(store, session, "t001")
    scored(store, session, "t001", 0.5, 0.5)
    assert trial_complete(store, session, "t001") and store.exists(item_path(session, "t001", "a"))

    def report():
        return build_report(session, session_items(store, session), session_failures(store, session), rule)

    def refiner(items, settings, body, tried):
        return propose(items, settings, tried)

    entry = next_trial(store, library, session, report(), refiner)
    assert entry.trial_id == "t002" and entry.parent_trial == "t001" and entry.prompt_version > 1
    scored(store, session, "t002", 0.4, 0.6)  # train better, validation worse: t001 stays best
    third = next_trial(store, library, session, report(), refiner)
    assert third is None and "patience 1" in session.stopped and "best is t001" in session.stopped


def test_a_trial_that_is_not_complete_cannot_decide(world):
    store, _, session = world
    record_item(store, session, item("a", "t001"))
    rule = ConvergenceSettings(max_trials=3)
    report = build_report(session, session_items(store, session), session_failures(store, session), rule)
    assert report.trials == [], "t001 is not complete: b has neither an item nor a failure"


def test_the_spend_ledger_counts_every_paid_call_of_the_session_failed_ones_too(world):
    from podcast_assets.core.llm import CallRecord
    from podcast_assets.core.training.session import record_spend, session_spend

    store, _, session = world

    def call(cost, cached=False):
        return CallRecord(task="script_writer", provider="openai", model="gpt-4o-mini", input_tokens=10,
                          output_tokens=10, cost_usd=cost, cached=cached, attempts=1, seconds=0.1)  # fmt: skip

    assert session_spend(store, session) == 0.0
    record_spend(store, session, call(0.002))  # a reply that then failed its schema check: still paid
    record_spend(store, session, call(0.003))
    record_spend(store, session, call(0.003, cached=True))  # served from the cache: free
    record_spend(store, session, call(None))  # unknown price: not guessed
    assert session_spend(store, session) == pytest.approx(0.005)


def test_runs_racing_to_start_a_session_share_the_first_one(world):
    store, library, first = world
    again = start_session(store, library, AggregatedProfile.model_construct(version=1), {"c": "train"},
                          target_depth="reference")  # fmt: skip
    assert again.session_id == first.session_id and again.split == first.split


def test_a_new_session_moves_only_the_pointer_and_the_old_one_stays_addressable(world):
    """Sessions are addressed by id: starting a new one (a plain `train`) makes it current, while a run still
    holding the old one's id reads and writes that one, never the new."""
    from podcast_assets.core.training.session import current_session_id, load_session, save_session

    store, library, old = world
    new = start_session(store, library, AggregatedProfile.model_construct(version=1), {"c": "train"},
                        target_depth="reference", make_current=True)  # fmt: skip
    assert new.session_id != old.session_id and current_session_id(store) == new.session_id
    old.stopped = "stopped by the run that holds it"
    save_session(store, old)
    assert load_session(store).session_id == new.session_id and load_session(store).stopped is None
    assert load_session(store, old.session_id).stopped == "stopped by the run that holds it"
    with pytest.raises(TrainingError, match="no training session nope"):
        load_session(store, "nope")


def test_a_store_of_an_earlier_release_keeps_its_current_session(world):
    """Before sessions by id, training/session.json held the current session whole: it is moved on first read."""
    from podcast_assets.core.training.session import (
        CURRENT_PATH,
        LEGACY_SESSION_PATH,
        load_session,
        session_path,
    )

    store, _, session = world
    store.write_model(LEGACY_SESSION_PATH, session)
    store.delete(CURRENT_PATH)
    store.delete(session_path(session.session_id))
    assert load_session(store).model_dump() == session.model_dump()
    assert not store.exists(LEGACY_SESSION_PATH) and store.exists(session_path(session.session_id))


def test_a_new_session_starts_from_the_version_the_last_one_kept_not_the_newest(world):
    """A second `train` used to start from the library's highest version, which the first session's selection may
    have rejected (on the shared pairs it started from v3, worse than v1 on two pairs)."""
    from podcast_assets.core.training.session import kept_trial

    store, library, session = world
    rule = ConvergenceSettings(max_trials=3, min_improvement=0.01, patience=1)
    assert kept_trial(store, session, rule) is None, "nothing scored yet"
    scored(store, session, "t001", 0.3, 0.3)

    def report():
        return build_report(session, session_items(store, session), session_failures(store, session), rule)

    entry = next_trial(store, library, session, report(), lambda items, s, body, tried: propose(items, s, tried))
    scored(store, session, "t002", 0.5, 0.5)  # worse: t001 is kept
    assert library.get("script_writer").version == entry.prompt_version > 1, "the rejected version is the newest"
    kept = kept_trial(store, session, rule)
    assert kept.trial_id == "t001" and kept.prompt_version == 1
    second = start_session(store, library, AggregatedProfile.model_construct(version=1), {"a": "train"},
                           target_depth="reference", first_version=kept.prompt_version,
                           reason="kept by the last session", make_current=True)  # fmt: skip
    assert second.trials[0].prompt_version == 1 and second.trials[0].reason == "kept by the last session"
