"""Benchmark the segment typer against hand labels: time-weighted accuracy, the majority baseline, and
where the time goes wrong, for every labelled pair in tests/data (tests/data/README.md says how they were
labelled). The local typer was tuned on kd-survey-notebookllama-ollama only: its figure there is in
sample; every other labelled pair is held out, and its figure is the out-of-sample one. The LLM typer
runs too when configs/pipeline.yaml configures one (replies are cached, so a re-run costs nothing).

    python bench/segment_typing.py [--labels tests/data/<pair>.labels.yaml ...] [--llm]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import yaml

from podcast_assets.core.analysis.alignment import analyse_pair
from podcast_assets.core.analysis.llm_typer import llm_typer
from podcast_assets.core.config import load_config
from podcast_assets.core.ingest.pdf import extract_document_graph
from podcast_assets.core.llm import UsageTotals, load_prompt
from podcast_assets.core.metrics import time_weighted_typing_accuracy
from podcast_assets.resources.asr import ASRResource
from podcast_assets.resources.llm import LLMResource

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PAIRS = PROJECT_ROOT.parent / "shared" / "data" / "pairs"
LABELS_DIR = PROJECT_ROOT / "tests" / "data"
TUNED_ON = "kd-survey-notebookllama-ollama"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=Path, action="append", help="labels file(s) (default: all in tests/data)")
    parser.add_argument("--llm", action="store_true", help="also score the LLM typer configured in configs/pipeline.yaml")
    args = parser.parse_args()
    typers = {"local": None}
    if args.llm:
        config = load_config()
        llm = LLMResource.from_settings(config.llm, cache_dir=str(config.storage.root / "cache" / "llm"))
        if not llm.enabled:
            parser.error("--llm: no LLM is configured in configs/pipeline.yaml (llm.provider is 'local')")
        typers["llm"] = llm_typer(llm.complete_json, load_prompt(PROJECT_ROOT / "prompts", "segment_typing"))
    for labels_file in args.labels or sorted(LABELS_DIR.glob("*.labels.yaml")):
        score_pair(labels_file, typers)


def score_pair(labels_file: Path, typers: dict) -> None:
    pair_dir = PAIRS / labels_file.name.removesuffix(".labels.yaml")
    if not pair_dir.is_dir():
        print(f"\n{pair_dir.name}: skipped, the pair is not in {PAIRS}")
        return
    labels = [(lb["start"], lb["end"], lb["type"]) for lb in yaml.safe_load(labels_file.read_text())]
    sample = "IN SAMPLE (the local typer was tuned on it)" if pair_dir.name == TUNED_ON else "held out"

    started = time.perf_counter()
    transcription = ASRResource().transcribe(next(pair_dir.glob("podcast.*")))
    graph, _ = extract_document_graph(pair_dir / "paper.pdf")
    print(f"\n{pair_dir.name} ({sample}): {transcription.duration:.0f} s of audio, inputs ready in "
          f"{time.perf_counter() - started:.1f} s")
    for name, typer in typers.items():
        started = time.perf_counter()
        result = analyse_pair(pair_dir.name, transcription, graph, typer=typer)
        score = time_weighted_typing_accuracy([(s.start, s.end, s.type) for s in result.segments], labels)
        print(
            f"{name} typer ({result.classifier}), {len(result.segments)} segments in {time.perf_counter() - started:.2f} s: "
            f"accuracy {score.accuracy:.1%} vs always-{score.majority_label} {score.majority_baseline:.1%} "
            f"(ratio {score.accuracy / score.majority_baseline:.2f})"
        )
        if typer is not None:
            print(f"  LLM usage: {UsageTotals.of(typer.records).as_metadata()}")
        for (truth, guess), seconds in score.confusion_seconds.items():
            print(f"  {truth:>12} -> {guess:<12} {seconds:5.1f} s{'' if truth == guess else '  (wrong)'}")


if __name__ == "__main__":
    main()
