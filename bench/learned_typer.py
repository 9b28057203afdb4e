"""The learned segment typer against the cue typer, leave-one-pair-out on the hand labels of tests/data.

    python bench/learned_typer.py [--regularization 1.0]

For each labelled pair in ../shared/data/pairs: the podcast is transcribed and segmented as aligned_segments does,
and each segment gets the hand label covering most of its time. Each pair in turn is held out: the learned typer
(core/analysis/learned_typer.py) is fitted on the other pairs' segments and types the held-out episode. Prints,
per held-out pair, the time-weighted accuracy (core/metrics.py, as bench/segment_typing.py) of the cue typer, the
learned typer without and with its sequence layer, and always-the-majority-type; then over all folds the segments'
per-type F1 and the confusion in seconds, and the features that weigh most per type in a fit on every pair.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

import yaml
from sklearn.metrics import classification_report

from podcast_assets.core.analysis import learned_typer
from podcast_assets.core.analysis.alignment import analyse_pair
from podcast_assets.core.analysis.local_typer import local_typer
from podcast_assets.core.ingest.pdf import extract_document_graph
from podcast_assets.core.metrics import time_weighted_typing_accuracy
from podcast_assets.resources.asr import ASRResource

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PAIRS = PROJECT_ROOT.parent / "shared" / "data" / "pairs"
LABELS_DIR = PROJECT_ROOT / "tests" / "data"


def episode(labels_file: Path):
    """(pair id, evidence, graph, hand labels, per-segment labels, the cue typer's labels)."""
    pair_dir = PAIRS / labels_file.name.removesuffix(".labels.yaml")
    labels = [(lb["start"], lb["end"], lb["type"]) for lb in yaml.safe_load(labels_file.read_text())]
    transcription = ASRResource().transcribe(next(pair_dir.glob("podcast.*")))
    graph, _ = extract_document_graph(pair_dir / "paper.pdf")
    seen = {}

    def recording(evidence, paper):
        seen["evidence"] = list(evidence)
        return local_typer(evidence, paper)

    cue = analyse_pair(pair_dir.name, transcription, graph, typer=recording)
    evidence = seen["evidence"]
    return (pair_dir.name, evidence, graph, labels, learned_typer.segment_labels(evidence, labels),
            [s.type for s in cue.segments])  # fmt: skip


def accuracy(evidence, types, labels) -> float:
    return time_weighted_typing_accuracy([(e.start, e.end, t) for e, t in zip(evidence, types, strict=True)], labels).accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regularization", type=float, default=1.0, help="inverse L2 strength C of the regression")
    args = parser.parse_args()
    files = [f for f in sorted(LABELS_DIR.glob("*.labels.yaml")) if (PAIRS / f.name.removesuffix(".labels.yaml")).is_dir()]
    if len(files) < 2:
        raise SystemExit(f"need two or more labelled pairs in {PAIRS} (found {len(files)})")
    started = time.perf_counter()
    episodes = [episode(f) for f in files]
    print(f"{len(episodes)} labelled pairs, {sum(len(e[1]) for e in episodes)} segments, inputs in "
          f"{time.perf_counter() - started:.0f} s\n")  # fmt: skip
    print("| held out | segments | cue typer | learned, no sequence | learned + sequence | majority type |")
    print("|---|---|---|---|---|---|")
    truth_all, guess_all, seconds = [], [], Counter()
    sums = Counter()
    for held in episodes:
        pair_id, evidence, graph, labels, segment_truth, cue_types = held
        train = [(e[1], e[2], e[4]) for e in episodes if e is not held]
        with_sequence = learned_typer.fit(train, regularization=args.regularization)
        alone = learned_typer.fit(train, regularization=args.regularization, sequence=False)
        learned = [label.type for label in with_sequence(evidence, graph).labels]
        plain = [label.type for label in alone(evidence, graph).labels]
        score = time_weighted_typing_accuracy([(e.start, e.end, t) for e, t in zip(evidence, learned, strict=True)], labels)
        row = {"cue": accuracy(evidence, cue_types, labels), "plain": accuracy(evidence, plain, labels),
               "learned": score.accuracy, "majority": score.majority_baseline}  # fmt: skip
        sums.update(row)
        print(f"| {pair_id} | {len(evidence)} | {row['cue']:.1%} | {row['plain']:.1%} | {row['learned']:.1%} | "
              f"{row['majority']:.1%} ({score.majority_label}) |")  # fmt: skip
        truth_all += segment_truth
        guess_all += learned
        seconds.update(score.confusion_seconds)
    n = len(episodes)
    print(f"| **mean** | | {sums['cue'] / n:.1%} | {sums['plain'] / n:.1%} | {sums['learned'] / n:.1%} | "
          f"{sums['majority'] / n:.1%} |\n")  # fmt: skip
    print("learned + sequence, every fold's held-out segments (segment counts, not seconds):")
    print(classification_report(truth_all, guess_all, zero_division=0))
    print("confusion, seconds (label -> learned):")
    for (truth, guess), s in sorted(seconds.items(), key=lambda kv: -kv[1]):
        print(f"  {truth:>12} -> {guess:<12} {s:6.1f} s{'' if truth == guess else '  (wrong)'}")
    everything = learned_typer.fit([(e[1], e[2], e[4]) for e in episodes], regularization=args.regularization)
    print("\nfeatures with the largest weights per type (a fit on every pair; embedding dimensions left out):")
    for kind, names in everything.top_features().items():
        print(f"  {kind:>12}: {', '.join(names)}")


if __name__ == "__main__":
    main()
