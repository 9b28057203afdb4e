"""`podcast-assets asr finetune | status | rollback`: adapt the recogniser to reviewed segments, see which model is
in use, and go back to the one before."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from podcast_assets.core.config import PipelineConfig


def cmd_finetune(args: argparse.Namespace, config: PipelineConfig) -> int:
    from podcast_assets.cli.review import open_store
    from podcast_assets.core.asr_training.pipeline import RunSettings, run_finetune, runs_dir
    from podcast_assets.core.asr_training.registry import ModelRegistry
    from podcast_assets.core.asr_training.trainer import TrainSettings
    from podcast_assets.definitions import recogniser_model
    from podcast_assets.resources.asr import ASRResource

    f = config.finetune
    base = Path(args.base_model) if args.base_model else f.base_model
    if base is None:
        print(
            "error: no base model: set finetune.base_model (or pass --base-model) to a folder of Whisper weights in "
            "Hugging Face format, e.g. a download of openai/whisper-tiny.en (PyPI carries none)",
            file=sys.stderr,
        )
        return 2
    settings = RunSettings(
        base_model=base.resolve(),
        train=TrainSettings(
            learning_rate=args.learning_rate or f.learning_rate, batch_size=f.batch_size,
            gradient_accumulation=f.gradient_accumulation, epochs=args.epochs or f.epochs, patience=f.patience,
            checkpoint_steps=f.checkpoint_steps, seed=f.seed, cpu_threads=f.cpu_threads,
        ),
        validation_share=f.validation_share, split_seed=f.split_seed, min_entries=f.min_entries,
        max_chars_per_second=config.review.max_chars_per_second, quantization=f.quantization,
    )  # fmt: skip
    asr = config.asr

    def recognise(model: str, samples) -> str:
        return ASRResource(
            model=model, compute_type=asr.compute_type, cpu_threads=asr.cpu_threads, beam_size=asr.beam_size
        ).recognise_clip(samples)

    report = run_finetune(
        open_store(config), ModelRegistry(config.storage.root), settings,
        current_model=recogniser_model(config), recognise=recognise, runs_dir=runs_dir(config.storage.root),
        say=lambda line: print(line, flush=True),
    )  # fmt: skip
    print(
        f"report: {runs_dir(config.storage.root) / report['run'] / 'report.json'} (curves: {report['curves']})"
    )
    return 0


def cmd_status(args: argparse.Namespace, config: PipelineConfig) -> int:
    from podcast_assets.cli.review import open_store
    from podcast_assets.core.asr_training.pipeline import last_report
    from podcast_assets.core.asr_training.registry import ModelRegistry
    from podcast_assets.definitions import recogniser_model

    registry = ModelRegistry(config.storage.root)
    current = registry.current()
    print(f"recogniser in use: {recogniser_model(config)}")
    if current:
        print(f"    fine-tuned by run {current.run} on {current.installed_at}: held-out WER {current.held_out_wer:.1%} "
              f"(the model before: {current.replaced_wer:.1%})")  # fmt: skip
    before = registry.previous()
    if current:
        print(f"    rollback restores: {before[0].path if before and before[0] else config.asr.model}")
    stats = open_store(config).stats()
    print(f"reviewed segments: {stats['reviewed']} ({stats['ready_for_training']} not yet trained on)")
    if last := last_report(config.storage.root):
        print(f"last run {last['run']}: {last['decision']}")
    return 0


def cmd_rollback(args: argparse.Namespace, config: PipelineConfig) -> int:
    from podcast_assets.core.asr_training.registry import ModelRegistry

    restored = ModelRegistry(config.storage.root).rollback()
    print(f"recogniser restored: {restored.path if restored else config.asr.model + ' (asr.model)'}")
    print(
        "transcripts made with it are served from the cache; `podcast-assets train` re-makes the pairs' records"
    )
    return 0


def add_command(sub) -> None:
    asr = sub.add_parser("asr", help="adapt the recogniser: finetune on reviewed segments, status, rollback")
    actions = asr.add_subparsers(dest="asr_command", required=True)
    finetune = actions.add_parser(
        "finetune",
        help="fine-tune Whisper on every reviewed segment; install it only if it beats the model in use",
    )
    finetune.add_argument(
        "--base-model", help="Whisper weights in Hugging Face format (default: finetune.base_model)"
    )
    finetune.add_argument("--epochs", type=int, help="at most this many epochs (default: finetune.epochs)")
    finetune.add_argument("--learning-rate", type=float, help="default: finetune.learning_rate (1e-5)")
    finetune.set_defaults(func=cmd_finetune)
    actions.add_parser(
        "status", help="the recogniser in use, the one a rollback restores, the last run"
    ).set_defaults(func=cmd_status)
    actions.add_parser("rollback", help="restore the recogniser in use before the last swap").set_defaults(
        func=cmd_rollback
    )
