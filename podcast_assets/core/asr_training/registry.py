"""Which recogniser is in use: the configured one (`asr.model`), or a fine-tuned model a guarded swap installed.

`<storage.root>/asr/current.json` names the installed model and keeps the ones before it, newest first, so a
rollback restores the previous model (or the configured one, when the first installed model is rolled back).
Models live in `<storage.root>/asr/models/<id>/` (CTranslate2 folders that faster-whisper loads) and are
never deleted by a swap or a rollback. The file is replaced atomically."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from podcast_assets.core.errors import PodcastAssetsError
from podcast_assets.core.storage import atomic_write_bytes


class RegistryError(PodcastAssetsError):
    pass


@dataclass(frozen=True)
class InstalledModel:
    id: str
    path: str
    held_out_wer: float
    replaced_wer: float
    installed_at: str
    run: str


class ModelRegistry:
    def __init__(self, storage_root: str | Path):
        self.root = Path(storage_root) / "asr"
        self.file = self.root / "current.json"

    def _read(self) -> dict:
        if not self.file.is_file():
            return {"current": None, "previous": []}
        try:
            return json.loads(self.file.read_text())
        except json.JSONDecodeError as exc:
            raise RegistryError(
                f"is not valid JSON ({exc})",
                path=self.file,
                fix="restore it, or delete it to use the configured model",
            ) from exc

    def _write(self, state: dict) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.file, json.dumps(state, indent=2).encode())

    def current(self) -> InstalledModel | None:
        found = self._read()["current"]
        return InstalledModel(**found) if found else None

    def previous(self) -> list[InstalledModel | None]:
        return [InstalledModel(**p) if p else None for p in self._read()["previous"]]

    def install(
        self, model_dir: Path, *, model_id: str, held_out_wer: float, replaced_wer: float, run: str
    ) -> InstalledModel:
        """Copy a converted model into the registry and make it the recogniser; the one before is kept."""
        target = self.root / "models" / model_id
        if not target.exists():
            partial = target.with_name(f".{model_id}.partial")
            shutil.rmtree(partial, ignore_errors=True)
            shutil.copytree(model_dir, partial)
            partial.rename(target)
        state = self._read()
        model = InstalledModel(
            model_id, str(target), round(held_out_wer, 4), round(replaced_wer, 4),
            datetime.now(UTC).isoformat(timespec="seconds"), run,
        )  # fmt: skip
        state["previous"] = [state["current"], *state["previous"]]
        state["current"] = asdict(model)
        self._write(state)
        return model

    def rollback(self) -> InstalledModel | None:
        """Restore the model before the current one (None: the configured `asr.model`)."""
        state = self._read()
        if state["current"] is None:
            raise RegistryError(
                "no fine-tuned model is installed: the configured recogniser (asr.model) is already in use",
                path=self.file,
            )
        restored, *rest = state["previous"] or [None]
        state["current"], state["previous"] = restored, rest
        self._write(state)
        return InstalledModel(**restored) if restored else None
