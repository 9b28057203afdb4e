"""Edit distance, normalisation and WER on hand-checked cases and the real speech references."""

from __future__ import annotations

import pytest

from podcast_assets.core.metrics import covering_label, edit_distance, normalize_text, word_error_rate
from tests.conftest import require_shared_speech


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("kitten", "sitting", 3),
        ("", "", 0),
        ("", "abc", 3),
        ("abc", "", 3),
        ("flaw", "lawn", 2),
        (["intro", "method", "outro"], ["intro", "outro"], 1),
        (("a", "b"), ("b", "a"), 2),
        ([1, 2, 3], [1, 2, 3], 0),
    ],
)
def test_edit_distance(a, b, expected):
    assert edit_distance(a, b) == expected
    assert edit_distance(b, a) == expected


def test_normalize_text_strips_punctuation_and_keeps_inner_apostrophes():
    expected = "and so my fellow americans ask not".split()
    assert normalize_text("And so, my fellow Americans: ASK not!") == expected
    expected = "don't say hello it's o'brien's".split()
    assert normalize_text("Don't say 'hello'  —  it’s O'Brien's.") == expected
    assert normalize_text("  \n\t ") == []


def test_word_error_rate_counts_edits_over_reference_words():
    assert word_error_rate("the cat sat", "The cat sat.") == 0.0
    assert word_error_rate("the cat sat", "the cat") == pytest.approx(1 / 3)
    assert word_error_rate("the cat sat", "a cat sat down") == pytest.approx(2 / 3)
    assert word_error_rate("", "") == 0.0
    assert word_error_rate("", "noise") == 1.0


def test_word_error_rate_is_zero_for_real_reference_against_itself_repunctuated():
    speech = require_shared_speech()
    reference = (speech / "jfk.txt").read_text()
    hypothesis = reference.upper().replace(",", "").replace(".", "!")
    assert word_error_rate(reference, hypothesis) == 0.0
    one_word_wrong = hypothesis.replace("COUNTRY", "COUNTY", 1)
    assert one_word_wrong != hypothesis
    assert word_error_rate(reference, one_word_wrong) == pytest.approx(1 / len(normalize_text(reference)))


def test_time_weighted_typing_accuracy_counts_seconds_and_the_majority_baseline():
    from podcast_assets.core.metrics import time_weighted_typing_accuracy

    labels = [(0.0, 10.0, "intro"), (10.0, 40.0, "methodology")]
    segments = [(0.0, 20.0, "intro"), (21.0, 40.0, "methodology")]  # 10 s typed intro, and half the pause
    score = time_weighted_typing_accuracy(segments, labels)
    assert score.accuracy == pytest.approx(29.5 / 40, abs=0.01)
    assert (score.majority_label, score.majority_baseline) == ("methodology", 0.75)
    assert score.confusion_seconds[("methodology", "intro")] == pytest.approx(10.5, abs=0.2)


def test_a_stretch_takes_the_label_covering_most_of_its_time():
    labels = [(0.0, 12.0, "intro"), (12.0, 14.0, "transition"), (14.0, 40.0, "methodology")]
    stretches = [(0.0, 13.0), (13.0, 40.0), (41.0, 45.0)]
    assert [covering_label(a, b, labels)[0] for a, b in stretches] == ["intro", "methodology", "methodology"], (
        "the last stretch lies after every label: the nearest one"
    )
    assert covering_label(0.0, 13.0, labels)[1] == pytest.approx(12 / 13) and covering_label(41.0, 45.0, labels)[1] == 0.0
