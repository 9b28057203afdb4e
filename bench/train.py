"""The main job, timed: `podcast-assets train` from nothing in a throw-away project, then what it decided.

    python bench/train.py [--pairs-dir examples/pairs] [--max-trials N] [--project DIR]

A fresh artifact root and Dagster home (no cache of an earlier run is used: every paper is read, every podcast
transcribed, every trial written, spoken, heard back and scored), the project's configs and prompts, and the
pairs of `--pairs-dir` (default: the bundled example, as README command 1 runs it; `../shared/data/pairs` for the
four shared pairs). Prints the wall time of `train`, the trials with their train and validation losses, the best
version and the decision (`podcast-assets status`). `--project DIR` keeps the project there (its config is
DIR/configs/pipeline.yaml), for the benchmarks that need a trained store (trial.py, render.py, sync.py).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs-dir", type=Path, default=PROJECT_ROOT / "examples" / "pairs")
    parser.add_argument("--max-trials", type=int, help="as train's --max-trials (default: the config's)")
    parser.add_argument("--project", type=Path, help="keep the project in this new folder (default: thrown away)")
    args = parser.parse_args()
    if args.project is not None and args.project.exists():
        raise SystemExit(f"{args.project} exists: give a new folder")
    with tempfile.TemporaryDirectory() as scratch:
        root = args.project.resolve() if args.project else Path(scratch)
        shutil.copytree(PROJECT_ROOT / "configs", root / "configs")
        config = root / "configs" / "pipeline.yaml"
        config.write_text(
            config.read_text()
            .replace("pairs_dir: examples/pairs", f"pairs_dir: {args.pairs_dir.resolve()}")
            .replace("root: .artifacts", f"root: {root / 'artifacts'}")
        )
        env = {**os.environ, "DAGSTER_HOME": str(root / "home"), "PODCAST_ASSETS_CONFIG": str(config)}
        command = [str(BIN / "podcast-assets"), "train"]
        if args.max_trials:
            command += ["--max-trials", str(args.max_trials)]
        print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; pairs: {args.pairs_dir}")
        started = time.perf_counter()
        done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, check=False)
        took = time.perf_counter() - started
        if done.returncode != 0:
            print(done.stdout[-4000:], done.stderr[-4000:], sep="\n")
            raise SystemExit(f"train exited {done.returncode}")
        print(f"\n`podcast-assets train`: {took:.0f} s ({took / 60:.1f} min) wall time\n")
        status = subprocess.run([str(BIN / "podcast-assets"), "status"], cwd=root, env=env, capture_output=True,
                                text=True, check=True)  # fmt: skip
        print(status.stdout)
        trials = [line for line in done.stdout.splitlines() if line.startswith("trial t") and "loss" in line]
        print("\n".join(trials))


if __name__ == "__main__":
    main()
