"""The learned segment typer for deployment: its regression (scaler and logistic regression) exported to ONNX with
skl2onnx and run by onnxruntime on the CPU, the sequence layer (Viterbi over the learned transitions) beside it as
data, and a card that versions the pair (content address, classes, what it was trained on, how it scored).

`OnnxTyper` types an episode exactly as the scikit-learn typer does (the same features, core/analysis/
learned_typer.py); `parity` checks that on given segments, and the distilled_models asset refuses a model whose ONNX
labels differ from scikit-learn's on any trusted segment.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import Field

from podcast_assets.core.analysis.evidence import SegmentEvidence, TypingResult
from podcast_assets.core.analysis.learned_typer import (
    LEARNED_TYPER,
    Evaluation,
    LearnedTyper,
    decode,
    features,
)
from podcast_assets.core.ingest.models import DocumentGraph
from podcast_assets.core.records import Record
from podcast_assets.core.storage import sha256_bytes

ONNX_TYPER = f"{LEARNED_TYPER}-onnx"


TYPERS_PREFIX = "models/segment_typer"
"""Where `distilled_models` stores each fitted typer, one folder per model (its ONNX file and its card)."""


def typer_folder(model_sha256: str) -> str:
    """The folder of the typer whose ONNX file has this content address."""
    return f"{TYPERS_PREFIX}/{model_sha256[:16]}"


def export_onnx(typer: LearnedTyper) -> bytes:
    """The typer's scaler and regression as one ONNX graph: float64 features in, per-class probabilities out."""
    from skl2onnx import to_onnx
    from sklearn.pipeline import make_pipeline

    width = typer.scaler.n_features_in_
    graph = to_onnx(make_pipeline(typer.scaler, typer.model), np.zeros((1, width), dtype=np.float64),
                    options={id(typer.model): {"zipmap": False}})  # fmt: skip
    return graph.SerializeToString()


class TyperCard(Record):
    """What a stored typer is: its ONNX file's content address, its classes and sequence layer, its lineage."""

    model_sha256: str
    kind: str = ONNX_TYPER
    classes: list[str]
    sequence: bool
    log_transition: list[list[float]]
    log_start: list[float]
    trained_on: dict[str, str] = Field(description="{pair_id: content address of its segments and labels}.")
    segments: int
    evaluation: Evaluation
    beats_cue_typer: bool = Field(description="Leave-one-pair-out time-weighted accuracy above the cue typer's.")
    parity_segments: int = Field(description="Trusted segments on which ONNX and scikit-learn gave the same labels.")
    created_at: str


def card_for(typer: LearnedTyper, onnx: bytes, **fields: Any) -> TyperCard:
    return TyperCard(model_sha256=sha256_bytes(onnx), classes=list(typer.classes), sequence=typer.sequence,
                     log_transition=typer.log_transition.round(6).tolist(), log_start=typer.log_start.round(6).tolist(),
                     **fields)  # fmt: skip


@dataclass
class OnnxTyper:
    """A Typer running the exported regression with onnxruntime, then the card's sequence layer."""

    session: Any
    card: TyperCard

    @classmethod
    def load(cls, onnx: bytes, card: TyperCard, *, threads: int = 2) -> OnnxTyper:
        import onnxruntime as ort

        if sha256_bytes(onnx) != card.model_sha256:
            raise ValueError("the ONNX file is not the one its card names (content address differs)")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        return cls(ort.InferenceSession(onnx, options, providers=["CPUExecutionProvider"]), card)

    def probabilities(self, evidence: Sequence[SegmentEvidence], graph: DocumentGraph) -> np.ndarray:
        x = features(evidence, graph)
        if not len(x):
            return np.zeros((0, len(self.card.classes)))
        _labels, probs = self.session.run(None, {self.session.get_inputs()[0].name: x})
        return np.asarray(probs, dtype=np.float64)

    def __call__(self, evidence: Sequence[SegmentEvidence], graph: DocumentGraph) -> TypingResult:
        card = self.card
        labels = decode(self.probabilities(evidence, graph), card.classes, np.asarray(card.log_transition),
                        np.asarray(card.log_start), sequence=card.sequence)  # fmt: skip
        return TypingResult(classifier=ONNX_TYPER, labels=labels)


def parity(a, b, episodes: Sequence[tuple[Sequence[SegmentEvidence], DocumentGraph]]) -> tuple[int, list[str]]:
    """(segments both typers labelled the same, the ids of those they did not) over `episodes`."""
    same, differ = 0, []
    for evidence, graph in episodes:
        for ev, x, y in zip(evidence, a(evidence, graph).labels, b(evidence, graph).labels, strict=True):
            if x.type == y.type:
                same += 1
            else:
                differ.append(ev.id)
    return same, differ


def confusion_png(evaluation: Evaluation) -> bytes:
    """The leave-one-pair-out confusion in seconds (label rows, learned type columns) as a PNG heat map."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(evaluation.confusion_seconds)
    cols = sorted({c for r in evaluation.confusion_seconds.values() for c in r} | set(rows))
    grid = np.array([[evaluation.confusion_seconds[r].get(c, 0.0) for c in cols] for r in rows])
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * len(cols), 1.0 + 0.5 * len(rows)), dpi=100)
    ax.imshow(grid, cmap="Blues")
    ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel("learned typer (held-out pair)")
    ax.set_ylabel("hand label")
    for i in range(len(rows)):
        for j in range(len(cols)):
            if grid[i, j] > 0:
                ax.text(j, i, f"{grid[i, j]:.0f}", ha="center", va="center", fontsize=7,
                        color="white" if grid[i, j] > grid.max() / 2 else "black")  # fmt: skip
    ax.set_title("seconds, leave-one-pair-out")
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    plt.close(fig)
    return out.getvalue()
