"""The nonsense checks on real papers: a read-out of the paper is caught copying and a human podcast is not; a
question built from a bare keyword, a question nobody answers (or answers with something else than it asks for), a phrase naming another show (or heard in one podcast
only), a concept used before it is explained and one speaker holding the floor are each found; a grounded exchange
passes."""

from __future__ import annotations

import pytest
from wordfreq import zipf_frequency

from podcast_assets.core.training.models import Script, ScriptSegment
from podcast_assets.core.training.script_checks import (
    MAX_COPIED_SHARE,
    check_script,
    keyword_only,
    keywords_of,
    paper_vocabulary,
    phrase_problem,
    turns_of,
)


def _script(*turns: tuple[str, str]) -> Script:
    return Script(title="t", writer="test", prompt_version="script_writer/v1", target_seconds=60, target_words=100,
                  speakers=sorted({s for s, _ in turns}),
                  segments=[ScriptSegment(type="methodology", speaker=s, text=t) for s, t in turns])  # fmt: skip


def _finding(checks, name):
    return next(f for f in checks.findings if f.check == name)


@pytest.fixture(scope="module")
def papers(real_pairs):
    if not real_pairs:
        pytest.skip("no real pair could be ingested")
    return real_pairs


def test_a_read_out_copies_and_a_human_podcast_does_not(papers):
    for pair_id, (transcription, graph) in papers.items():
        body = [a.text for a in graph.atoms if a.kind != "reference" and len(a.text.split()) >= 20][:12]
        read_out = check_script(_script(*(("host", t) for t in [graph.abstract, *body] if t)), graph, concepts=[])
        assert read_out.copied_share > 0.8 and not _finding(read_out, "copied").passed, pair_id
        assert read_out.prompting_share < 0.2, pair_id
        human = check_script(_script(*(("host", s.text) for s in transcription.segments)), graph, concepts=[])
        assert human.copied_share <= MAX_COPIED_SHARE, (pair_id, human.copied_share)


def test_questions_from_a_bare_keyword_are_found(papers):
    _, (_, graph) = next(iter(papers.items()))
    concept = graph.key_concepts[0].phrase
    keywords = keywords_of(graph, [concept])
    rare = next(w for w in sorted(paper_vocabulary(graph)) if w.isalpha() and len(w) > 5 and zipf_frequency(w, "en") < 2.5)
    for bare in (f"So what is the {concept}, exactly?", f"Can you tell us about {concept}?", f"And the {rare}?"):
        assert keyword_only(bare, [concept], keywords), bare
    for grounded in ("Why does a warmer spring bring the heading date forward?", "What did they find?",
                     "So what are the results?", "How would you sum it up?",
                     f"How does {concept} change what the model predicts?"):  # fmt: skip
        assert not keyword_only(grounded, [concept], keywords), grounded


def test_each_kind_of_nonsense_is_found_and_a_grounded_exchange_passes(papers):
    _, (_, graph) = next(iter(papers.items()))
    concept = graph.key_concepts[0].phrase
    good = _script(
        ("host", "Let's start simple. What problem did they want to solve?"),
        ("guest", f"They wanted to know how {concept} shapes the outcome, which earlier work had only guessed at."),
        ("host", "Huh. And how did they go about it?"),
        ("guest", f"By {concept}, they mean something close to a recipe: you follow the steps in order, and the "
                  "result depends on every step you took before."),
    )  # fmt: skip
    checks = check_script(good, graph, concepts=[concept])
    assert checks.passed, checks.findings
    assert checks.turns == 4 and checks.questions == 2 and checks.prompting_share == 0.5

    bad = _script(
        ("host", f"Welcome to podcast fi. So what is {concept}, exactly?"),
        ("host", "And why?"),
        ("guest", f"{concept} is used everywhere here, and it comes back again and again, all through the paper. "
                  "It matters a great deal to the whole story. The authors use it in almost every section."),
        ("guest", f"{concept} is, in other words, a way of doing things. There is much more to say about it, and the "
                  "authors say a lot of it, section after section, in tables, figures and long discussions too."),
        ("host", "So what comes next?"),
    )  # fmt: skip
    checks = check_script(bad, graph, concepts=[concept], reject=["welcome to podcast fi"])
    assert [len(turns_of(bad))] == [checks.turns] == [3]
    assert _finding(checks, "keyword_only").count == 1
    assert _finding(checks, "unanswered").examples == ["So what comes next?"]  # the last question has no answer
    assert _finding(checks, "rejected_phrases").examples == ["welcome to podcast fi"]
    assert not _finding(checks, "imbalance").passed and checks.largest_speaker_share > 0.8
    assert not checks.passed and "keyword_only 1" in checks.summary()


def test_a_question_for_an_amount_or_a_reason_is_answered_only_by_one(papers):
    _, (_, graph) = next(iter(papers.items()))
    vague = _script(
        ("host", "How big is the effect?"),
        ("guest", "Figure 11 presents results related to the filtering method."),  # a figure's number is no amount
        ("host", "Why does that matter?"),
        ("guest", "The next section describes the data set and the models."),
        ("host", "What does the figure show?"),
        ("guest", "We will come back to it after the next part."),
    )  # fmt: skip
    found = _finding(check_script(vague, graph, concepts=[]), "unanswered")
    assert found.examples == ["How big is the effect?", "Why does that matter?", "What does the figure show?"]
    given = _script(
        ("host", "How big is the effect?"),
        ("guest", "Accuracy rose from 71 to 84 percent on the markets held out."),
        ("host", "Why does that matter?"),
        ("guest", "Because a fund can rebalance before the correlations shift, instead of after."),
        ("host", "What does the figure show?"),
        ("guest", "Each line is one market, and the curve climbs as the window grows."),
    )  # fmt: skip
    assert _finding(check_script(given, graph, concepts=[]), "unanswered").count == 0


def test_a_concept_named_before_it_is_explained_is_reported(papers):
    _, (_, graph) = next(iter(papers.items()))
    concept = graph.key_concepts[0].phrase
    script = _script(
        ("host", f"Today we talk about {concept}."),
        ("guest", "Right. The results were good."),
        ("host", f"So {concept}, in other words, is a way to compare the two settings side by side."),
    )
    [late] = _finding(check_script(script, graph, concepts=[concept]), "before_explained").examples
    assert late == f"{concept} (named in turn 1, explained in turn 3)"


def test_the_phrase_filter_rejects_show_names_and_mishearings(papers):
    _, (_, graph) = next(iter(papers.items()))
    vocabulary = paper_vocabulary(graph)
    assert phrase_problem("welcome to podcast fi", vocabulary) == "names a show or a host"
    assert "genei" in phrase_problem("your personal genei podcast", vocabulary)
    for fine in ("let's dive into", "that's a great question", "what this means is"):
        assert phrase_problem(fine, vocabulary) is None, fine
    word = next(w for w in sorted(vocabulary) if len(w) > 6 and w.isalpha() and phrase_problem(w, set()))
    assert phrase_problem(f"the {word} story", vocabulary) is None  # the paper's own rare word is not garbage
    # one podcast's phrase is that podcast's content; two podcasts' is a way of speaking
    assert "1 podcast only" in phrase_problem("france is a heavy hitter", vocabulary, pairs=1)
    assert phrase_problem("let's dive into", vocabulary, pairs=2) is None
