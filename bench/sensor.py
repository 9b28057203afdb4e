"""How the pairs sensor scales: one tick over 10, 100 and 1,000 new pairs (small synthetic files), then the
ticks after it, against a temporary Dagster instance.

    python bench/sensor.py [--sizes 10,100,1000] [--ticks 3]

Per size it prints the first tick's time (discovery, registering every partition, hashing and requesting the
first batch), the time of the next ticks (the first batches launched, nothing re-hashed that did not change),
the runs requested and pairs hashed per tick, and the cursor's size. Target: 1,000 pairs registered in one
tick in under 5 s.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import dagster as dg

from podcast_assets.core.config import parse_config
from podcast_assets.definitions import build_definitions
from podcast_assets.defs.partitions import training_pairs
from podcast_assets.defs.sensors import training_pairs_sensor

TARGET_S = 5.0


def make_pairs(pairs_dir: Path, count: int) -> None:
    for n in range(count):
        folder = pairs_dir / f"pair-{n:05d}"
        folder.mkdir(parents=True)
        (folder / "paper.pdf").write_bytes(b"%PDF-1.7 synthetic paper " + str(n).encode() * 200)
        (folder / "podcast.mp3").write_bytes(b"ID3 synthetic audio " + str(n).encode() * 2000)


def one_tick(defs: dg.Definitions, instance: dg.DagsterInstance, cursor: str | None):
    """Evaluate a tick and apply its partition requests, as the daemon does; (seconds, result)."""
    started = time.perf_counter()
    with dg.build_sensor_context(
        instance=instance, instance_ref=instance.get_ref(), cursor=cursor, definitions=defs, resources=defs.resources
    ) as context:  # a context manager: the LLM resource holds a nested resource
        result = training_pairs_sensor.evaluate_tick(context)
    for request in result.dynamic_partitions_requests or []:
        if isinstance(request, dg.AddDynamicPartitionsRequest):
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--ticks", type=int, default=3, help="ticks after the first")
    args = parser.parse_args()
    print("| pairs | first tick s | registered | runs requested | later ticks s (median) | runs per later tick "
          "| cursor bytes |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    verdicts = []
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp, dg.instance_for_test() as instance:
            root = Path(tmp)
            make_pairs(root / "pairs", size)
            config = parse_config({"pairs_dir": str(root / "pairs"), "storage": {"root": str(root / "artifacts")}},
                                  root / "configs" / "pipeline.yaml")  # fmt: skip
            defs = build_definitions(config)
            first_s, result = one_tick(defs, instance, None)
            registered = len(instance.get_dynamic_partitions(training_pairs.name))
            cursor, later, later_runs = result.cursor, [], []
            for _ in range(args.ticks):
                seconds, later_result = one_tick(defs, instance, cursor)
                later.append(seconds)
                later_runs.append(len(later_result.run_requests))
                cursor = later_result.cursor
            print(f"| {size} | {first_s:.2f} | {registered} | {len(result.run_requests)} | "
                  f"{statistics.median(later):.2f} | {', '.join(map(str, later_runs))} | {len(cursor)} |")  # fmt: skip
            if size >= 1000:
                verdicts.append(f"{size} pairs registered in one tick in {first_s:.2f} s "
                                f"({'meets' if first_s < TARGET_S and registered == size else 'misses'} the "
                                f"target of {TARGET_S:g} s)")  # fmt: skip
    for verdict in verdicts:
        print(f"\n{verdict}")


if __name__ == "__main__":
    main()
