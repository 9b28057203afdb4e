"""Loss sanity on the real pairs: each pair's reference transcript, scored as if it were a generated script,
must have a lower total loss than (a) the same podcast with its sentences shuffled, (b) the podcast cut to its
first third and (c) every other pair's podcast scored against this pair's paper.

How the variants are made, honestly (core/training/validity.py):
- shuffled: the transcript cut into its sentences and laid end to end in a random order, each with its own words,
  word timings and preceding pause; the analyser then segments, aligns and types it afresh. Three seeds per pair.
- first third: the words that end within the first third of the audio, with the duration set to a third.
- another pair's: that pair's transcript and its length, analysed against this pair's paper.
The reference itself is analysed exactly as the pipeline analyses it (analyse_pair, local typer). The style
is learned from all the pairs by the aggregate (its 'all' variant), and the coverage is asked over the
'standard' depth's number of key concepts. Run with -s to see the margins.

Another pair's podcast must lose on the content losses alone too (coverage, structure, quality), so that
neither its length nor the reference's zero ROUGE against itself decides.
"""

from __future__ import annotations

import pytest

from podcast_assets.core.training.models import Losses
from podcast_assets.core.training.validity import Scorer, first_part, sentence_pieces, shuffled, text_of

SHUFFLE_SEEDS = (0, 1, 2)
DEPTH = "standard"


def first_third(transcription):
    return first_part(transcription, 1 / 3)


@pytest.fixture(scope="module")
def world(real_pairs, ingested) -> Scorer:
    if len(real_pairs) < 2:
        pytest.skip(
            f"loss sanity needs at least 2 real pairs to compare against one another, found {len(real_pairs)} "
            "(../shared/data/pairs is absent: only the bundled example is there)"
        )
    config, _ = ingested
    return Scorer(real_pairs, config, DEPTH)


def score_as_script(world: Scorer, pair_id: str, generated) -> Losses:
    """`generated` spoken and transcribed as it is, analysed against this pair's paper, scored against this
    pair's reference (validity.Scorer: the production scoring path)."""
    return world.score(pair_id, generated)[0]


def _parts(losses: Losses) -> str:
    return " ".join(
        f"{k[:3]} {getattr(losses, k):.3f}" for k in ("duration", "coverage", "structure", "quality", "rouge")
    )


CONTENT = ("coverage", "structure", "quality")
"""The losses that judge what is said and how it is built: not the length, not the word overlap with the
reference (ROUGE is 0 for the reference against itself and barely separates papers)."""


def content_loss(losses: Losses, world: Scorer) -> float:
    """The configured weighted mean of the content losses alone."""
    weights = world.config.loss_weights.model_dump()
    return sum(weights[k] * getattr(losses, k) for k in CONTENT) / sum(weights[k] for k in CONTENT)


def check(world: Scorer, variants, *, content_must_separate: bool = False) -> None:
    """Score the reference and each variant of every pair; print the table with the total's margin and the
    content losses' margin; fail naming every comparison the reference did not win."""
    lines, failures = [], []
    for pair_id, pair in world.pairs.items():
        reference = score_as_script(world, pair_id, pair.transcription)
        lines.append(
            f"{pair_id}: reference as script, total {reference.total:.3f}, content "
            f"{content_loss(reference, world):.3f} ({_parts(reference)})"
        )
        for label, generated in variants(world, pair_id):
            losses = score_as_script(world, pair_id, generated)
            margin = losses.total - reference.total
            content_margin = content_loss(losses, world) - content_loss(reference, world)
            lines.append(
                f"  {label:<52} total {losses.total:.3f} margin {margin:+.3f} content margin "
                f"{content_margin:+.3f} ({_parts(losses)})"
            )
            if not margin > 0:
                failures.append(f"{pair_id} vs {label}: total {losses.total:.3f} <= {reference.total:.3f}")
            if content_must_separate and not content_margin > 0:
                failures.append(
                    f"{pair_id} vs {label}: content losses do not separate ({content_margin:+.3f})"
                )
    print("\n" + "\n".join(lines))
    assert not failures, "\n".join(failures)


# --------------------------------------------------------------------------- the comparisons


def test_the_reference_beats_its_own_sentences_shuffled(world):
    def variants(world, pair_id):
        for seed in SHUFFLE_SEEDS:
            yield f"shuffled (seed {seed})", shuffled(world.pairs[pair_id].transcription, f"{pair_id}:{seed}")

    check(world, variants)


def test_the_reference_beats_its_first_third(world):
    check(world, lambda world, pair_id: [("first third", first_third(world.pairs[pair_id].transcription))])


def test_the_reference_beats_every_other_pairs_podcast(world):
    def variants(world, pair_id):
        for other_id, other in world.pairs.items():
            if other_id != pair_id:
                yield f"podcast of {other_id}", other.transcription

    check(world, variants, content_must_separate=True)


def test_the_shuffle_keeps_words_and_length_and_the_cut_keeps_a_third(world):
    for pair in world.pairs.values():
        original = pair.transcription
        mixed = shuffled(original, "check")
        assert sorted(text_of(mixed).split()) == sorted(
            " ".join(p.text for p in sentence_pieces(original)).split()
        )
        assert mixed.duration == original.duration
        assert mixed.segments[-1].end == pytest.approx(sentence_pieces(original)[-1].end, abs=1e-6)
        assert [s.start for s in mixed.segments] == sorted(s.start for s in mixed.segments)
        third = first_third(original)
        assert third.duration == pytest.approx(original.duration / 3)
        assert all(w.end <= third.duration for s in third.segments for w in s.words)
