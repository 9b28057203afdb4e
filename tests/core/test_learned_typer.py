"""The learned segment typer: segments take the label covering most of their time, the sequence layer decodes
the most likely chain, and a fit learns from position and words what the episode's types are."""

from __future__ import annotations

import numpy as np
import pytest

from podcast_assets.core.analysis import learned_typer
from podcast_assets.core.analysis.evidence import SegmentEvidence
from podcast_assets.core.ingest.models import DocumentGraph


def ev(i: int, start: float, end: float, text: str, duration: float = 100.0) -> SegmentEvidence:
    return SegmentEvidence(id=f"s{i:03d}", start=start, end=end, text=text, audio_duration=duration)


def test_viterbi_lets_the_transitions_overrule_a_weak_emission():
    never_back = np.log(np.array([[0.5, 0.5], [1e-6, 1.0 - 1e-6]]))  # state 1 never returns to 0
    emission = np.log(np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]))
    start = np.log(np.array([0.5, 0.5]))
    assert [int(np.argmax(row)) for row in emission] == [0, 1, 0]
    assert learned_typer.viterbi(emission, never_back, start) == [0, 1, 1]
    assert learned_typer.viterbi(np.zeros((0, 2)), never_back, start) == []


def episode(duration: float = 300.0):
    texts = [
        ("intro", "Welcome to the show, today we talk about a new paper on graph networks."),
        ("methodology", "They train a model on market data with a filter that builds the network every day."),
        ("methodology", "The pipeline computes correlations, keeps the strongest edges and trains a classifier."),
        ("key_finding", "The results show an accuracy of ninety percent, better than every baseline they tried."),
        ("conclusion", "That's all for today, thanks for listening and see you next time."),
    ]
    step = duration / len(texts)
    evidence = [ev(i, i * step, (i + 1) * step, text, duration) for i, (_, text) in enumerate(texts)]
    return evidence, DocumentGraph.model_construct(atoms=[], figures=[], key_concepts=[], sections=[]), [t for t, _ in texts]


def test_a_fit_types_an_episode_like_its_training_episodes_and_names_its_features():
    train = [episode(240.0), episode(300.0), episode(420.0)]
    typer = learned_typer.fit(train)
    evidence, graph, truth = episode(360.0)
    result = typer(evidence, graph)
    assert result.classifier == learned_typer.LEARNED_TYPER
    assert [label.type for label in result.labels] == truth
    assert all(abs(sum(label.scores.values()) - 1.0) < 1e-3 for label in result.labels)
    assert set(typer.top_features()) == {"intro", "methodology", "key_finding", "conclusion"}


def test_one_type_is_not_enough_to_fit():
    evidence, graph, _ = episode()
    with pytest.raises(ValueError, match="two or more"):
        learned_typer.fit([(evidence, graph, ["methodology"] * len(evidence))])


def test_the_onnx_export_labels_as_scikit_learn_does_and_refuses_another_file():
    from podcast_assets.core.analysis import typer_export

    train = [episode(240.0), episode(300.0), episode(420.0)]
    typer = learned_typer.fit(train)
    onnx = typer_export.export_onnx(typer)
    evaluation = learned_typer.leave_one_pair_out(
        [learned_typer.LabelledEpisode(pair_id=f"p{i}", evidence=e, graph=g, spans=[(x.start, x.end, t) for x, t in zip(e, labels)],
                                       labels=labels) for i, (e, g, labels) in enumerate(train)]  # fmt: skip
    )
    assert [f.pair_id for f in evaluation.folds] == ["p0", "p1", "p2"] and 0 <= evaluation.macro_f1 <= 1
    card = typer_export.card_for(typer, onnx, trained_on={}, segments=15, evaluation=evaluation,
                                 beats_cue_typer=False, parity_segments=0, created_at="now")  # fmt: skip
    served = typer_export.OnnxTyper.load(onnx, card)
    evidence, graph, truth = episode(360.0)
    same, differ = typer_export.parity(typer, served, [(evidence, graph)])
    assert (same, differ) == (len(truth), [])
    sk = typer.probabilities(evidence, graph)
    assert np.abs(served.probabilities(evidence, graph) - sk).max() < 1e-6
    assert typer_export.confusion_png(evaluation).startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="content address"):
        typer_export.OnnxTyper.load(onnx + b"x", card)
