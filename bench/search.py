"""The offline searches side by side at an equal trial budget: the moves (refine.py) against Optuna's TPE (search.py).

    python bench/search.py --project DIR [--budget 7] [--search moves --search optuna] [--out curves.png]

DIR is a project `bench/train.py --project DIR` made (its configs, artifact root and Dagster home). For each
search, a copy of it without its refined prompt versions and sessions (the caches of papers, transcripts, profiles
and scored items stay: a version already scored is not scored again, and scoring is deterministic) runs
`podcast-assets train` with `training.search` set, `convergence.max_trials` = budget and patience = budget, so
every search spends the whole budget from v1 unless it runs out of proposals. Prints, per trial, the train loss
(what the search sees), the loss over every pair with its 90% interval, and the best train loss so far; then each
session's decision (the paired-bootstrap rule) and its leave-one-pair-out loss. Writes both curves to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

BIN = Path(sys.executable).parent
SEARCHES = ("moves", "optuna")


def _project_copy(project: Path, into: Path, search: str, budget: int) -> tuple[Path, dict[str, str]]:
    shutil.copytree(project, into, symlinks=True)
    shutil.rmtree(into / "artifacts" / "prompts", ignore_errors=True)
    shutil.rmtree(into / "artifacts" / "training", ignore_errors=True)
    config = into / "configs" / "pipeline.yaml"
    text = config.read_text().replace(str(project / "artifacts"), str(into / "artifacts"))
    text = re.sub(r"(?m)^  max_trials: .*$", f"  max_trials: {budget}", text)
    text = re.sub(r"(?m)^  patience: .*$", f"  patience: {budget}", text)
    text = re.sub(r"(?m)^  search: .*$", "", text)
    text = re.sub(r"(?m)^training:\n", f"training:\n  search: {search}\n", text)
    config.write_text(text)
    return config, {**os.environ, "DAGSTER_HOME": str(into / "home"), "PODCAST_ASSETS_CONFIG": str(config)}


def _report(root: Path) -> dict:
    (found,) = (root / "artifacts" / "training" / "sessions").glob("*/report.json")
    return json.loads(found.read_text())


def _interval(i: dict) -> str:
    return f"{i['mean']:.4f} [{i['low']:.4f}, {i['high']:.4f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, required=True, help="a project bench/train.py --project made")
    parser.add_argument("--budget", type=int, default=7, help="trials per search, the first (v1) included")
    parser.add_argument("--search", action="append", choices=SEARCHES, help="run only this search (repeatable)")
    parser.add_argument("--out", type=Path, default=Path("search_curves.png"))
    args = parser.parse_args()
    project = args.project.resolve()
    if not (project / "configs" / "pipeline.yaml").is_file():
        raise SystemExit(f"{project} has no configs/pipeline.yaml: make it with bench/train.py --project {project}")
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; budget {args.budget} trials per search")
    curves: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for search in args.search or SEARCHES:
            root = Path(scratch) / search
            _config, env = _project_copy(project, root, search, args.budget)
            started = time.perf_counter()
            done = subprocess.run([str(BIN / "podcast-assets"), "train", "--max-trials", str(args.budget)],
                                  cwd=root, env=env, capture_output=True, text=True, check=False)  # fmt: skip
            took = time.perf_counter() - started
            if done.returncode != 0:
                print(done.stdout[-3000:], done.stderr[-3000:], sep="\n")
                raise SystemExit(f"{search}: train exited {done.returncode}")
            report = _report(root)
            print(f"\n## {search}: {len(report['trials'])} trials in {took / 60:.1f} min\n")
            print("| trial | version | train loss | best train so far | loss, every pair [90%] | why |")
            print("|---|---|---|---|---|---|")
            best_so_far, curve = float("inf"), []
            for trial in report["trials"]:
                best_so_far = min(best_so_far, trial["train_loss"])
                curve.append(best_so_far)
                why = trial["reason"].split(": ", 1)[-1][:110]
                print(f"| {trial['trial_id']} | v{trial['prompt_version']} | {trial['train_loss']:.4f} | "
                      f"{best_so_far:.4f} | {_interval(trial['loss'])} | {why} |")  # fmt: skip
            curves[search] = curve
            decision, cv = report["decision"], report["cross_validated"]
            print(f"\nkept {decision['best_trial']} (v{decision['best_version']}): {_interval(decision['best_loss'])}")
            if decision.get("over_first"):
                gain = decision["over_first"]
                print(f"over v1, pair by pair: gain {_interval(gain['gain'])}, better on {gain['wins']} of "
                      f"{gain['gain']['pairs']}")  # fmt: skip
            print(f"leave-one-pair-out loss: {_interval(cv['loss'])}")
            if cv.get("over_first"):
                print(f"  over v1, pair by pair: gain {_interval(cv['over_first']['gain'])}, better on "
                      f"{cv['over_first']['wins']} of {cv['over_first']['gain']['pairs']}")  # fmt: skip
            print(f"stopped: {decision['reason']}")
    figure, axes = plt.subplots(figsize=(7, 4))
    for search, curve in curves.items():
        axes.plot(range(1, len(curve) + 1), curve, marker="o", label=search)
    axes.set(xlabel="trials spent", ylabel="best train loss so far", title="offline search at equal budget")
    axes.legend()
    figure.tight_layout()
    figure.savefig(args.out, dpi=120)
    print(f"\ncurves: {args.out}")


if __name__ == "__main__":
    main()
