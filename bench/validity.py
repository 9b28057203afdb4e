"""The loss's validity suite as a table of margins: on every pair, each candidate's losses against the pair's
reference and its margin over the reference's own score (tests/test_validity.py asserts the orders).

    python bench/validity.py [--config configs/pipeline.yaml] [--depth standard]

It needs a trained artifact store (run `podcast-assets train` with the same config first) for each pair's
document graph and reference transcript. Candidates: the reference; each other pair's podcast; the reference
shuffled by sentence (two seeds); its first half; the paper read out (abstract, section openings, conclusion,
verbatim, cut to the reference's length), spoken by the project's TTS and heard back by its ASR. Columns: the
total and its margin over the reference (positive: the reference wins), coverage, quality and ROUGE losses,
the semantic similarity to the reference, and the concepts only named (not explained). Where the store holds a
training session, the podcasts its first trial (v1) and its best trial generated for each pair are scored too,
from their scripts and their audio heard back by the ASR.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from podcast_assets.core.analysis.profile_store import load_current
from podcast_assets.core.config import load_config
from podcast_assets.core.ingest.models import TranscriptionResult
from podcast_assets.core.training import validity
from podcast_assets.core.training.models import Script
from podcast_assets.core.training.session import load_session, session_items
from podcast_assets.core.training.summary import build_report
from podcast_assets.definitions import build_resources
from podcast_assets.defs.trial_items import PairRecords
from podcast_assets.resources.storage import open_store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, help="pipeline settings (default: configs/pipeline.yaml)")
    parser.add_argument("--depth", default="standard", help="depth whose number of key concepts is asked")
    args = parser.parse_args()
    config = load_config(args.config)
    trained = open_store(config.storage)
    profile = load_current(trained)
    if profile is None:
        raise SystemExit(f"no aggregated profile in {config.storage.root}: run `podcast-assets train` first")
    records = {p: PairRecords.load(trained, p) for p in profile.pairs_used}
    scorer = validity.Scorer({p: (r.reference, r.graph) for p, r in records.items()}, config, args.depth)
    resources = build_resources(config)
    tts, asr = resources["tts"], resources["asr"]
    folder = Path(tempfile.mkdtemp(prefix="validity-"))

    def hear(text: str) -> TranscriptionResult:
        path = folder / f"read-out-{len(list(folder.iterdir()))}.mp3"
        tts.speak([("Host", text)], path, speakers=["Host"])
        return asr.transcribe(path)

    generated: dict[str, dict[str, tuple[TranscriptionResult, str]]] = {p: {} for p in records}
    session = load_session(trained)
    if session is not None:
        items = session_items(trained, session)
        report = build_report(session, items, {}, config.convergence)
        first, best = session.trials[0].trial_id, report.decision.best_trial
        chosen = {first: "first trial" + (", best" if best == first else "")}
        if best and best != first:
            chosen[best] = f"best ({best})"
        for item in items:
            if item.trial_id in chosen and item.pair_id in generated:
                script = Script.model_validate_json(trained.local(item.script_path).read_text())
                heard = asr.transcribe(trained.local(item.audio_path))
                generated[item.pair_id][f"generated: {chosen[item.trial_id]} {item.prompt_version}"] = (
                    heard,
                    script.text,
                )

    started = time.perf_counter()
    print("| pair | candidate | total | margin | coverage | quality | ROUGE loss | semantic | named only |")
    print("|---|---|---|---|---|---|---|---|---|")
    failures = []
    for pair_id in scorer.pairs:
        table = list(
            validity.candidates(
                scorer, pair_id, hear=hear, shuffle_seeds=("0", "1"), generated=generated[pair_id]
            )
        )
        reference = table[0].losses.total
        for c in table:
            loss, details = c.losses, c.details
            print(
                f"| {pair_id} | {c.label} | {loss.total:.3f} | {loss.total - reference:+.3f} | {loss.coverage:.2f} "
                f"| {loss.quality:.2f} | {loss.rouge:.3f} | {details.semantic_similarity or 0.0:.3f} "
                f"| {len(details.concepts_named_only)} |"
            )
        failures += [f"{pair_id}: {f}" for f in validity.failed_orders(table)]
    print(
        f"\n{len(scorer.pairs)} pairs in {time.perf_counter() - started:.0f} s; orders broken: {len(failures)}"
    )
    for failure in failures:
        print(f"- {failure}")


if __name__ == "__main__":
    main()
