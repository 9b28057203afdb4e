"""Fine-tuning Whisper on reviewed segments with transformers and torch (the `finetune` extra), on the GPU when
there is one and on the CPU otherwise.

The seed's recipe: AdamW at `learning_rate` (1e-5), `batch_size` segments a step with `gradient_accumulation`,
up to `epochs` epochs, early stopping when the held-out WER has not improved for `patience` epochs, and the
best epoch's weights kept. A checkpoint (weights, optimizer, position, history) is written atomically every
`checkpoint_steps` steps and at the end of every epoch; a run started again with the same data and settings
resumes from it, at the same batch of the same epoch (each epoch's order comes from the seed)."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from podcast_assets.core.asr_training.data import Example
from podcast_assets.core.errors import PodcastAssetsError
from podcast_assets.core.metrics import word_errors


class FinetuneError(PodcastAssetsError):
    pass


def require_extra() -> None:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        raise FinetuneError(
            f"fine-tuning needs torch and transformers, which are not installed ({exc.name})",
            fix="pip install -e '.[finetune]' (torch on the CPU, or the GPU when there is one)",
        ) from exc


@dataclass(frozen=True)
class TrainSettings:
    learning_rate: float = 1e-5
    batch_size: int = 8
    gradient_accumulation: int = 2
    epochs: int = 10
    patience: int = 2
    checkpoint_steps: int = 50
    seed: int = 0
    cpu_threads: int = 2
    language: str = "en"


@dataclass
class Progress:
    epoch: int
    epochs: int
    step: int
    total_steps: int
    loss: float
    eta_seconds: float
    val_wer: float | None = None

    def line(self) -> str:
        eta = f"{int(self.eta_seconds // 60)} min {int(self.eta_seconds % 60):02d} s"
        wer = f", held-out WER {self.val_wer:.1%}" if self.val_wer is not None else ""
        return f"epoch {self.epoch}/{self.epochs}, step {self.step}/{self.total_steps}, loss {self.loss:.3f}{wer}, ETA {eta}"


@dataclass
class TrainResult:
    best_dir: Path
    history: dict[str, Any]
    resumed_from_step: int | None = None
    stopped_early: bool = False
    best_epoch: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class Trainer:
    def __init__(
        self,
        base_model: Path,
        run_dir: Path,
        settings: TrainSettings,
        on_progress: Callable[[Progress], None],
    ):
        require_extra()
        self.base_model = Path(base_model)
        self.run_dir = Path(run_dir)
        self.settings = settings
        self.on_progress = on_progress
        self.checkpoint = self.run_dir / "checkpoints" / "latest.pt"
        self.best_dir = self.run_dir / "model-hf"

    # ------------------------------------------------------------------ model and data

    def _load(self) -> None:
        import torch
        from transformers import (
            WhisperFeatureExtractor,
            WhisperForConditionalGeneration,
            WhisperTokenizerFast,
        )

        if not (self.base_model / "config.json").is_file():
            raise FinetuneError(
                "is not a Whisper model in Hugging Face format (no config.json)",
                path=self.base_model,
                fix="set finetune.base_model to a folder of Whisper weights (e.g. a download of openai/whisper-tiny.en)",
            )
        torch.manual_seed(self.settings.seed)
        torch.set_num_threads(self.settings.cpu_threads)
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model = WhisperForConditionalGeneration.from_pretrained(self.base_model).to(self.device)
        self.tokenizer = WhisperTokenizerFast.from_pretrained(self.base_model)
        if self.model.config.vocab_size >= 51865:  # multilingual: the language and task tokens lead the text
            self.tokenizer.set_prefix_tokens(
                language=self.settings.language, task="transcribe", predict_timestamps=False
            )
        self.features = WhisperFeatureExtractor.from_pretrained(self.base_model)
        self.start_token = self.model.config.decoder_start_token_id

    def _encode(self, examples: list[Example]) -> list[tuple[np.ndarray, list[int]]]:
        out = []
        for example in examples:
            audio = example.samples.astype(np.float32) / 32768.0
            mel = self.features(audio, sampling_rate=16_000, return_tensors="np").input_features[0]
            ids = self.tokenizer(example.text).input_ids
            out.append((mel, ids[1:] if ids and ids[0] == self.start_token else ids))
        return out

    def _batch(self, items: list[tuple[np.ndarray, list[int]]]):
        import torch

        mels = torch.tensor(np.stack([m for m, _ in items]), device=self.device)
        width = max(len(ids) for _, ids in items)
        labels = torch.full((len(items), width), -100, dtype=torch.long, device=self.device)
        for row, (_, ids) in enumerate(items):
            labels[row, : len(ids)] = torch.tensor(ids)
        return mels, labels

    # ------------------------------------------------------------------ evaluation

    def _prefix(self, ids: list[int]) -> list[int]:
        """The special tokens that lead a label (no-timestamps, language, task): the decoder is given them."""
        special = set(self.tokenizer.all_special_ids)
        lead = []
        for token in ids:
            if token not in special:
                break
            lead.append(token)
        return [self.start_token, *lead]

    def evaluate(self, items: list[tuple[np.ndarray, list[int]]], texts: list[str]) -> tuple[float, float]:
        """(mean loss, corpus WER with greedy decoding) on held-out items."""
        import torch

        self.model.eval()
        losses, edits, words = [], 0, 0
        eos = self.model.config.eos_token_id
        with torch.no_grad():
            for (mel, ids), text in zip(items, texts, strict=True):
                mels, labels = self._batch([(mel, ids)])
                losses.append(float(self.model(input_features=mels, labels=labels).loss))
                encoded = self.model.model.encoder(mels).last_hidden_state
                tokens = self._prefix(ids)
                limit = len(tokens) + 2 * len(ids) + 10
                while len(tokens) < min(limit, self.model.config.max_target_positions):
                    logits = self.model(
                        encoder_outputs=(encoded,),
                        decoder_input_ids=torch.tensor([tokens], device=self.device),
                    ).logits
                    token = int(logits[0, -1].argmax())
                    if token == eos:
                        break
                    tokens.append(token)
                hypothesis = self.tokenizer.decode(tokens, skip_special_tokens=True)
                e, w = word_errors(text, hypothesis)
                edits, words = edits + e, words + w
        self.model.train()
        return float(np.mean(losses)) if losses else 0.0, edits / words if words else 0.0

    # ------------------------------------------------------------------ checkpoints

    def _save_checkpoint(self, optimizer, state: dict) -> None:
        import torch

        self.checkpoint.parent.mkdir(parents=True, exist_ok=True)
        partial = self.checkpoint.with_name(f".latest.pt.partial-{os.getpid()}")
        torch.save(
            {
                "model": self.model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "state": state,
                "rng": torch.get_rng_state(),
            },
            partial,
        )
        os.replace(partial, self.checkpoint)

    def _save_best(self) -> None:
        partial = self.best_dir.with_name(f".model-hf.partial-{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        self.model.save_pretrained(partial)
        self.tokenizer.save_pretrained(partial)
        self.features.save_pretrained(partial)
        old = self.best_dir.with_name(".model-hf.old")
        shutil.rmtree(old, ignore_errors=True)
        if self.best_dir.exists():
            self.best_dir.rename(old)
        partial.rename(self.best_dir)
        shutil.rmtree(old, ignore_errors=True)

    # ------------------------------------------------------------------ training

    def run(self, train: list[Example], held: list[Example]) -> TrainResult:
        import torch

        self._load()
        s = self.settings
        train_items, held_items = self._encode(train), self._encode(held)
        held_texts = [e.text for e in held]
        optimizer = torch.optim.AdamW(self.model.parameters(), lr=s.learning_rate)
        batches_per_epoch = (len(train_items) + s.batch_size - 1) // s.batch_size
        steps_per_epoch = max(1, (batches_per_epoch + s.gradient_accumulation - 1) // s.gradient_accumulation)
        total_steps = steps_per_epoch * s.epochs
        state: dict[str, Any] = {
            "epoch": 0, "batch": 0, "step": 0, "history": {"steps": [], "epochs": []},
            "best": None, "since_best": 0, "stopped_early": False,
        }  # fmt: skip
        resumed = None
        if self.checkpoint.is_file():
            saved = torch.load(self.checkpoint, map_location=self.device, weights_only=False)
            self.model.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            torch.set_rng_state(saved["rng"])
            state = saved["state"]
            resumed = state["step"]
        if state["best"] is None and not resumed:
            val_loss, val_wer = self.evaluate(held_items, held_texts)
            state["history"]["epochs"].append(
                {"epoch": 0, "train_loss": None, "val_loss": val_loss, "val_wer": val_wer}
            )
        self.model.train()
        started, steps_done_here = time.perf_counter(), 0

        def progress(epoch: int, loss: float, val_wer: float | None = None) -> None:
            per_step = (time.perf_counter() - started) / max(steps_done_here, 1)
            eta = per_step * (total_steps - state["step"])
            self.on_progress(Progress(epoch + 1, s.epochs, state["step"], total_steps, loss, eta, val_wer))

        while state["epoch"] < s.epochs and not state["stopped_early"]:
            epoch = state["epoch"]
            order = np.random.default_rng(s.seed + epoch).permutation(len(train_items))
            batches = [order[i : i + s.batch_size] for i in range(0, len(order), s.batch_size)]
            epoch_losses = state.setdefault("epoch_losses", [])
            while state["batch"] < len(batches):
                index = state["batch"]
                mels, labels = self._batch([train_items[i] for i in batches[index]])
                loss = self.model(input_features=mels, labels=labels).loss
                (loss / s.gradient_accumulation).backward()
                epoch_losses.append(float(loss))
                state["batch"] += 1
                if state["batch"] % s.gradient_accumulation and state["batch"] < len(batches):
                    continue
                optimizer.step()
                optimizer.zero_grad()
                state["step"] += 1
                steps_done_here += 1
                recent = float(np.mean(epoch_losses[-s.gradient_accumulation :]))
                state["history"]["steps"].append([state["step"], recent])
                progress(epoch, recent)
                if state["step"] % s.checkpoint_steps == 0:
                    self._save_checkpoint(optimizer, state)
            val_loss, val_wer = self.evaluate(held_items, held_texts)
            train_loss = float(np.mean(epoch_losses)) if epoch_losses else None
            state["history"]["epochs"].append(
                {"epoch": epoch + 1, "train_loss": train_loss, "val_loss": val_loss, "val_wer": val_wer}
            )
            best = state["best"]
            if best is None or (val_wer, val_loss) < (best["val_wer"], best["val_loss"]):
                state["best"] = {"epoch": epoch + 1, "val_wer": val_wer, "val_loss": val_loss}
                state["since_best"] = 0
                self._save_best()
            else:
                state["since_best"] += 1
                state["stopped_early"] = state["since_best"] >= s.patience
            progress(epoch, train_loss or 0.0, val_wer)
            state.update(epoch=epoch + 1, batch=0, epoch_losses=[])
            self._save_checkpoint(optimizer, state)
        (self.run_dir / "history.json").write_text(json.dumps(state["history"], indent=1))
        return TrainResult(
            self.best_dir,
            state["history"],
            resumed,
            state["stopped_early"],
            state["best"]["epoch"] if state["best"] else 0,
        )
