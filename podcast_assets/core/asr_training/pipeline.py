"""One fine-tuning run, start to end: reviewed segments -> validated data -> 90/10 split -> WER of the recogniser in
use on the held-out segments -> fine-tuning (resumable) -> conversion to CTranslate2 -> WER of the new model on
the same segments -> the guarded swap -> a report with loss and WER curves.

A run's folder is named by its data and settings, so running again with nothing new resumes an interrupted run
or reports the finished one, and trains nothing twice. Both WERs are measured the same way, by faster-whisper
on the converted models, exactly as the recogniser is used."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from podcast_assets.core.asr_training.data import Example, fingerprint, split, validate
from podcast_assets.core.asr_training.registry import ModelRegistry
from podcast_assets.core.asr_training.trainer import (
    FinetuneError,
    Progress,
    Trainer,
    TrainSettings,
    require_extra,
)
from podcast_assets.core.metrics import word_errors
from podcast_assets.core.review.store import ReviewStore
from podcast_assets.core.storage import atomic_write_bytes

Recognise = Callable[[str, np.ndarray], str]
"""(CTranslate2 model folder or 'tiny.en', 16 kHz int16 samples) -> text"""


@dataclass(frozen=True)
class RunSettings:
    base_model: Path
    train: TrainSettings
    validation_share: float = 0.1
    split_seed: str = "podcast-assets"
    min_entries: int = 10
    min_seconds: float = 0.5
    min_chars_per_second: float = 3.0
    max_chars_per_second: float = 35.0
    quantization: str = "int8"


def runs_dir(storage_root: str | Path) -> Path:
    """Where fine-tuning runs keep their folders (one per data and settings)."""
    return Path(storage_root) / "asr" / "runs"


def last_report(storage_root: str | Path) -> dict | None:
    """The report of the run that finished last, if any."""
    reports = sorted(runs_dir(storage_root).glob("*/report.json"), key=lambda p: p.stat().st_mtime)
    return json.loads(reports[-1].read_text()) if reports else None


def corpus_wer(recognise: Recognise, model: str, examples: list[Example]) -> float:
    edits = words = 0
    for example in examples:
        e, w = word_errors(example.text, recognise(model, example.samples))
        edits, words = edits + e, words + w
    return round(edits / words, 4) if words else 0.0


def convert(hf_dir: Path, out: Path, quantization: str) -> Path:
    """The fine-tuned weights as a CTranslate2 model that faster-whisper loads (written whole, then moved in)."""
    import ctranslate2

    if (out / "model.bin").is_file():
        return out
    partial = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    ctranslate2.converters.TransformersConverter(
        str(hf_dir), copy_files=["tokenizer.json", "preprocessor_config.json"]
    ).convert(str(partial), quantization=quantization, force=True)
    partial.rename(out)
    return out


def plot(history: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    steps = history["steps"]
    if steps:
        left.plot([s for s, _ in steps], [v for _, v in steps], lw=1, label="training (per step)")
    epochs = [e for e in history["epochs"] if e["val_loss"] is not None]
    per_epoch = max(1, len(steps)) / max(1, len([e for e in epochs if e["epoch"] > 0]))
    left.plot(
        [e["epoch"] * per_epoch for e in epochs],
        [e["val_loss"] for e in epochs],
        "o-",
        label="held out (per epoch)",
    )
    left.set(xlabel="step", ylabel="loss", title="Loss")
    left.legend()
    right.plot([e["epoch"] for e in epochs], [100 * e["val_wer"] for e in epochs], "o-")
    right.set(xlabel="epoch (0: before training)", ylabel="WER %", title="Held-out word error rate")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def run_finetune(
    store: ReviewStore,
    registry: ModelRegistry,
    settings: RunSettings,
    *,
    current_model: str,
    recognise: Recognise,
    runs_dir: Path,
    say: Callable[[str], None] = print,
) -> dict:
    """Train from every reviewed segment, and install the result if it beats `current_model` on held-out segments.
    Returns the run's report (also written to <run>/report.json)."""
    require_extra()
    data = validate(
        store.training_rows(),
        min_seconds=settings.min_seconds,
        min_chars_per_second=settings.min_chars_per_second,
        max_chars_per_second=settings.max_chars_per_second,
    )
    for entry_id, reason in sorted(data.removed.items()):
        say(f"left out entry {entry_id}: {reason}")
    if len(data.kept) < settings.min_entries:
        raise FinetuneError(
            f"{len(data.kept)} reviewed segment(s) fit for training, fewer than finetune.min_entries ({settings.min_entries})",
            path=store.path,
            fix="review more segments (`podcast-assets review`), or lower finetune.min_entries",
        )
    train, held = split(data.kept, share=settings.validation_share, seed=settings.split_seed)
    described = {**asdict(settings.train), "base_model": str(settings.base_model), "validation_share": settings.validation_share,
                 "split_seed": settings.split_seed, "quantization": settings.quantization}  # fmt: skip
    # cpu_threads changes how fast a run goes, not what it learns: a run resumes whatever it is
    run_id = fingerprint(data.kept, {k: v for k, v in described.items() if k != "cpu_threads"})
    run_dir = runs_dir / run_id
    if (run_dir / "report.json").is_file():
        say(f"run {run_id} already trained on exactly these segments and settings: its report stands")
        return json.loads((run_dir / "report.json").read_text())
    run_dir.mkdir(parents=True, exist_ok=True)
    resumed = (run_dir / "checkpoints" / "latest.pt").is_file()
    say(
        f"run {run_id}: {len(train)} segments to train on, {len(held)} held out ({len(data.removed)} left out)"
        + ("; resuming from its last checkpoint" if resumed else "")
    )
    started = time.perf_counter()
    before = corpus_wer(recognise, current_model, held)
    say(f"recogniser in use ({current_model}): held-out WER {before:.1%}")

    def progress(p: Progress) -> None:
        atomic_write_bytes(run_dir / "progress.json", json.dumps(asdict(p)).encode())
        say(p.line())

    result = Trainer(settings.base_model, run_dir, settings.train, progress).run(train, held)
    if result.resumed_from_step is not None:
        say(f"resumed from step {result.resumed_from_step}")
    model_dir = convert(result.best_dir, run_dir / "model-ct2", settings.quantization)
    after = corpus_wer(recognise, str(model_dir), held)
    swapped = after < before
    model_id = f"ft-{run_id}-{settings.base_model.name}"
    if swapped:
        registry.install(model_dir, model_id=model_id, held_out_wer=after, replaced_wer=before, run=run_id)
        decision = f"installed: held-out WER {after:.1%} beats {before:.1%} of {current_model}, which is kept for rollback"
    else:
        decision = f"refused: held-out WER {after:.1%} does not beat {before:.1%} of {current_model}, which stays in use"
    say(decision)
    store.mark_trained([e.entry_id for e in train])
    plot(result.history, run_dir / "curves.png")
    report = {
        "run": run_id,
        "base_model": str(settings.base_model),
        "settings": described,
        "examples": {
            "kept": len(data.kept),
            "train": len(train),
            "held_out": len(held),
            "removed": data.removed,
        },
        "held_out_ids": [e.entry_id for e in held],
        "history": result.history,
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "resumed_from_step": result.resumed_from_step,
        "wer_before": before,
        "wer_after": after,
        "current_model": current_model,
        "swapped": swapped,
        "model_id": model_id if swapped else None,
        "decision": decision,
        "curves": str(run_dir / "curves.png"),
        "seconds": round(time.perf_counter() - started, 1),
    }
    atomic_write_bytes(run_dir / "report.json", json.dumps(report, indent=1).encode())
    return report
