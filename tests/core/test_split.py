"""The train/validation split: deterministic, configurable, stable as pairs come and go."""

import pytest

from podcast_assets.core.errors import TrainingError
from podcast_assets.core.training.split import split_pairs

PAIRS = ["finmarket", "inf-cl", "kd-survey", "wheat"]


def test_one_pair_has_no_validation_set():
    assert split_pairs(["wheat"], validation_share=0.25, seed="s") == {"wheat": "train"}


def test_a_quarter_of_four_pairs_validates_and_the_split_is_deterministic():
    first = split_pairs(PAIRS, validation_share=0.25, seed="s")
    assert list(first.values()).count("validation") == 1
    assert split_pairs(list(reversed(PAIRS)), validation_share=0.25, seed="s") == first


def test_two_pairs_keep_one_for_training_even_with_a_large_share():
    split = split_pairs(["a", "b"], validation_share=0.9, seed="s")
    assert sorted(split.values()) == ["train", "validation"]


def test_the_seed_changes_which_pair_is_held_out():
    held = {
        next(p for p, s in split_pairs(PAIRS, validation_share=0.25, seed=f"seed-{n}").items() if s == "validation")
        for n in range(12)
    }
    assert len(held) > 1


def test_adding_a_pair_moves_no_other_pair_to_validation_unless_it_ranks_first():
    before = split_pairs(PAIRS, validation_share=0.2, seed="s")
    after = split_pairs([*PAIRS, "new-pair"], validation_share=0.2, seed="s")
    moved = [p for p in PAIRS if before[p] != after[p]]
    assert not moved or after["new-pair"] == "validation"


def test_named_validation_pairs_win_and_bad_names_are_refused():
    assert split_pairs(PAIRS, validation_share=0.25, seed="s", validation_pairs=["wheat", "inf-cl"]) == {
        "finmarket": "train", "inf-cl": "validation", "kd-survey": "train", "wheat": "validation",
    }  # fmt: skip
    with pytest.raises(TrainingError, match="nope"):
        split_pairs(PAIRS, validation_share=0.25, seed="s", validation_pairs=["nope"])
    with pytest.raises(TrainingError, match="every pair"):
        split_pairs(["a"], validation_share=0.25, seed="s", validation_pairs=["a"])
