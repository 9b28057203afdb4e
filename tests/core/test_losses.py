"""The seed's five losses and their total, each on cases computed by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import math

import pytest

from podcast_assets.core.config import LossWeights
from podcast_assets.core.training.losses import (
    coverage_loss,
    distribution_similarity,
    duration_loss,
    quality_loss,
    rouge_loss,
    semantic_loss,
    sequence_similarity,
    structure_loss,
    total_loss,
    type_shares,
)

# --------------------------------------------------------------------------- duration


@pytest.mark.parametrize(
    ("generated", "reference", "expected"),
    [
        (600, 600, 0.0),
        (540, 600, 0.1),  # |540 - 600| / 600
        (660, 600, 0.1),  # too long costs as much as too short
        (200, 600, 2 / 3),  # a podcast cut to a third
        (1800, 600, 2.0),  # three times the length: duration is the one loss that exceeds 1
        (0, 600, 1.0),
    ],
)
def test_duration_loss_is_the_relative_miss(generated, reference, expected):
    assert duration_loss(generated, reference) == pytest.approx(expected)


@pytest.mark.parametrize(("generated", "reference"), [(10, 0), (10, -5), (-1, 10)])
def test_duration_loss_refuses_a_length_that_is_no_length(generated, reference):
    with pytest.raises(ValueError):
        duration_loss(generated, reference)


# --------------------------------------------------------------------------- coverage


def test_coverage_loss_is_the_missed_share():
    concepts = ["attention", "tiling", "memory", "batch size"]
    assert coverage_loss(["attention", "memory", "tiling"], concepts) == pytest.approx(0.25)  # 1 - 3/4
    assert coverage_loss([], concepts) == 1.0
    assert coverage_loss(concepts, concepts) == 0.0
    assert coverage_loss(["memory", "memory"], concepts) == pytest.approx(0.75)  # a concept counts once


def test_coverage_loss_refuses_no_concepts_and_concepts_never_asked():
    with pytest.raises(ValueError, match="at least one key concept"):
        coverage_loss([], [])
    with pytest.raises(ValueError, match="not asked"):
        coverage_loss(["quantum"], ["attention"])


# --------------------------------------------------------------------------- structure


REFERENCE = ["intro", "intro", "methodology", "key_finding", "conclusion"]
GENERATED = ["intro", "key_finding", "methodology", "methodology", "conclusion"]


def test_sequence_similarity_compares_run_compressed_types():
    # runs: intro methodology key_finding conclusion vs intro key_finding methodology conclusion:
    # two substitutions over 4 -> 1 - 2/4
    assert sequence_similarity(REFERENCE, GENERATED) == pytest.approx(0.5)
    assert sequence_similarity(["intro", "intro"], ["intro"]) == 1.0  # repeats collapse
    assert sequence_similarity([], []) == 1.0
    assert sequence_similarity(["intro"], []) == 0.0
    # intro background conclusion vs intro conclusion: one deletion over 3
    assert sequence_similarity(
        ["intro", "background", "conclusion"], ["intro", "conclusion"]
    ) == pytest.approx(2 / 3)


def test_distribution_similarity_is_one_minus_total_variation():
    reference = {"intro": 0.2, "methodology": 0.4, "key_finding": 0.3, "conclusion": 0.1}
    generated = {"intro": 0.1, "methodology": 0.2, "key_finding": 0.5, "conclusion": 0.2}
    # TVD = (0.1 + 0.2 + 0.2 + 0.1) / 2 = 0.3
    assert distribution_similarity(reference, generated) == pytest.approx(0.7)
    assert distribution_similarity(
        {"intro": 30, "conclusion": 10}, {"intro": 3, "conclusion": 1}
    ) == pytest.approx(1.0), "seconds are normalised to shares"
    assert distribution_similarity({"intro": 1.0}, {"tangent": 1.0}) == 0.0
    assert distribution_similarity({}, {}) == 1.0
    assert distribution_similarity({"intro": 1.0}, {}) == 0.0
    with pytest.raises(ValueError, match="unknown segment types"):
        distribution_similarity({"chitchat": 1.0}, {"intro": 1.0})


def test_type_shares_weight_segments_by_time_or_count_each_once():
    assert type_shares(["intro", "methodology", "methodology"]) == pytest.approx(
        {"intro": 1 / 3, "methodology": 2 / 3}
    )
    assert type_shares(["intro", "methodology"], [30, 90]) == pytest.approx(
        {"intro": 0.25, "methodology": 0.75}
    )
    assert type_shares([]) == {}
    with pytest.raises(ValueError, match="unknown segment type"):
        type_shares(["chitchat"])


def test_structure_loss_weighs_sequence_0_6_and_distribution_0_4():
    shares_ref = {"intro": 0.2, "methodology": 0.4, "key_finding": 0.3, "conclusion": 0.1}
    shares_gen = {"intro": 0.1, "methodology": 0.2, "key_finding": 0.5, "conclusion": 0.2}
    result = structure_loss(REFERENCE, GENERATED, shares_ref, shares_gen)
    # 1 - (0.6 x 0.5 + 0.4 x 0.7) = 1 - 0.58
    assert result.loss == pytest.approx(0.42)
    assert (result.sequence_similarity, result.distribution_similarity) == pytest.approx((0.5, 0.7))
    assert result.reference_runs == ["intro", "methodology", "key_finding", "conclusion"]
    assert result.generated_runs == ["intro", "key_finding", "methodology", "conclusion"]


def test_structure_loss_extremes_and_count_shares_by_default():
    assert structure_loss(REFERENCE, REFERENCE).loss == 0.0
    assert structure_loss(["intro"], ["tangent"]).loss == pytest.approx(1.0)
    # Without shares each segment counts once: reference 2/5 intro, 1/5 each other; generated 1/5 intro,
    # 2/5 methodology, 1/5 key_finding, 1/5 conclusion -> TVD (1/5 + 1/5) / 2 = 0.2, similarity 0.8.
    result = structure_loss(REFERENCE, GENERATED)
    assert result.distribution_similarity == pytest.approx(0.8)
    assert result.loss == pytest.approx(1 - (0.6 * 0.5 + 0.4 * 0.8))


# --------------------------------------------------------------------------- quality


def test_quality_loss_is_the_missing_share_of_300_points():
    assert quality_loss(80, 70, 60) == pytest.approx(0.3)  # (300 - 210) / 300
    assert quality_loss(100, 100, 100) == 0.0
    assert quality_loss(0, 0, 0) == 1.0
    with pytest.raises(ValueError, match="clarity"):
        quality_loss(50, 101, 50)


# --------------------------------------------------------------------------- ROUGE


def test_rouge_loss_on_a_hand_counted_pair():
    result = rouge_loss("the cat sat", "the cat sat on the mat")
    # ROUGE-1: 3 shared unigrams, P 3/3, R 3/6 -> F 2/3. ROUGE-2: 2 shared bigrams, P 2/2, R 2/5 -> F 4/7.
    # ROUGE-L: LCS 3, P 3/3, R 3/6 -> F 2/3.
    assert result.rouge_1 == pytest.approx(2 / 3)
    assert result.rouge_2 == pytest.approx(4 / 7)
    assert result.rouge_l == pytest.approx(2 / 3)
    assert result.loss == pytest.approx(1 - (2 / 3 + 4 / 7 + 2 / 3) / 3)


def test_rouge_loss_is_stemmed_and_order_sensitive_beyond_unigrams():
    stemmed = rouge_loss("Cats sitting", "cat sits")
    assert stemmed.rouge_1 == pytest.approx(1.0), "Porter stemming: cats/cat, sitting/sits"
    assert rouge_loss("same words here", "same words here").loss == pytest.approx(0.0)
    shuffled = rouge_loss("here words same", "same words here")
    assert shuffled.rouge_1 == pytest.approx(1.0) and shuffled.rouge_2 == 0.0
    assert shuffled.rouge_l == pytest.approx(1 / 3)  # LCS of one word
    assert rouge_loss("", "some reference").loss == 1.0


# --------------------------------------------------------------------------- total


LOSSES = {"duration": 0.4, "coverage": 0.2, "structure": 0.5, "quality": 0.3, "rouge": 0.6}


def test_total_loss_with_the_seed_weights_is_the_seed_weighted_sum():
    # 0.25 x 0.4 + 0.25 x 0.2 + 0.20 x 0.5 + 0.20 x 0.3 + 0.10 x 0.6 = 0.1 + 0.05 + 0.1 + 0.06 + 0.06
    assert total_loss(LOSSES, LossWeights()) == pytest.approx(0.37)


def test_total_loss_divides_by_the_weight_sum():
    doubled = LossWeights(duration=0.5, coverage=0.5, structure=0.4, quality=0.4, rouge=0.2)
    assert total_loss(LOSSES, doubled) == pytest.approx(0.37), "same proportions, same total"
    only_duration = LossWeights(duration=3, coverage=0, structure=0, quality=0, rouge=0)
    assert total_loss(LOSSES, only_duration) == pytest.approx(0.4)
    uneven = LossWeights(duration=1, coverage=1, structure=0, quality=0, rouge=2)
    assert total_loss(LOSSES, uneven) == pytest.approx((0.4 + 0.2 + 2 * 0.6) / 4)
    assert math.isclose(total_loss(dict.fromkeys(LOSSES, 1.0), LossWeights()), 1.0)


def test_total_loss_needs_every_loss():
    with pytest.raises(ValueError, match="rouge"):
        total_loss({k: v for k, v in LOSSES.items() if k != "rouge"}, LossWeights())


def test_the_semantic_loss_joins_the_total_only_when_weighted():
    with_semantic = {**LOSSES, "semantic": 0.9}
    assert total_loss(with_semantic, LossWeights()) == pytest.approx(0.37), "weight 0 (the default): left out"
    weighted = LossWeights(semantic=0.25)
    assert total_loss(with_semantic, weighted) == pytest.approx((0.37 + 0.25 * 0.9) / 1.25)
    with pytest.raises(ValueError, match="semantic"):
        total_loss(LOSSES, weighted)
    assert semantic_loss(0.8) == pytest.approx(0.2) and semantic_loss(-0.1) == 1.0
