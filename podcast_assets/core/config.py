"""The declarative pipeline settings (`configs/pipeline.yaml`), validated by pydantic.

A bad key or value fails at load with the file, the dotted key and what is allowed. Relative paths in
the file are resolved against the folder that holds the file's `configs/` folder (the project root),
so `pairs_dir: examples/pairs` means the same thing wherever Dagster is started from.
Secrets never live here: a provider names the environment variable that holds its key.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from podcast_assets.core.errors import ConfigError

CONFIG_ENV_VAR = "PODCAST_ASSETS_CONFIG"
DEFAULT_CONFIG = Path("configs") / "pipeline.yaml"
SECRET_KEY_NAMES = ("api_key", "secret", "password", "token")


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StorageSettings(Settings):
    kind: Literal["local"] = "local"
    root: Path = Field(default=Path(".artifacts"), description="Folder of all artifacts and caches.")


class ASRSettings(Settings):
    provider: Literal["local", "openai"] = "local"
    model: str = Field(
        default="tiny.en",
        description="local: 'tiny.en' (bundled weights) or a path to a CTranslate2 Whisper model; "
        "openai: 'whisper-1' or the model name of an OpenAI-compatible server.",
    )
    compute_type: Literal["int8", "int8_float32", "float32"] = "int8"
    beam_size: int = Field(default=1, ge=1, le=10)
    vad: bool = True
    cpu_threads: int = Field(default=2, ge=1, le=64)
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    max_audio_seconds: float = Field(default=7200, gt=0)
    first_minute_check: bool = Field(
        default=True,
        description="local: judge the first minute before transcribing the rest, and refuse speech the model "
        "cannot transcribe (another language) then, not at the end.",
    )


class LLMSettings(Settings):
    provider: Literal["local", "openai", "anthropic", "openai_compatible"] = Field(
        default="local",
        description="local: the embedded analysers (no LLM); otherwise a chat model behind an API.",
    )
    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None

    @model_validator(mode="after")
    def _remote_needs_model(self) -> LLMSettings:
        if self.provider != "local" and not self.model:
            raise ValueError(f"provider {self.provider!r} needs a model name")
        if self.provider == "openai_compatible" and not self.base_url:
            raise ValueError("provider 'openai_compatible' needs base_url (e.g. http://localhost:11434/v1)")
        return self


class TTSSettings(Settings):
    provider: Literal["local", "openai"] = "local"
    voice: str = Field(default="en_US-joe-medium", description="local: a bundled Piper voice; openai: a voice name.")
    model: str | None = None
    api_key_env: str = "OPENAI_API_KEY"


class EmbeddingSettings(Settings):
    provider: Literal["local", "openai"] = "local"
    model: str = "bge-small-en-v1.5"
    api_key_env: str = "OPENAI_API_KEY"


class LossWeights(Settings):
    """Weights of the total training loss (the seed's: duration 0.25, coverage 0.25, structure 0.20,
    quality 0.20, ROUGE 0.10)."""

    duration: float = Field(default=0.25, ge=0)
    coverage: float = Field(default=0.25, ge=0)
    structure: float = Field(default=0.20, ge=0)
    quality: float = Field(default=0.20, ge=0)
    rouge: float = Field(default=0.10, ge=0)

    @model_validator(mode="after")
    def _not_all_zero(self) -> LossWeights:
        if sum(self.model_dump().values()) <= 0:
            raise ValueError("at least one loss weight must be positive")
        return self


class ConvergenceSettings(Settings):
    max_trials: int = Field(default=5, ge=1, le=100)
    min_improvement: float = Field(default=0.01, ge=0, description="Relative loss improvement that counts.")
    patience: int = Field(default=2, ge=1, description="Trials without improvement before stopping.")


class DepthTarget(Settings):
    """How long a podcast of one depth runs (a range of minutes) and how many key concepts it covers."""

    min_minutes: float = Field(gt=0)
    max_minutes: float | None = Field(default=None, description="None: open-ended ('45 minutes and up').")
    key_concepts: int = Field(ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> DepthTarget:
        if self.max_minutes is not None and self.max_minutes < self.min_minutes:
            raise ValueError(f"max_minutes {self.max_minutes:g} is below min_minutes {self.min_minutes:g}")
        return self

    @property
    def target_minutes(self) -> float:
        """The length plans are made for: the middle of the range, the lower bound when it is open-ended."""
        return self.min_minutes if self.max_minutes is None else (self.min_minutes + self.max_minutes) / 2


def _default_depths() -> dict[str, DepthTarget]:
    """The seed's depths: overview 3-5 min, standard 10-15, deep dive 20-30, comprehensive 45 and up."""
    return {
        "overview": DepthTarget(min_minutes=3, max_minutes=5, key_concepts=5),
        "standard": DepthTarget(min_minutes=10, max_minutes=15, key_concepts=10),
        "deep_dive": DepthTarget(min_minutes=20, max_minutes=30, key_concepts=18),
        "comprehensive": DepthTarget(min_minutes=45, max_minutes=None, key_concepts=28),
    }


class PdfSettings(Settings):
    max_pages: int = Field(default=500, ge=1)
    timeout_seconds: float = Field(default=300, gt=0)
    min_chars_per_page: int = Field(default=200, ge=0)


class PipelineConfig(Settings):
    version: Literal[1] = 1
    pairs_dir: Path = Path("examples/pairs")
    storage: StorageSettings = Field(default_factory=StorageSettings)
    pdf: PdfSettings = Field(default_factory=PdfSettings)
    asr: ASRSettings = Field(default_factory=ASRSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    tts: TTSSettings = Field(default_factory=TTSSettings)
    embeddings: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    loss_weights: LossWeights = Field(default_factory=LossWeights)
    convergence: ConvergenceSettings = Field(default_factory=ConvergenceSettings)
    depth_targets: dict[Literal["overview", "standard", "deep_dive", "comprehensive"], DepthTarget] = Field(
        default_factory=_default_depths
    )
    source: Path | None = Field(default=None, exclude=True, description="The file this was loaded from.")

    def resolved(self, base: Path) -> PipelineConfig:
        """A copy whose relative paths are made absolute against `base`."""
        return self.model_copy(
            update={
                "pairs_dir": (base / self.pairs_dir).resolve(),
                "storage": self.storage.model_copy(update={"root": (base / self.storage.root).resolve()}),
            }
        )


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The field names allowed at `loc` (the parent of an unknown key), walking nested models."""
    current: Any = model
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel) and part in current.model_fields:
            current = current.model_fields[part].annotation
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        else:
            return []
    return list(current.model_fields) if isinstance(current, type) and issubclass(current, BaseModel) else []


def _describe(error: dict[str, Any]) -> str:
    loc = tuple(error["loc"])
    key = ".".join(str(p) for p in loc) or "(top level)"
    if error["type"] == "extra_forbidden":
        name = str(loc[-1]).lower()
        if any(s in name for s in SECRET_KEY_NAMES):
            return f"{key}: secrets do not belong in this file; put the key in an environment variable and name it with api_key_env"
        allowed = [k for k in _allowed_keys(PipelineConfig, loc[:-1]) if k != "source"]
        return f"{key}: unknown key; allowed here: {', '.join(allowed)}"
    got = error.get("input")
    shown = "" if isinstance(got, dict) else f" (got {got!r})"
    return f"{key}: {error['msg']}{shown}"


def parse_config(data: Any, source: Path) -> PipelineConfig:
    """Validate a parsed YAML document; paths resolve against the project root above `source`."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("the top level must be a mapping of settings", path=source, fix="see configs/pipeline.yaml in the project for the format")
    try:
        config = PipelineConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_describe(e) for e in exc.errors())
        raise ConfigError(f"invalid settings: {problems}", path=source, fix="correct the key(s) named above") from None
    base = source.parent.parent if source.parent.name == "configs" else source.parent
    return config.resolved(base.resolve()).model_copy(update={"source": source})


def find_config_file(start: Path | None = None) -> Path | None:
    """$PODCAST_ASSETS_CONFIG, else configs/pipeline.yaml in the current folder or one of its parents,
    else the one in the source tree this package was installed from (an editable install)."""
    if env := os.environ.get(CONFIG_ENV_VAR):
        path = Path(env).expanduser()
        if not path.is_file():
            raise ConfigError(f"{CONFIG_ENV_VAR} points to a file that does not exist", path=path, fix=f"unset {CONFIG_ENV_VAR} or point it to a pipeline.yaml")
        return path
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents, Path(__file__).resolve().parents[2]):
        if (folder / DEFAULT_CONFIG).is_file():
            return folder / DEFAULT_CONFIG
    return None


def load_config(path: Path | None = None) -> PipelineConfig:
    """Load and validate the pipeline settings. With no file anywhere, the defaults apply relative to the cwd."""
    path = path or find_config_file()
    if path is None:
        return PipelineConfig().resolved(Path.cwd())
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"not valid YAML{where}: {getattr(exc, 'problem', exc)}", path=path, fix="fix the YAML syntax") from None
    except OSError as exc:
        raise ConfigError(f"cannot read the file ({exc.strerror})", path=path, fix="check the path and permissions") from None
    return parse_config(data, path)
