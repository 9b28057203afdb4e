"""`podcast-assets oracle calibrate`: one calibration round of the LLM oracle against the hand labels, through the
`oracle_calibration` asset (recorded in the Dagster instance); `oracle label`: every pair's segments labelled by it
(`oracle_labels`), refused until a calibration round and a fresh one passed.

Exit status of `calibrate`: 0 PASS, 3 REVIEW, 1 FAIL (or a failed run), 2 a usage or configuration error."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from podcast_assets.cli.instance import dagster_instance, launched_tags, recover_dead_runs
from podcast_assets.cli.interrupts import execute
from podcast_assets.cli.progress import failure_reasons, run_config
from podcast_assets.cli.train import definitions
from podcast_assets.core.config import PipelineConfig
from podcast_assets.core.oracle.calibration import CalibrationReport
from podcast_assets.core.storage import LocalArtifactStore

EXIT = {"PASS": 0, "REVIEW": 3, "FAIL": 1}
SHOWN_DISAGREEMENTS = 12


def _run(config: PipelineConfig, job: str, asset: str, op_config: dict, verbose: bool):
    defs = definitions(config)
    instance = dagster_instance(config)
    for run_id in recover_dead_runs(instance):
        print(f"run {run_id} was left running by a killed process: marked failed, its pool slots freed")
    result = execute(defs.resolve_job_def(job),
        instance=instance,
        run_config={**run_config(verbose=verbose), "ops": {asset: {"config": op_config}}},
        raise_on_error=False,
        tags=launched_tags(),
    )
    if not result.success:
        for reason in failure_reasons(result):
            print(f"    {reason}", file=sys.stderr)
        return None
    [mat] = result.asset_materializations_for_node(asset)
    return {k: getattr(v, "value", v) for k, v in mat.metadata.items()}


def print_report(report: CalibrationReport) -> None:
    a = report.agreement
    print(f"\n{report.round} round, seed {report.seed}: {report.verdict}")
    for reason in report.reasons:
        print(f"  - {reason}")
    print(f"agreement {a.agreement:.1%} of {a.items} segments ({a.seconds_agreement:.1%} of their time), "
          f"macro F1 {a.macro_f1:.2f}")  # fmt: skip
    print(f"\n{'type':>12}  trusted  oracle  precision  recall    F1")
    fmt = lambda v: "    -" if v is None else f"{v:5.2f}"  # noqa: E731
    for t in a.per_type:
        print(f"{t.type:>12}  {t.support:7d}  {t.predicted:6d}      {fmt(t.precision)}   {fmt(t.recall)} {fmt(t.f1)}")
    if a.disagreements:
        print(f"\ndisagreements ({len(a.disagreements)}; trusted -> oracle):")
        for d in a.disagreements[:SHOWN_DISAGREEMENTS]:
            edge = f" [{', '.join(d.edge)}]" if d.edge else ""
            print(f"  {d.key}{edge}: {d.trusted} -> {d.oracle}: {d.text} ...")
    cost = report.usage.cost_usd
    print(f"\n{report.usage.calls} LLM call(s), {report.usage.cached_calls} cached, cost "
          + ("unknown (the model's price is not listed)" if cost is None else f"${cost:.4f}"))  # fmt: skip


def cmd_calibrate(args: argparse.Namespace, config: PipelineConfig) -> int:
    from podcast_assets.defs.jobs import ORACLE_CALIBRATION_JOB_NAME

    op_config = {"task": args.task, "seed": args.seed, "fresh": args.fresh}
    if args.sample is not None:
        op_config["sample"] = args.sample
    oracle = config.llm.provider + (f":{config.llm.model}" if config.llm.model else "")
    print(f"calibrating the {args.task} oracle ({oracle}) against the hand labels "
          f"in {config.oracle.labels_dir} ...", flush=True)  # fmt: skip
    meta = _run(config, ORACLE_CALIBRATION_JOB_NAME, "oracle_calibration", op_config, args.verbose)
    if meta is None:
        return 1
    path = Path(meta["path"])
    report = LocalArtifactStore(config.storage.root).read_model(
        str(path.relative_to(config.storage.root)), CalibrationReport
    )
    print_report(report)
    print(f"report: {path}")
    print(("may label at scale: " if meta["may_label_at_scale"] else "may not label at scale yet: ") + meta["why"])
    return EXIT[report.verdict]


def cmd_label(args: argparse.Namespace, config: PipelineConfig) -> int:
    from podcast_assets.defs.jobs import ORACLE_LABELS_JOB_NAME

    print(f"labelling every pair's segments with the {args.task} oracle ...", flush=True)
    meta = _run(config, ORACLE_LABELS_JOB_NAME, "oracle_labels", {"task": args.task, "seed": args.seed}, args.verbose)
    if meta is None:
        return 1
    print(f"{meta['segments']} segments of {meta['pairs']} pair(s) labelled ({meta['calibrated']})")
    for part, counts in meta["parts"].items():
        print(f"  {part:>10}: {sum(counts.values())} ({', '.join(f'{t} {n}' for t, n in counts.items())})")
    print(f"labels: {meta['path']}")
    return 0


def sample_size(text: str) -> int:
    """--sample: a whole number of segments, at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of segments") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"a sample needs at least 1 segment, not {value} (leave --sample out for oracle.sample)")
    return value


def add_command(sub, verbose_parent, writer_parent) -> None:
    oracle = sub.add_parser("oracle", help="calibrate the LLM labeller against the hand labels, then label at scale")
    commands = oracle.add_subparsers(dest="oracle_command", required=True)
    calibrate = commands.add_parser(
        "calibrate",
        parents=[verbose_parent, writer_parent],
        help="one round: a stratified sample of hand-labelled segments, the oracle's labels, PASS / REVIEW / FAIL",
    )
    calibrate.add_argument("--task", choices=["segment_typing"], default="segment_typing")
    calibrate.add_argument("--sample", type=sample_size, help="segments in the sample (default: oracle.sample)")
    calibrate.add_argument("--seed", type=int, default=0, help="seed of the sample (default: 0)")
    calibrate.add_argument(
        "--fresh",
        action="store_true",
        help="a fresh round: a sample disjoint from every earlier round's, with another seed (its test set)",
    )
    calibrate.set_defaults(func=cmd_calibrate)
    label = commands.add_parser(
        "label",
        parents=[verbose_parent, writer_parent],
        help="type every pair's segments with the calibrated oracle, split 80/10/10 (refused before it passed)",
    )
    label.add_argument("--task", choices=["segment_typing"], default="segment_typing")
    label.add_argument("--seed", type=int, default=0, help="seed of the train/validation/test split (default: 0)")
    label.set_defaults(func=cmd_label)
