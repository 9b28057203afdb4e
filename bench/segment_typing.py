"""Benchmark the segment typer against hand labels: time-weighted accuracy, the majority baseline, and
where the time goes wrong. The local typer always runs; the LLM typer too when configs/pipeline.yaml
configures one (its replies are cached under the artifact root, so a re-run costs nothing).

    python bench/segment_typing.py [--labels tests/data/<pair>.labels.yaml] [--llm]
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
DEFAULT_LABELS = PROJECT_ROOT / "tests" / "data" / "kd-survey-notebookllama-ollama.labels.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=Path, default=DEFAULT_LABELS)
    parser.add_argument("--llm", action="store_true", help="also score the LLM typer configured in configs/pipeline.yaml")
    args = parser.parse_args()
    pair_dir = PAIRS / args.labels.name.removesuffix(".labels.yaml")
    labels = [(lb["start"], lb["end"], lb["type"]) for lb in yaml.safe_load(args.labels.read_text())]

    started = time.perf_counter()
    transcription = ASRResource().transcribe(next(pair_dir.glob("podcast.*")))
    graph, _ = extract_document_graph(pair_dir / "paper.pdf")
    print(f"{pair_dir.name}: {transcription.duration:.0f} s of audio, inputs ready in {time.perf_counter() - started:.1f} s")

    typers = {"local": None}
    if args.llm:
        config = load_config()
        llm = LLMResource.from_settings(config.llm, cache_dir=str(config.storage.root / "cache" / "llm"))
        if not llm.enabled:
            parser.error("--llm: no LLM is configured in configs/pipeline.yaml (llm.provider is 'local')")
        typers["llm"] = llm_typer(llm.complete_json, load_prompt(PROJECT_ROOT / "prompts", "segment_typing"))
    for name, typer in typers.items():
        started = time.perf_counter()
        result = analyse_pair(pair_dir.name, transcription, graph, typer=typer)
        score = time_weighted_typing_accuracy([(s.start, s.end, s.type) for s in result.segments], labels)
        print(
            f"\n{name} typer ({result.classifier}), {len(result.segments)} segments in {time.perf_counter() - started:.2f} s: "
            f"accuracy {score.accuracy:.1%} vs always-{score.majority_label} {score.majority_baseline:.1%} "
            f"(ratio {score.accuracy / score.majority_baseline:.2f})"
        )
        if typer is not None:
            print(f"  LLM usage: {UsageTotals.of(typer.records).as_metadata()}")
        for (truth, guess), seconds in score.confusion_seconds.items():
            print(f"  {truth:>12} -> {guess:<12} {seconds:5.1f} s{'' if truth == guess else '  (wrong)'}")


if __name__ == "__main__":
    main()
