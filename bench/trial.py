"""How fast one offline trial runs: write, speak (with length correction), transcribe back, analyse, score.

    python bench/trial.py [--config configs/pipeline.yaml] [--repeat 1]

It needs a trained artifact store (run `podcast-assets train` with the same config first): it reads each
pair's document graph, reference transcript and typed segments and the current aggregated profile from it,
and scores script_writer v1 on every pair the aggregate used, into a throw-away store so nothing is served
from the trial cache. It prints, per pair and in total, seconds per trial per minute of reference audio, the
trial's real-time factor (reference seconds / trial seconds; target: 5x or better on 2 cores), the TTS
real-time factor (audio seconds / synthesis seconds), the passes of length correction and the round-trip WER.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from podcast_assets.core.analysis.profile_store import load_current
from podcast_assets.core.config import load_config
from podcast_assets.core.storage import LocalArtifactStore
from podcast_assets.core.training.prompts import REFINED, PromptLibrary
from podcast_assets.definitions import build_resources
from podcast_assets.defs.trial_items import PairRecords, Trainer, score_item
from podcast_assets.resources.storage import open_store
from podcast_assets.resources.training import PROMPTS_DIR

TARGET_REAL_TIME = 5.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, help="pipeline settings (default: configs/pipeline.yaml)")
    parser.add_argument("--repeat", type=int, default=1, help="trials per pair (the median is reported)")
    args = parser.parse_args()
    config = load_config(args.config)
    trained = open_store(config.storage)
    profile = load_current(trained)
    if profile is None:
        raise SystemExit(f"no aggregated profile in {config.storage.root}: run `podcast-assets train` first")
    resources = build_resources(config)
    library = PromptLibrary(PROMPTS_DIR, trained)
    version = library.get(REFINED, 1)
    resources["tts"].load()
    resources["asr"].load()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; {version.ref}; "
          f"pairs: {', '.join(profile.pairs_used)}\n")  # fmt: skip
    print(
        "| pair | reference min | trial s | s per ref min | real time | TTS real time | passes | round-trip WER |"
    )
    print("|---|---|---|---|---|---|---|---|")
    totals = {"reference": 0.0, "trial": 0.0, "audio": 0.0, "tts": 0.0}
    wers = []
    spreads: list[str] = []
    for pair_id in profile.pairs_used:
        pair = PairRecords.load(trained, pair_id)
        runs = []
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as scratch:
                trainer = Trainer(LocalArtifactStore(scratch), profile, library, resources["asr"], resources["tts"],
                                  resources["llm"], resources["training"])  # fmt: skip
                started = time.perf_counter()
                item, cached = score_item(trainer, pair, trial_id="bench", split="train", version=version,
                                          target_depth="reference")  # fmt: skip
                assert not cached
                runs.append((time.perf_counter() - started, item))
        seconds, item = sorted(runs, key=lambda r: r[0])[len(runs) // 2]
        if len(runs) > 1:
            totals_seen = [r[1].losses.total for r in runs]
            spreads.append(
                f"{pair_id}: total loss {min(totals_seen):.4f}..{max(totals_seen):.4f} over {len(runs)} runs"
            )
        reference = item.details.reference_seconds
        totals["reference"] += reference
        totals["trial"] += seconds
        totals["audio"] += item.speech.audio_seconds
        totals["tts"] += item.speech.synthesis_seconds
        wers.append(item.speech.round_trip_wer)
        print(f"| {pair_id} | {reference / 60:.1f} | {seconds:.1f} | {seconds / (reference / 60):.1f} | "
              f"{reference / seconds:.1f}x | {item.speech.audio_seconds / item.speech.synthesis_seconds:.1f}x | "
              f"{item.speech.passes} | {item.speech.round_trip_wer:.1%} |", flush=True)  # fmt: skip
    overall = totals["reference"] / totals["trial"]
    print(f"| **all** | {totals['reference'] / 60:.1f} | {totals['trial']:.1f} | "
          f"{totals['trial'] / (totals['reference'] / 60):.1f} | **{overall:.1f}x** | "
          f"{totals['audio'] / totals['tts']:.1f}x | | {statistics.fmean(wers):.1%} |")  # fmt: skip
    if spreads:
        print("\nthe same version scored again (its speech is seeded from the script, so any spread is what remains):")
        print("\n".join(f"  {line}" for line in spreads))
    verdict = "meets" if overall >= TARGET_REAL_TIME else "MISSES"
    print(
        f"\na whole offline trial runs at {overall:.1f}x real time: {verdict} the {TARGET_REAL_TIME:.0f}x target"
    )


if __name__ == "__main__":
    main()
