"""The training loop on the command line: `train` (after the per-pair assets and the aggregate), `status`,
`trial`, `compare`, `plot-loss`, `export`, `export-prompts`, `evaluate` and `generate`.

`train` drives the same assets and the same decision (`defs.training.advance`) as the sensors, one trial
item at a time in this process, so the UI shows every run and a killed run resumes with `--resume`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from podcast_assets.cli.interrupts import execute
from podcast_assets.core.config import PipelineConfig
from podcast_assets.core.storage import LocalArtifactStore
from podcast_assets.core.training.convergence import paired_improvement
from podcast_assets.core.training.models import TrainingSession, TrialItem
from podcast_assets.core.training.prompts import REFINED
from podcast_assets.core.training.session import (
    item_path,
    load_session,
    session_dir,
    session_failures,
    session_items,
    trial_complete,
)
from podcast_assets.core.training.summary import TrainingReport, build_report, loss_curve_png, report_markdown
from podcast_assets.resources.storage import open_store

LOSS_NAMES = ("duration", "coverage", "structure", "quality", "rouge", "total")


def with_overrides(config: PipelineConfig, args: argparse.Namespace) -> PipelineConfig:
    """The config with `train`'s --max-trials, --convergence-threshold and --target-depth applied."""
    convergence, training = config.convergence, config.training
    if getattr(args, "max_trials", None):
        convergence = convergence.model_copy(update={"max_trials": args.max_trials})
    if getattr(args, "convergence_threshold", None) is not None:
        convergence = convergence.model_copy(update={"min_improvement": args.convergence_threshold})
    if getattr(args, "target_depth", None):
        training = training.model_copy(update={"target_depth": args.target_depth})
    return config.model_copy(update={"convergence": convergence, "training": training})


def _store(config: PipelineConfig) -> LocalArtifactStore:
    return open_store(config.storage)


def _session_or_exit(config: PipelineConfig) -> TrainingSession | None:
    session = load_session(_store(config))
    if session is None:
        print(f"no training session in {config.storage.root}; run `podcast-assets train` first", file=sys.stderr)
    return session


def _report(config: PipelineConfig, session: TrainingSession) -> TrainingReport:
    store = _store(config)
    return build_report(session, session_items(store, session), session_failures(store, session), config.convergence)


def run_training(defs, instance, config: PipelineConfig, args: argparse.Namespace, logging_config: dict) -> bool:
    """Trials until the convergence rule stops them: each pair's item in its own run, then the summary,
    then the decision. Returns True when training ended (converged or stopped) with every trial summarised."""
    from podcast_assets.cli.instance import launched_tags
    from podcast_assets.cli.progress import failure_reasons
    from podcast_assets.defs.training import (
        SESSION_TAG,
        SUMMARY_JOB_NAME,
        TRIAL_JOB_NAME,
        TRIAL_TAG,
        advance,
        ensure_session,
    )

    resources = defs.resources
    store = _store(config)
    session = load_session(store) if args.resume else None
    if args.resume and session is None:
        print("nothing to resume: starting a new training session")
    if args.resume and session is not None and session.stopped:
        print(f"session {session.session_id} already stopped: {session.stopped}")
        print(report_markdown(_report(config, session)))
        return True
    if session is None:
        session = ensure_session(store, resources["training"], new=True)  # the old one stays in training/sessions/
        print(f"training session {session.session_id}: {len(session.split)} pair(s), "
              f"split {json.dumps(session.split)}; target length: {session.target_depth}")  # fmt: skip
    else:
        print(f"resuming session {session.session_id} at trial {session.current.trial_id}")
    trial_job = defs.resolve_job_def(TRIAL_JOB_NAME)
    summary_job = defs.resolve_job_def(SUMMARY_JOB_NAME)
    while True:
        entry = session.current
        print(f"\ntrial {entry.trial_id}: script_writer v{entry.prompt_version}: {entry.reason}", flush=True)
        for n, pair_id in enumerate(session.split, 1):
            label = f"  [{n}/{len(session.split)}] {pair_id} ({session.split[pair_id]})"
            if store.exists(item_path(session, entry.trial_id, pair_id)):
                item = store.read_model(item_path(session, entry.trial_id, pair_id), TrialItem)
                print(f"{label}: done before, total loss {item.losses.total:.4f}")
                continue
            started = time.perf_counter()
            print(f"{label}: writing, speaking, scoring ...", flush=True)
            result = execute(trial_job,
                partition_key=pair_id,
                instance=instance,
                run_config={**logging_config, "ops": {"trial_results": {"config": {"trial_id": entry.trial_id}}}},
                raise_on_error=False,
                tags={**launched_tags(), SESSION_TAG: session.session_id, TRIAL_TAG: entry.trial_id},
            )
            took = time.perf_counter() - started
            if result.success:
                item = store.read_model(item_path(session, entry.trial_id, pair_id), TrialItem)
                losses = " ".join(f"{n}={getattr(item.losses, n):.3f}" for n in LOSS_NAMES)
                print(f"{label}: {losses} ({item.speech.audio_seconds:.0f} s of audio, {took:.0f} s)", flush=True)
            else:
                print(f"{label}: FAILED in {took:.0f} s", file=sys.stderr)
                for reason in failure_reasons(result):
                    print(f"      {reason}", file=sys.stderr)
        if not trial_complete(store, session, entry.trial_id):
            print("the trial is incomplete (a pair's run did not finish); run again with --resume", file=sys.stderr)
            return False
        summary = execute(summary_job,
            instance=instance, run_config=logging_config, raise_on_error=False,
            tags={**launched_tags(), SESSION_TAG: session.session_id, TRIAL_TAG: entry.trial_id},
        )  # fmt: skip
        if not summary.success:
            for reason in failure_reasons(summary):
                print(f"    {reason}", file=sys.stderr)
            return False
        session, nxt, report = advance(store, resources["training"], resources["llm"], session.session_id)
        row = next(r for r in report.trials if r.trial_id == entry.trial_id)
        val = "-" if row.validation_loss is None else f"{row.validation_loss:.4f}"
        train_loss = "-" if row.train_loss is None else f"{row.train_loss:.4f}"
        total = "-" if row.loss is None else str(row.loss)
        print(f"trial {entry.trial_id}: total loss {total}; train {train_loss}, validation {val}; "
              f"{report.decision.reason}")  # fmt: skip
        if nxt is None:
            print(f"\ntraining stopped: {session.stopped}")
            break
    report = _report(config, session)
    print("\n" + report_markdown(report))
    base = config.storage.root / session_dir(session)
    print(f"report: {base}/report.md  table: {base}/trials.parquet  curves: {base}/loss_curve.png")
    print("export the best prompts: podcast-assets export-prompts --output DIR")
    if (tracking := resources["tracking"]).enabled:
        print(f"the trials in MLflow: {tracking.ui_command()}")
    return True


def cmd_status(args: argparse.Namespace, config: PipelineConfig) -> int:
    """The session's trials so far, the best one and the decision."""
    session = _session_or_exit(config)
    if session is None:
        return 2
    report = _report(config, session)
    print(report_markdown(report))
    running = [e.trial_id for e in session.trials if e.trial_id not in {r.trial_id for r in report.trials}]
    if running:
        print(f"in progress: {', '.join(running)}")
    print(f"stopped: {session.stopped}" if session.stopped else "training goes on (not stopped)")
    return 0


def _items_of(config: PipelineConfig, session: TrainingSession, trial_id: str) -> list[TrialItem]:
    return [i for i in session_items(_store(config), session) if i.trial_id == trial_id]


def cmd_trial(args: argparse.Namespace, config: PipelineConfig) -> int:
    """One trial: its version, why it was made, and every pair's losses and details."""
    session = _session_or_exit(config)
    if session is None:
        return 2
    try:
        entry = session.trial(args.id)
    except KeyError:
        print(f"error: no trial {args.id}; trials: {', '.join(t.trial_id for t in session.trials)}", file=sys.stderr)
        return 2
    print(f"# trial {entry.trial_id}: script_writer v{entry.prompt_version} (parent {entry.parent_trial or '-'})")
    print(f"why: {entry.reason}\n")
    store = _store(config)
    for item in _items_of(config, session, entry.trial_id):
        d = item.details
        print(f"## {item.pair_id} ({item.split})")
        print("  " + " ".join(f"{n}={getattr(item.losses, n):.4f}" for n in LOSS_NAMES))
        print(f"  audio {item.speech.audio_seconds:.1f} s vs reference {d.reference_seconds:.1f} s; "
              f"{item.speech.passes} pass(es); round-trip WER {item.speech.round_trip_wer:.1%}")  # fmt: skip
        print(f"  missed concepts: {', '.join(d.concepts_missed) or '-'}"
              f" (named but not explained: {', '.join(d.concepts_named_only) or '-'})")  # fmt: skip
        if d.semantic_similarity is not None:
            per_type = ", ".join(f"{t} {v:.2f}" for t, v in d.semantic_by_type.items())
            print(f"  semantic similarity to the reference: {d.semantic_similarity:.3f} ({per_type or 'no shared type'})")
        print(f"  spoken types: {' > '.join(d.generated_types)}")
        print(f"  reference types: {' > '.join(d.reference_types)}")
        print(f"  quality ({d.quality_method}): engagement {d.engagement:.0f}, clarity {d.clarity:.0f}, accuracy {d.accuracy:.0f}")
        for s in d.suggestions[:5]:
            print(f"    - {s}")
        print(f"  script: {store.path(item.script_path)}\n  audio: {store.path(item.audio_path)}")
    for pair_id, error in session_failures(store, session).get(entry.trial_id, {}).items():
        print(f"## {pair_id}: FAILED: {error}")
    return 0


def cmd_compare(args: argparse.Namespace, config: PipelineConfig) -> int:
    """Two trials side by side, per pair and loss (b - a: negative is better)."""
    session = _session_or_exit(config)
    if session is None:
        return 2
    a, b = (_items_of(config, session, t) for t in (args.a, args.b))
    if not a or not b:
        print(f"error: trial {args.a if not a else args.b} has no scored item", file=sys.stderr)
        return 2
    by_a, by_b = {i.pair_id: i for i in a}, {i.pair_id: i for i in b}
    print(f"| pair | loss | {args.a} | {args.b} | change |\n|---|---|---|---|---|")
    for pair_id in sorted(set(by_a) & set(by_b)):
        for name in LOSS_NAMES:
            x, y = getattr(by_a[pair_id].losses, name), getattr(by_b[pair_id].losses, name)
            print(f"| {pair_id} | {name} | {x:.4f} | {y:.4f} | {y - x:+.4f} |")
    step = paired_improvement({p: i.losses.total for p, i in by_a.items()}, {p: i.losses.total for p, i in by_b.items()})
    if step is not None:
        print(f"\n{args.b} over {args.a}, total loss: {step} (90% paired-bootstrap interval; positive is better)")
    return 0


def cmd_plot_loss(args: argparse.Namespace, config: PipelineConfig) -> int:
    session = _session_or_exit(config)
    if session is None:
        return 2
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(loss_curve_png(_report(config, session)))
    print(f"loss curves: {out}")
    return 0


def cmd_export(args: argparse.Namespace, config: PipelineConfig) -> int:
    """The session's report, table, curves, and the best trial's scripts and audio, into a folder."""
    session = _session_or_exit(config)
    if session is None:
        return 2
    store = _store(config)
    report = _report(config, session)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "training_report.json").write_text(report.model_dump_json(indent=1))
    (out / "training_report.md").write_text(report_markdown(report))
    (out / "loss_curve.png").write_bytes(loss_curve_png(report))
    parquet = store.local(f"{session_dir(session)}/trials.parquet")
    if parquet.is_file():
        shutil.copyfile(parquet, out / "trials.parquet")
    best = report.decision.best_trial
    for item in _items_of(config, session, best) if best else []:
        folder = out / "best" / item.pair_id
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(store.local(item.script_path), folder / "script.json")
        shutil.copyfile(store.local(item.audio_path), folder / f"podcast{Path(item.audio_path).suffix}")
    print(f"exported session {session.session_id} (best trial {best or '-'}) to {out}")
    return 0


def cmd_export_prompts(args: argparse.Namespace, config: PipelineConfig) -> int:
    """The best script_writer version of the current session (v1 when none) and the judges' and refiner's."""
    from podcast_assets.cli.evaluation import resolve_version
    from podcast_assets.core.training.prompts import TASKS, PromptLibrary
    from podcast_assets.resources.training import PROMPTS_DIR

    library = PromptLibrary(PROMPTS_DIR, _store(config))
    best = resolve_version(config, library, "best").version
    versions = {task: best if task == REFINED else max(library.numbers(task)) for task in TASKS}
    for path in library.export(args.output, versions):
        print(f"wrote {path}")
    chain = library.lineage(REFINED, versions[REFINED])
    print("script_writer lineage: " + " <- ".join(f"v{v.version}" for v in chain))
    return 0


def cmd_evaluate(args: argparse.Namespace, config: PipelineConfig) -> int:
    """Score prompt versions on pairs never used in training (no refinement): v1 and best side by side."""
    from podcast_assets.cli.evaluation import evaluate

    return evaluate(config, Path(args.pairs_dir), args.versions.split(","), verbose=args.verbose)


def cmd_generate(args: argparse.Namespace, config: PipelineConfig) -> int:
    """A new paper to script and audio with the best version and the aggregated profile."""
    from podcast_assets.cli.evaluation import generate

    return generate(config, Path(args.pdf), args.depth, Path(args.out), version=args.version)


def add_commands(sub, verbose_parent) -> None:
    status = sub.add_parser("status", help="the training session: trials, losses, best, decision")
    status.set_defaults(func=cmd_status)
    trial = sub.add_parser("trial", help="one trial's losses and details per pair")
    trial.add_argument("id", help="trial id, e.g. t002")
    trial.set_defaults(func=cmd_trial)
    compare = sub.add_parser("compare", help="two trials side by side")
    compare.add_argument("a")
    compare.add_argument("b")
    compare.set_defaults(func=cmd_compare)
    plot = sub.add_parser("plot-loss", help="write the loss curves as PNG")
    plot.add_argument("--out", default="loss_curve.png")
    plot.set_defaults(func=cmd_plot_loss)
    export = sub.add_parser("export", help="report, table, curves and the best trial's scripts and audio")
    export.add_argument("--output", required=True)
    export.set_defaults(func=cmd_export)
    prompts = sub.add_parser("export-prompts", help="write the best prompt set as files")
    prompts.add_argument("--output", required=True)
    prompts.set_defaults(func=cmd_export_prompts)
    evaluate = sub.add_parser("evaluate", parents=[verbose_parent], help="score versions on pairs never trained on")
    evaluate.add_argument("--pairs-dir", required=True, help="a folder of pair folders (paper.pdf + podcast)")
    evaluate.add_argument("--versions", default="v1,best", help="comma-separated: vN or best (default v1,best)")
    evaluate.set_defaults(func=cmd_evaluate)
    generate = sub.add_parser("generate", help="a new paper to script and audio")
    generate.add_argument("--pdf", required=True)
    generate.add_argument("--depth", default="standard", choices=["overview", "standard", "deep_dive", "comprehensive"])
    generate.add_argument("--out", required=True, help="folder for script.json, script.md and the audio")
    generate.add_argument("--version", default="best", help="script_writer version: vN or best")
    generate.set_defaults(func=cmd_generate)
