"""The learned segment typer against the cue typer, leave-one-pair-out on the hand labels of tests/data, and the
speed of its ONNX export.

    python bench/learned_typer.py [--regularization 1.0]

For each labelled pair in ../shared/data/pairs: the podcast is transcribed and segmented as aligned_segments does,
and each segment gets the hand label covering most of its time (segments the labels leave mostly bare are left
out, as the oracle's calibration does). Each pair in turn is held out: the learned typer
(core/analysis/learned_typer.py leave_one_pair_out, which the distilled_models asset runs too) is fitted on the
other pairs' segments and types the held-out episode. Prints, per held-out pair, the time-weighted accuracy
(core/metrics.py) of the cue typer, the learned typer without and with its sequence layer, and always-the-majority-
type; per-type F1 and the confusion in seconds; the features that weigh most per type in a fit on every pair; then
that fit exported to ONNX (core/analysis/typer_export.py): whether onnxruntime gives the same labels on every
segment, and the seconds it takes to type 10 minutes of episode on this machine (features included; min, median and
max of 5 runs).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from podcast_assets.core.analysis import learned_typer
from podcast_assets.core.analysis.alignment import analyse_pair
from podcast_assets.core.analysis.evidence import SegmentEvidence
from podcast_assets.core.analysis.local_typer import local_typer
from podcast_assets.core.analysis.typer_export import OnnxTyper, card_for, export_onnx, parity
from podcast_assets.core.ingest.pdf import extract_document_graph
from podcast_assets.core.oracle.calibration import labelled_pairs, load_labels, trusted_segments
from podcast_assets.resources.asr import ASRResource

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PAIRS = PROJECT_ROOT.parent / "shared" / "data" / "pairs"
LABELS_DIR = PROJECT_ROOT / "tests" / "data"


def episode(pair_id: str, labels_file: Path) -> learned_typer.LabelledEpisode:
    pair_dir = PAIRS / pair_id
    labels = load_labels(labels_file)
    transcription = ASRResource().transcribe(next(pair_dir.glob("podcast.*")))
    graph, _ = extract_document_graph(pair_dir / "paper.pdf")
    seen = {}

    def recording(evidence, paper):
        seen["evidence"] = list(evidence)
        return local_typer(evidence, paper)

    analyse_pair(pair_id, transcription, graph, typer=recording)
    trusted = {t.segment_id: t.label for t in trusted_segments(pair_id, seen["evidence"], labels)}
    return learned_typer.LabelledEpisode(
        pair_id=pair_id, evidence=[e for e in seen["evidence"] if e.id in trusted], graph=graph,
        spans=[(lb.start, lb.end, lb.type) for lb in labels], labels=list(trusted.values()),
    )  # fmt: skip


def ten_minutes(episodes) -> tuple[list[SegmentEvidence], object]:
    """The longest episode's segments repeated (shifted in time) until they span 10 minutes."""
    longest = max(episodes, key=lambda e: e.evidence[-1].end)
    out, offset = [], 0.0
    while offset < 600.0:
        out += [SegmentEvidence(id=f"s{len(out) + 1:03d}", start=e.start + offset, end=e.end + offset, text=e.text,
                                audio_duration=600.0) for e in longest.evidence if e.start + offset < 600.0]  # fmt: skip
        offset += longest.evidence[-1].end
    return out, longest.graph


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regularization", type=float, default=1.0, help="inverse L2 strength C of the regression")
    args = parser.parse_args()
    files = {p: f for p, f in labelled_pairs(LABELS_DIR).items() if (PAIRS / p).is_dir()}
    if len(files) < 2:
        raise SystemExit(f"need two or more labelled pairs in {PAIRS} (found {len(files)})")
    started = time.perf_counter()
    episodes = [episode(p, f) for p, f in files.items()]
    print(f"{len(episodes)} labelled pairs, {sum(len(e.evidence) for e in episodes)} segments, inputs in "
          f"{time.perf_counter() - started:.0f} s\n")  # fmt: skip
    both = learned_typer.leave_one_pair_out(episodes, regularization=args.regularization)
    alone = learned_typer.leave_one_pair_out(episodes, regularization=args.regularization, sequence=False)
    print("| held out | segments | cue typer | learned, no sequence | learned + sequence | majority type |")
    print("|---|---|---|---|---|---|")
    for f, g in zip(both.folds, alone.folds, strict=True):
        print(f"| {f.pair_id} | {f.segments} | {f.cue:.1%} | {g.learned:.1%} | {f.learned:.1%} | {f.majority:.1%} |")
    print(f"| **mean** | | {both.cue:.1%} | {alone.learned:.1%} | {both.learned:.1%} | {both.majority:.1%} |\n")
    print(f"macro F1 over the held-out segments: cue typer {both.cue_macro_f1:.2f}, learned + sequence "
          f"{both.macro_f1:.2f}, learned alone {alone.macro_f1:.2f}")  # fmt: skip
    print("per type (learned + sequence): " + ", ".join(f"{t.type} {t.f1:.2f} ({t.support})" for t in both.per_type))
    print("confusion, seconds (label -> learned):")
    cells = [(label, said, s) for label, row in both.confusion_seconds.items() for said, s in row.items()]
    for label, said, s in sorted(cells, key=lambda c: -c[2]):
        print(f"  {label:>12} -> {said:<12} {s:6.1f} s{'' if label == said else '  (wrong)'}")
    everything = learned_typer.fit([(e.evidence, e.graph, e.labels) for e in episodes], regularization=args.regularization)
    print("\nfeatures with the largest weights per type (a fit on every pair; embedding dimensions left out):")
    for kind, names in everything.top_features().items():
        print(f"  {kind:>12}: {', '.join(names)}")
    onnx = export_onnx(everything)
    card = card_for(everything, onnx, trained_on={}, segments=0, evaluation=both, beats_cue_typer=False,
                    parity_segments=0, created_at="bench")  # fmt: skip
    served = OnnxTyper.load(onnx, card, threads=os.cpu_count() or 2)
    same, differ = parity(everything, served, [(e.evidence, e.graph) for e in episodes])
    print(f"\nONNX ({len(onnx) / 1024:.0f} KB): the same labels as scikit-learn on {same} of {same + len(differ)} segments")
    evidence, graph = ten_minutes(episodes)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        served(evidence, graph)
        times.append(time.perf_counter() - t0)
    print(f"typing a 10-minute episode ({len(evidence)} segments) with the ONNX typer, features included, on "
          f"{os.cpu_count()} cores (load {os.getloadavg()[0]:.1f}): min {min(times):.2f} s, median "
          f"{statistics.median(times):.2f} s, max {max(times):.2f} s")  # fmt: skip


if __name__ == "__main__":
    main()
