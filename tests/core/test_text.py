"""The shared text helpers: one sentence splitter, one analogy detector, one figure-reference pattern."""

from __future__ import annotations

from podcast_assets.core.text import (
    clean_reference_script,
    ends_sentence,
    figure_numbers,
    figure_ordinals,
    find_analogies,
    find_questions,
    names_a_numbered_visual,
    normalize_text,
    sentences,
    spoken_words,
)


def test_sentences_split_after_final_marks_and_closing_quotes_and_words_end_sentences_alike():
    text = 'He said "stop." Then he left! Did he? Yes.  '
    assert sentences(text) == ['He said "stop."', "Then he left!", "Did he?", "Yes."]
    assert [w for w in ['"stop."', "left!", "he?", "Dr", "well?)"] if ends_sentence(w)] == ['"stop."', "left!", "he?", "well?)"]
    assert sentences(" . ! ") == []


def test_questions_and_analogies_are_whole_sentences_found_by_one_vocabulary():
    text = "Think of it as a sieve. It’s like a filter! What is a sieve? The loss is like a ruler. We trained it."
    assert find_questions(text) == ["What is a sieve?"]
    assert find_analogies(text) == ["Think of it as a sieve.", "It’s like a filter!", "The loss is like a ruler."]
    assert find_analogies("I can't think of anything. We liked it.") == []


def test_figures_are_named_by_number_or_ordinal_and_tables_by_number():
    text = "As figure 3 and Fig. 12 show, and figs 4 too; see table 2 and the second chart."
    assert figure_numbers(text) == [3, 12, 4]
    assert figure_ordinals(text) == [2]
    assert names_a_numbered_visual("look at Table 1") and not names_a_numbered_visual("a nice figure")


def test_reference_scripts_lose_markup_and_speaker_prefixes():
    raw = '<Person1> <prosody rate="110%">Welcome!</prosody></Person1>\nSpeaker 2: Thanks, glad to be here.'
    assert clean_reference_script(raw) == "Welcome! Thanks, glad to be here."
    assert normalize_text("Don’t STOP—now.") == ["don't", "stop", "now"]


def test_spoken_words_drop_labels_stage_directions_and_fillers_on_either_side():
    transcript = "SPEAKER_1: Um, so the model, uh, learns. [laughs]\nAlex: You know, it works (laughs) well."
    script = "<Person1>Host: So the model learns.</Person1>\n*sighs* Guest: It works well."
    assert spoken_words(transcript) == "so the model, learns. it works well."
    assert spoken_words(script) == "So the model learns. It works well."
    assert spoken_words("And the results: an umbrella term, hummus and errors stay.") == (
        "And the results: an umbrella term, hummus and errors stay."
    ), "a colon inside a line is no speaker label; words that start like fillers stay"
