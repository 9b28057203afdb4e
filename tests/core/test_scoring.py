"""The offline judges (concept matching, quality rubric) and `score`, which combines them with the losses, on
hand-made papers and podcasts. The same functions on the real pairs: tests/test_loss_sanity.py."""

from __future__ import annotations

import math

import pytest

from podcast_assets.core.analysis.alignment import analyse_pair
from podcast_assets.core.analysis.models import StyleProfile, StyleVariant
from podcast_assets.core.analysis.profiles import style_profile
from podcast_assets.core.config import LossWeights
from podcast_assets.core.errors import TrainingError
from podcast_assets.core.ingest.models import DocumentGraph, KeyConcept
from podcast_assets.core.training.losses import quality_loss, rouge_loss, total_loss
from podcast_assets.core.training.models import CoverageJudgement, QualityJudgement
from podcast_assets.core.training.rubric import (
    ON_TARGET,
    PaperRuns,
    claim_support,
    closeness,
    defined_terms,
    match_concepts,
    paper_acronyms,
    quality_rubric,
    sentence_length_score,
)
from podcast_assets.core.training.scoring import score, top_concepts
from tests.core.test_analysis import PODCAST, atom, graph
from tests.core.test_profiles import build_pair
from tests.core.test_segmentation import transcription


def paper(*texts: str, concepts: tuple[str, ...] = ()) -> DocumentGraph:
    return DocumentGraph(
        pdf_sha256="0" * 64,
        extractor_version="test",
        page_count=1,
        title="A paper",
        atoms=[atom(i + 1, t) for i, t in enumerate(texts)],
        key_concepts=[
            KeyConcept(phrase=c, score=len(concepts) - i, frequency=1) for i, c in enumerate(concepts)
        ],
    )


def variant_of(profile: StyleProfile) -> StyleVariant:
    """A learned style equal to one podcast's measured style."""
    return StyleVariant(
        pairs=[profile.pair_id],
        mean_sentence_length=profile.mean_sentence_length,
        sentence_length_sd=profile.sentence_length_sd,
        vocabulary_complexity=profile.vocabulary_complexity,
        jargon_density=profile.jargon_density,
        questions_per_minute=profile.questions_per_minute,
        analogies_per_segment=profile.analogies_per_segment,
        example_frequency=profile.example_frequency,
        enthusiasm_per_minute=profile.enthusiasm_per_minute,
        definition_style=profile.definition_style,
        figure_style=profile.figure_style,
    )


# --------------------------------------------------------------------------- coverage matching


def test_paper_acronyms_follow_schwartz_hearst():
    graph_ = paper(
        "We survey knowledge distillation (KD) of large language models (LLMs) on graphics processing units (GPUs).",
        "Link prediction uses Common Neighbors37 (CN) and a (b) variant; see also (Fig).",
        "Understanding (NLU), generation (NLG) are tasks.",
    )
    acronyms = paper_acronyms(graph_)
    assert acronyms["KD"] == "knowledge distillation"
    assert acronyms["LLMs"] == "large language models"
    assert acronyms["GPUs"] == "graphics processing units"
    assert acronyms["CN"] == "Common Neighbors", "a footnote number glued to the word is dropped"
    assert "b" not in acronyms and "Fig" not in acronyms, "a short form needs two capitals"
    assert "NLG" not in acronyms, "a long form holding another parenthesis is no long form"


def test_concepts_match_through_their_variants():
    graph_ = paper(
        "We survey knowledge distillation (KD) of large language models (LLMs) for information technology (IT).",
    )
    concepts = [
        "knowledge distillation",  # said as its acronym
        "LLMs",  # said in the singular
        "teacher models",  # said hyphenated and singular
        "self attention",  # said hyphenated
        "information technology",  # its acronym is only said in lower case: an everyday word
        "large language models",  # said as the acronym, plural
        "quantum annealing",  # never said
    ]
    script = "Today: KD, where a small LLM learns from a teacher-model with self-attention. It is simple. LLMs rock."
    result = match_concepts(script, concepts, graph_)
    assert result.covered == [
        "knowledge distillation",
        "LLMs",
        "teacher models",
        "self attention",
        "large language models",
    ]
    assert result.missed == ["information technology", "quantum annealing"]
    assert result.found["knowledge distillation"] == "KD"
    assert result.found["teacher models"] == "teacher-model"
    assert match_concepts(
        "We work in IT, which here means the computers and networks a company runs.", ["information technology"], graph_
    ).covered == ["information technology"]


def test_an_acronym_concept_matches_its_long_form():
    graph_ = paper("We survey knowledge distillation (KD) for language models.")
    result = match_concepts(
        "Knowledge-distillation shrinks models: a small student copies a big teacher.", ["KD", "pruning"], graph_
    )
    assert (result.covered, result.missed) == (["KD"], ["pruning"])


PAPER_SENTENCE = (
    "Knowledge distillation transfers the capabilities of a large proprietary teacher model to a smaller open "
    "student model by training the student on outputs generated by the teacher."
)


def test_a_concept_named_in_a_copy_of_the_papers_sentence_is_named_not_covered():
    graph_ = paper(PAPER_SENTENCE, concepts=("knowledge distillation",))
    result = match_concepts("So. " + PAPER_SENTENCE, ["knowledge distillation"], graph_)
    assert result.covered == [] and result.named_only == ["knowledge distillation"]


def test_a_bare_mention_is_named_not_covered_and_an_explanation_in_own_words_covers():
    graph_ = paper(PAPER_SENTENCE, concepts=("knowledge distillation",))
    bare = match_concepts("Today: knowledge distillation. Let's go.", ["knowledge distillation"], graph_)
    assert bare.named_only == ["knowledge distillation"]
    explained = match_concepts(
        "Knowledge distillation is basically a big model tutoring a small one. The small one then runs on a laptop.",
        ["knowledge distillation"],
        graph_,
    )
    assert explained.covered == ["knowledge distillation"] and explained.named_only == []
    own_words = match_concepts(
        "With knowledge distillation the small open model imitates answers written by the big closed model.",
        ["knowledge distillation"],
        graph_,
    )
    assert own_words.covered == ["knowledge distillation"], "four content words of its own, not the paper's run"


def test_own_words_are_those_outside_runs_of_eight_words_the_paper_has():
    runs = PaperRuns(paper(PAPER_SENTENCE))
    assert runs.own_words(PAPER_SENTENCE) == []
    seven = "capabilities of a large proprietary teacher model, said plainly"
    assert runs.own_words(seven) == seven.replace(",", "").split(), "seven words in a row are anyone's"
    mixed = "so it transfers the capabilities of a large proprietary teacher model, and then we had lunch"
    assert runs.own_words(mixed) == ["so", "it", "and", "then", "we", "had", "lunch"]


def test_a_copied_sentence_followed_by_an_explanation_of_the_scripts_own_covers():
    graph_ = paper(PAPER_SENTENCE, concepts=("knowledge distillation",))
    script = PAPER_SENTENCE + " Think of it as an apprentice watching a master at work."
    assert match_concepts(script, ["knowledge distillation"], graph_).covered == ["knowledge distillation"]


# --------------------------------------------------------------------------- rubric parts


def test_closeness_and_sentence_length_scores():
    assert closeness(1.0, 2.0) == 0.5 and closeness(4.0, 2.0) == 0.5
    assert closeness(0.0, 0.0) == 1.0 and closeness(0.0, 1.5) == 0.0
    with pytest.raises(ValueError):
        closeness(-1.0, 1.0)
    assert sentence_length_score(12.0, 12.0, 6.0) == (1.0, 0.0)
    score_, z = sentence_length_score(18.0, 12.0, 6.0)
    assert z == 1.0 and score_ == pytest.approx(math.exp(-0.5))
    assert sentence_length_score(12.0, 12.0, 0.0) == (1.0, None)
    assert sentence_length_score(13.0, 12.0, 0.0) == (0.0, None)


def test_defined_terms_fold_variants_and_use_the_profiles_definition_rule():
    segments, _ = build_pair(
        "p",
        [
            (
                "background",
                30,
                "A transformer is a neural network. Encoders read text. The encoder is fast.",
                {"technical_terms": ["transformer", "Encoders", "encoder"], "key_concepts": ["attention"]},
            ),
            ("methodology", 30, "Attention weighs words.", {"key_concepts": ["attention"]}),
        ],
    )
    result = defined_terms(segments)
    # 'Encoders' and 'encoder' are one term; "The encoder is fast" states it ('<term> is ...').
    assert result.used == ["transformer", "encoder", "attention"]
    assert result.defined == ["transformer", "encoder"]
    assert result.share == pytest.approx(2 / 3)
    assert defined_terms(segments.model_copy(update={"segments": []})).share == 1.0, "nothing left undefined"


def test_claim_support_counts_content_sentences_an_atom_carries():
    graph_ = paper(
        "The encoder uses tiled attention so memory grows linearly with the batch size.",
        "Results show higher retrieval accuracy than the baseline on three benchmarks.",
    )
    script = (
        "Exactly. "  # no claim: fewer than 3 content terms
        "The encoder uses tiled attention, so memory grows linearly with batch size. "  # atom 1
        "Retrieval accuracy beats the baseline on three benchmarks. "  # atom 2
        "Medieval cathedrals reverberate for many seconds in the nave."  # nothing in the paper
    )
    support = claim_support(script, graph_)
    assert (support.content_sentences, support.supported) == (3, 2)
    assert support.unsupported_examples == ["Medieval cathedrals reverberate for many seconds in the nave."]
    assert claim_support("Yes. Right.", graph_).content_sentences == 0


# --------------------------------------------------------------------------- the rubric


def toy():
    spoken = transcription(PODCAST)
    segments = analyse_pair("toy", spoken, graph(), min_s=10, max_s=20, target_s=14)
    return spoken, segments


def test_the_rubric_scores_a_podcast_on_its_own_style_as_fully_engaging_and_clear():
    spoken, segments = toy()
    text = " ".join(t for _, _, t in PODCAST)
    style = variant_of(style_profile(segments, spoken))
    judgement = quality_rubric(
        script_text=text,
        spoken=spoken,
        spoken_segments=segments,
        graph=graph(),
        style=style,
        reference_segments=segments,
    )
    assert judgement.method == "rubric"
    assert judgement.engagement == pytest.approx(100.0)
    assert judgement.clarity == pytest.approx(100.0), (
        "its own sentence length, and the reference's definitions"
    )
    support = claim_support(text, graph())
    assert judgement.accuracy == pytest.approx(100 * support.supported / support.content_sentences)
    notes = judgement.notes
    assert notes["questions_per_minute"] == notes["learned_questions_per_minute"] > 0
    assert notes["minutes"] == pytest.approx(spoken.duration / 60)
    assert notes["content_sentences"] == support.content_sentences
    assert all(isinstance(v, float) and math.isfinite(v) for v in notes.values())
    assert [s for s in judgement.suggestions if s.startswith("stay closer")], "accuracy below target is named"
    assert not [s for s in judgement.suggestions if "questions" in s or "sentences:" in s]


def test_the_rubric_names_what_to_change_against_the_learned_rates():
    spoken, segments = toy()
    measured = style_profile(segments, spoken)
    wanted = variant_of(measured).model_copy(
        update={
            "questions_per_minute": 4 * measured.questions_per_minute,
            "mean_sentence_length": measured.mean_sentence_length + 2 * measured.sentence_length_sd,
        }
    )
    judgement = quality_rubric(
        script_text="", spoken=spoken, spoken_segments=segments, graph=graph(), style=wanted
    )
    assert judgement.notes["questions_score"] == pytest.approx(0.25)  # a quarter of the learned rate
    assert judgement.notes["sentence_length_z"] == pytest.approx(-2.0)
    assert judgement.notes["sentence_length_score"] == pytest.approx(math.exp(-2))
    assert judgement.accuracy == 0.0, "no content sentence: nothing the paper supports"
    assert (
        f"ask more questions: {measured.questions_per_minute:.2f}/min vs learned "
        f"{4 * measured.questions_per_minute:.2f}/min"
    ) in judgement.suggestions
    assert any(s.startswith("write longer sentences") for s in judgement.suggestions)
    # Without a reference the defined share itself is the score: the toy podcast defines none of its terms.
    assert judgement.notes["defined_terms_score"] == 0.0 and "reference_defined_share" not in judgement.notes
    assert judgement.suggestions[0].startswith(("define more", "stay closer")), "worst component first"
    scores = [judgement.notes[f"{k}_score"] for k in ("questions", "analogies", "enthusiasm")]
    assert judgement.engagement == pytest.approx(100 * sum(scores) / 3)
    assert all(judgement.notes[f"{k}_score"] >= ON_TARGET for k in ("analogies", "enthusiasm"))


# --------------------------------------------------------------------------- score


def score_toy(script_text: str, **overrides):
    spoken, segments = toy()
    reference_text = " ".join(t for _, _, t in PODCAST)
    arguments = {
        "script_text": script_text,
        "writer_types": ["intro", "intro", "methodology", "conclusion"],
        "spoken": spoken,
        "spoken_segments": segments,
        "spoken_seconds": spoken.duration,
        "reference_seconds": spoken.duration,
        "reference_segments": segments,
        "reference_text": reference_text,
        "graph": graph(),
        "style": variant_of(style_profile(segments, spoken)),
        "weights": LossWeights(),
        "key_concepts": 10,
        **overrides,
    }
    return score(**arguments)


def test_the_reference_scored_as_itself_loses_only_on_what_it_leaves_unexplained_and_on_the_rubric():
    text = " ".join(t for _, _, t in PODCAST)
    losses, details = score_toy(text)
    assert (losses.duration, losses.structure, losses.rouge) == (0.0, 0.0, 0.0)
    assert losses.quality == pytest.approx(
        quality_loss(details.engagement, details.clarity, details.accuracy)
    )
    assert losses.coverage == pytest.approx(1 / 3)
    assert losses.total == pytest.approx(0.25 * losses.coverage + 0.20 * losses.quality)
    assert details.coverage_method == "match" and details.quality_method == "rubric"
    # "They trained a convolutional encoder with a contrastive objective." names it and says nothing of it; the
    # paper's sentence on tiled attention is followed by an analogy; the accuracy is compared with the baseline.
    assert details.concepts_covered == ["tiled attention", "retrieval accuracy"]
    assert details.concepts_missed == details.concepts_named_only == ["contrastive objective"]
    assert details.writer_types == ["intro", "methodology", "conclusion"], "reported run-compressed"
    assert details.generated_types == details.reference_types
    assert (details.sequence_similarity, details.distribution_similarity) == (1.0, 1.0)
    assert (details.rouge_1, details.rouge_2, details.rouge_l) == (1.0, 1.0, 1.0)
    assert details.quality_notes["content_sentences"] > 0


def test_score_combines_every_loss_as_the_formulas_say():
    spoken, segments = toy()
    text = "They trained a convolutional encoder with a contrastive objective, which means pulling matches together."
    half = segments.model_copy(update={"segments": segments.segments[1:3]})
    losses, details = score_toy(text, spoken_segments=half, spoken_seconds=spoken.duration / 2)
    assert losses.duration == pytest.approx(0.5)
    assert losses.coverage == pytest.approx(2 / 3) and details.concepts_missed == [
        "tiled attention",
        "retrieval accuracy",
    ]
    assert details.generated_types == ["methodology"]
    rouge = rouge_loss(text, " ".join(t for _, _, t in PODCAST))
    assert losses.rouge == pytest.approx(rouge.loss) and details.rouge_2 == pytest.approx(rouge.rouge_2)
    parts = losses.model_dump(exclude={"total"})
    assert losses.total == pytest.approx(total_loss(parts, LossWeights()))
    assert 0 < losses.structure < 1


def test_score_uses_the_judges_when_they_answered():
    text = " ".join(t for _, _, t in PODCAST)
    coverage = CoverageJudgement(levels={"Contrastive Objective": 2, "tiled attention": 0, "elsewhere": 3})
    quality = QualityJudgement(
        method="llm-judge", engagement=90, clarity=60, accuracy=30, notes={"depth": 2.0}, suggestions=["cut"]
    )
    losses, details = score_toy(text, coverage=coverage, quality=quality)
    assert details.coverage_method == "llm-judge" and details.quality_method == "llm-judge"
    assert details.concepts_covered == ["contrastive objective"], "case-insensitive; unasked keys ignored"
    assert details.concepts_missed == ["tiled attention", "retrieval accuracy"], (
        "a concept left out is missed"
    )
    assert losses.coverage == pytest.approx(2 / 3)
    assert losses.quality == pytest.approx((300 - 180) / 300)
    assert (details.quality_notes, details.suggestions) == ({"depth": 2.0}, ["cut"])


def test_score_asks_for_the_configured_number_of_key_concepts():
    assert top_concepts(graph(), 2) == ["contrastive objective", "tiled attention"]
    _, details = score_toy("tiled attention", key_concepts=1)
    assert details.concepts_missed == ["contrastive objective"] and details.concepts_covered == []
    with pytest.raises(ValueError, match="at least 1"):
        top_concepts(graph(), 0)
    no_concepts = graph().model_copy(update={"key_concepts": []})
    with pytest.raises(TrainingError, match="no key concepts") as refused:
        score_toy("anything", graph=no_concepts)
    assert "Fix:" in str(refused.value)


def test_a_podcast_the_analyser_finds_nothing_in_scores_the_worst_structure_and_no_engagement():
    _, segments = toy()
    silent = segments.model_copy(update={"segments": []})
    losses, details = score_toy("Yes. Right.", spoken_segments=silent)
    assert losses.structure == 1.0 and details.generated_types == []
    assert (details.sequence_similarity, details.distribution_similarity) == (0.0, 0.0)
    assert details.engagement == 0.0 and details.accuracy == 0.0
    assert any(s.startswith("say what the paper says") for s in details.suggestions)
    assert losses.coverage == 1.0 and details.concepts_covered == []
