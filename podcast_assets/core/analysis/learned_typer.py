"""A segment typer learned from labelled podcasts, decoded over the whole episode.

Each segment is described by its text's WordLlama embedding (core/embedding.py), where it sits in the episode
(start, end and middle as shares of the audio), its alignment to the paper (best cosine, figures it names), its
form (question marks per sentence, words) and the cue typer's scores per type (local_typer.py: its evidence,
not its decision). A logistic regression with balanced class weights (rare types count as much as common ones)
gives each segment a probability per type; a first-order sequence model then decodes the episode (Viterbi)
with start and transition probabilities counted from the labelled episodes (add-one smoothed), so a type
depends on its neighbours: intro first, conclusion last, methodology before findings.

Training examples come from hand labels (tests/data/<pair>.labels.yaml): the project's own segmentation of
the episode, each segment given the label that covers most of its time (oracle/calibration.py trusted_segments).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import Field
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from podcast_assets.core.analysis.evidence import SegmentEvidence, SegmentLabel, TypingResult
from podcast_assets.core.analysis.local_typer import local_typer
from podcast_assets.core.analysis.models import SEGMENT_TYPES
from podcast_assets.core.embedding import embed
from podcast_assets.core.ingest.models import DocumentGraph
from podcast_assets.core.metrics import time_weighted_typing_accuracy
from podcast_assets.core.records import Record

LEARNED_TYPER = "learned-wordllama-logreg-viterbi-v1"
FORM_FEATURES = ("start", "end", "middle", "alignment", "figures", "questions", "log_words")


def features(evidence: Sequence[SegmentEvidence], graph: DocumentGraph) -> np.ndarray:
    """One row per segment: embedding, form features (FORM_FEATURES) and the cue typer's score per type."""
    if not evidence:
        return np.zeros((0, 256 + len(FORM_FEATURES) + len(SEGMENT_TYPES)), dtype=np.float64)
    vectors = embed([ev.text for ev in evidence]).astype(np.float64)
    cues = local_typer(evidence, graph).labels
    rows = []
    for ev, cue in zip(evidence, cues, strict=True):
        duration = max(ev.audio_duration, ev.end, 1e-6)
        sentences = max(1, sum(ev.text.count(c) for c in ".?!"))
        form = [ev.start / duration, ev.end / duration, (ev.start + ev.end) / 2 / duration, ev.alignment_score,
                float(bool(ev.referenced_figures)), ev.text.count("?") / sentences,
                math.log1p(len(ev.text.split()))]  # fmt: skip
        total = sum(cue.scores.values()) or 1.0
        rows.append(form + [cue.scores.get(t, 0.0) / total for t in SEGMENT_TYPES])
    return np.hstack([vectors, np.asarray(rows, dtype=np.float64)])


def viterbi(log_emission: np.ndarray, log_transition: np.ndarray, log_start: np.ndarray) -> list[int]:
    """The most likely state sequence of a first-order chain: emission (segments x states) log scores,
    transition (from x to) and start log probabilities."""
    n, k = log_emission.shape
    if n == 0:
        return []
    score = log_start + log_emission[0]
    back = np.zeros((n, k), dtype=np.int64)
    for i in range(1, n):
        candidates = score[:, None] + log_transition
        back[i] = candidates.argmax(axis=0)
        score = candidates.max(axis=0) + log_emission[i]
    path = [int(score.argmax())]
    for i in range(n - 1, 0, -1):
        path.append(int(back[i, path[-1]]))
    return path[::-1]


def decode(
    probs: np.ndarray, classes: Sequence[str], log_transition: np.ndarray, log_start: np.ndarray, *, sequence: bool
) -> tuple[SegmentLabel, ...]:
    """Each segment's label from its class probabilities: the Viterbi path over the transitions, or each segment's
    most likely class without the sequence layer."""
    if sequence:
        path = viterbi(np.log(np.clip(probs, 1e-9, 1.0)), log_transition, log_start)
    else:
        path = [int(p.argmax()) for p in probs]
    return tuple(
        SegmentLabel(
            type=classes[k],  # type: ignore[arg-type]
            confidence=round(float(p[k]), 4),
            scores={c: round(float(v), 4) for c, v in zip(classes, p, strict=True)},
        )
        for k, p in zip(path, probs, strict=True)
    )


@dataclass(frozen=True)
class LearnedTyper:
    """A fitted typer; call it as any Typer (analysis/evidence.py)."""

    classes: tuple[str, ...]
    scaler: StandardScaler
    model: LogisticRegression
    log_transition: np.ndarray
    log_start: np.ndarray
    sequence: bool = True

    def probabilities(self, evidence: Sequence[SegmentEvidence], graph: DocumentGraph) -> np.ndarray:
        return self.model.predict_proba(self.scaler.transform(features(evidence, graph)))

    def __call__(self, evidence: Sequence[SegmentEvidence], graph: DocumentGraph) -> TypingResult:
        labels = decode(self.probabilities(evidence, graph), self.classes, self.log_transition, self.log_start,
                        sequence=self.sequence)  # fmt: skip
        return TypingResult(classifier=LEARNED_TYPER, labels=labels)

    def top_features(self, n: int = 5) -> dict[str, list[str]]:
        """Per class, the form and cue features with the largest positive weights (embedding dimensions have
        no name and are left out)."""
        names = [*FORM_FEATURES, *(f"cue:{t}" for t in SEGMENT_TYPES)]
        named = self.model.coef_[:, 256:]
        coefs = named if len(self.classes) > 2 else np.vstack([-named[0], named[0]])
        return {c: [names[j] for j in np.argsort(-row)[:n]] for c, row in zip(self.classes, coefs, strict=True)}


def fit(
    episodes: Sequence[tuple[Sequence[SegmentEvidence], DocumentGraph, Sequence[str]]],
    *,
    regularization: float = 1.0,
    sequence: bool = True,
) -> LearnedTyper:
    """Fit on labelled episodes (evidence, paper, one label per segment). Needs two or more types."""
    rows = [features(evidence, graph) for evidence, graph, _ in episodes]
    targets = [list(labels) for _, _, labels in episodes]
    if any(len(r) != len(t) for r, t in zip(rows, targets, strict=True)):
        raise ValueError("one label per segment")
    y = [label for t in targets for label in t]
    classes = tuple(sorted(set(y)))
    if len(classes) < 2:
        raise ValueError(f"the labels hold {len(classes)} type(s): a typer needs two or more")
    x = np.vstack(rows)
    scaler = StandardScaler().fit(x)
    model = LogisticRegression(C=regularization, class_weight="balanced", max_iter=2000)
    model.fit(scaler.transform(x), y)
    index = {c: i for i, c in enumerate(model.classes_)}
    transitions = np.ones((len(classes), len(classes)))
    starts = np.ones(len(classes))
    for t in targets:
        if t:
            starts[index[t[0]]] += 1
        for a, b in zip(t, t[1:], strict=False):
            transitions[index[a], index[b]] += 1
    return LearnedTyper(
        classes=tuple(model.classes_),
        scaler=scaler,
        model=model,
        log_transition=np.log(transitions / transitions.sum(axis=1, keepdims=True)),
        log_start=np.log(starts / starts.sum()),
        sequence=sequence,
    )


@dataclass(frozen=True)
class LabelledEpisode:
    """One pair's trusted segments for fitting and scoring: its segments, paper, hand-label stretches (start, end,
    type) and each segment's label."""

    pair_id: str
    evidence: Sequence[SegmentEvidence]
    graph: DocumentGraph
    spans: Sequence[tuple[float, float, str]]
    labels: Sequence[str]


class HeldOut(Record):
    pair_id: str
    segments: int
    cue: float = Field(description="Time-weighted accuracy of the cue typer on the held-out pair.")
    learned: float = Field(description="The same for the learned typer fitted on the other pairs.")
    majority: float = Field(description="Always the held-out pair's most common labelled type.")


class TypeScore(Record):
    type: str
    support: int
    f1: float


class Evaluation(Record):
    """Leave-one-pair-out: each pair typed by the learned typer fitted on the others, beside the cue typer."""

    folds: list[HeldOut]
    cue: float = Field(description="Mean over folds.")
    learned: float
    majority: float
    macro_f1: float = Field(description="Learned typer, every fold's held-out segments, mean F1 over the types.")
    cue_macro_f1: float
    per_type: list[TypeScore]
    confusion_seconds: dict[str, dict[str, float]] = Field(description="{label: {learned type: seconds}}.")


def leave_one_pair_out(
    episodes: Sequence[LabelledEpisode], *, regularization: float = 1.0, sequence: bool = True
) -> Evaluation:
    """Each pair held out in turn (the typer with or without its sequence layer); needs two or more pairs."""
    from sklearn.metrics import f1_score

    if len(episodes) < 2:
        raise ValueError("leave-one-pair-out needs two or more labelled pairs")
    folds, truth, guess, cue_guess = [], [], [], []
    seconds: dict[str, dict[str, float]] = {}
    for held in episodes:
        train = [(e.evidence, e.graph, e.labels) for e in episodes if e is not held]
        typer = fit(train, regularization=regularization, sequence=sequence)
        learned = [label.type for label in typer(held.evidence, held.graph).labels]
        cue = [label.type for label in local_typer(held.evidence, held.graph).labels]
        score = time_weighted_typing_accuracy(_timed(held.evidence, learned), held.spans)
        folds.append(HeldOut(pair_id=held.pair_id, segments=len(held.evidence), learned=round(score.accuracy, 4),
                             cue=round(time_weighted_typing_accuracy(_timed(held.evidence, cue), held.spans).accuracy, 4),
                             majority=round(score.majority_baseline, 4)))  # fmt: skip
        truth += held.labels
        guess += learned
        cue_guess += cue
        for (label, said), s in score.confusion_seconds.items():
            row = seconds.setdefault(label, {})
            row[said] = round(row.get(said, 0.0) + s, 1)
    kinds = sorted(set(truth))
    f1 = f1_score(truth, guess, labels=kinds, average=None, zero_division=0)
    mean = lambda key: round(sum(getattr(f, key) for f in folds) / len(folds), 4)  # noqa: E731
    return Evaluation(
        folds=folds, cue=mean("cue"), learned=mean("learned"), majority=mean("majority"),
        macro_f1=round(float(f1.mean()), 4),
        cue_macro_f1=round(float(f1_score(truth, cue_guess, labels=kinds, average="macro", zero_division=0)), 4),
        per_type=[TypeScore(type=k, support=truth.count(k), f1=round(float(v), 4)) for k, v in zip(kinds, f1, strict=True)],
        confusion_seconds=seconds,
    )  # fmt: skip


def _timed(evidence: Sequence[SegmentEvidence], types: Sequence[str]) -> list[tuple[float, float, str]]:
    return [(e.start, e.end, t) for e, t in zip(evidence, types, strict=True)]
