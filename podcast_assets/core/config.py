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
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from podcast_assets.core.errors import ConfigError

CONFIG_ENV_VAR = "PODCAST_ASSETS_CONFIG"
DEFAULT_CONFIG = Path("configs") / "pipeline.yaml"
SECRET_KEY_NAMES = ("api_key", "secret", "password", "token")
SECRET_ERROR = "secret_in_config"  # a value that carries a secret: its error never repeats the value


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StorageSettings(Settings):
    """Where artifacts live: a local folder, or an S3 bucket (AWS, or any S3-compatible server through
    `endpoint_url`) with `root` as the local mirror of what this machine wrote or read. AWS credentials come
    only from the standard AWS chain (environment, shared files, instance or task role), never from here."""

    kind: Literal["local", "s3"] = "local"
    root: Path = Field(default=Path(".artifacts"), description="Folder of all artifacts (s3: the local mirror).")
    bucket: str | None = None
    prefix: str = Field(default="", description="Key prefix inside the bucket, e.g. 'podcast-assets/team-a'.")
    region: str | None = None
    endpoint_url: str | None = Field(default=None, description="For MinIO and other S3-compatible servers.")
    connect_timeout_seconds: float = Field(default=5.0, gt=0)
    read_timeout_seconds: float = Field(default=30.0, gt=0)
    max_attempts: int = Field(default=3, ge=1, le=10, description="Attempts per S3 call, retries included.")

    @model_validator(mode="after")
    def _bucket_for_s3(self) -> StorageSettings:
        if self.kind == "s3" and not self.bucket:
            raise ValueError("storage.kind s3 needs storage.bucket")
        return self


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
    paper_vocabulary: bool = Field(
        default=False,
        description="Give the recogniser the paper's key concepts (and terms corrected in review) as hotwords. "
        "Off: on the shared pairs it raised the word error rate of tiny.en from 3.9% to 19.3% and the term error "
        "rate from 0.0% to 15.6% (python bench/asr_vocab.py).",
    )
    vocabulary_terms: int = Field(default=24, ge=1, le=60, description="How many terms paper_vocabulary gives.")
    adapted: bool = Field(
        default=True,
        description="Use the fine-tuned model the last guarded swap installed (`podcast-assets asr finetune`), if "
        "any, instead of `model`; `podcast-assets asr rollback` restores the one before.",
    )


class LLMSettings(Settings):
    provider: Literal["local", "openai", "anthropic", "openai_compatible"] = Field(
        default="local",
        description="local: the embedded analysers (no LLM); otherwise a chat model behind an API.",
    )
    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    max_output_tokens: int = Field(
        default=8192, ge=256, description="Longest reply; a standard-depth script needs several thousand tokens."
    )
    request_timeout_s: float = Field(
        default=60.0, gt=0, description="Timeout of one request; a local model on a CPU may need minutes per script."
    )
    deadline_s: float = Field(default=180.0, gt=0, description="Wall-clock limit of one call, all retries included.")

    @model_validator(mode="after")
    def _remote_needs_model(self) -> LLMSettings:
        if self.provider != "local" and not self.model:
            raise ValueError(f"provider {self.provider!r} needs a model name")
        if self.provider == "openai_compatible" and not self.base_url:
            raise ValueError("provider 'openai_compatible' needs base_url (e.g. http://localhost:11434/v1)")
        return self


BUNDLED_PIPER_VOICE = "en_US-joe-medium"
BUNDLED_SECOND_VOICE = "hibari-heart"
"""The second speaker's local voice: Hibari's "heart" (hibari-tts, weights in the wheel), American English, female."""


class TTSSettings(Settings):
    """Speech of generated scripts. The first speaker of a script gets `voice`, the second `second_voice`.
    Locally the first is Piper's en_US-joe-medium and the second Hibari's heart (another model, another
    speaker: both carried by PyPI packages); each turn is brought to -16 LUFS."""

    provider: Literal["local", "openai"] = "local"
    voice: str = Field(
        default=BUNDLED_PIPER_VOICE,
        description="local: 'en_US-joe-medium' (bundled) or a path to a Piper .onnx voice (its .onnx.json "
        "beside it); openai: a voice name (alloy, echo, nova, ...).",
    )
    second_voice: str | None = Field(
        default=None,
        description="The second speaker's voice. local: None = 'hibari-heart' (bundled), 'en_US-joe-medium' "
        "(with second_pitch_semitones to set it apart) or another Piper .onnx path; openai: a voice name other "
        "than `voice` (needed for two-speaker scripts).",
    )
    model: str | None = Field(default=None, description="openai: tts-1, tts-1-hd, gpt-4o-mini-tts, ...")
    base_url: str | None = Field(default=None, description="openai: an OpenAI-compatible speech server.")
    api_key_env: str = "OPENAI_API_KEY"
    rate: float = Field(
        default=1.0, ge=0.5, le=2.0, description="First speaker's speaking rate (1 = the voice's own)."
    )
    second_rate: float = Field(default=1.0, ge=0.5, le=2.0, description="Second speaker's speaking rate.")
    second_pitch_semitones: float = Field(
        default=0.0, ge=-12, le=12, description="local, a Piper second voice: its pitch shift (pace kept at its rate)."
    )
    segment_pause_s: float = Field(
        default=0.3, ge=0, le=5, description="Silence between two segments of one speaker."
    )
    turn_pause_s: float = Field(default=0.55, ge=0, le=5, description="Silence when the speaker changes.")
    bitrate_kbps: int = Field(
        default=48, ge=16, le=320, description="MP3/Opus bit rate (48: about 0.36 MB a minute)."
    )
    audio_format: Literal["mp3", "ogg", "wav"] = Field(
        default="mp3", description="mp3 (0.36 MB a minute at 48 kbit/s), ogg (Opus) or wav (2.6 MB a minute)."
    )
    timeout_s: float = Field(default=120, gt=0, description="openai: timeout of one speech request.")
    cpu_threads: int = Field(default=2, ge=1, le=64, description="local: threads of the Piper voice.")

    @model_validator(mode="after")
    def _voices_fit_provider(self) -> TTSSettings:
        if self.provider == "openai":
            if not self.model:
                raise ValueError("provider 'openai' needs a model name (e.g. tts-1 or gpt-4o-mini-tts)")
            if self.voice == BUNDLED_PIPER_VOICE:
                raise ValueError(
                    f"provider 'openai' needs an OpenAI voice name, not the Piper voice {self.voice!r}"
                )
            if self.second_voice is not None and self.second_voice == self.voice:
                raise ValueError("second_voice must differ from voice, or the two speakers sound the same")
        return self


class LossWeights(Settings):
    """Weights of the total training loss (the seed's: duration 0.25, coverage 0.25, structure 0.20,
    quality 0.20, ROUGE 0.10)."""

    duration: float = Field(default=0.25, ge=0)
    coverage: float = Field(default=0.25, ge=0)
    structure: float = Field(default=0.20, ge=0)
    quality: float = Field(default=0.20, ge=0)
    rouge: float = Field(default=0.10, ge=0)
    semantic: float = Field(
        default=0.0,
        ge=0,
        description="1 - semantic similarity to the reference (WordLlama); an option, not one of the seed's.",
    )

    @model_validator(mode="after")
    def _not_all_zero(self) -> LossWeights:
        if sum(self.model_dump().values()) <= 0:
            raise ValueError("at least one loss weight must be positive")
        return self


class ConvergenceSettings(Settings):
    max_trials: int = Field(default=5, ge=1, le=100)
    min_improvement: float = Field(default=0.01, ge=0, description="Relative loss improvement that counts.")
    patience: int = Field(default=2, ge=1, description="Trials without improvement before stopping.")


class TrainingSettings(Settings):
    """How a trial is made and judged: the split, what length a trial aims at, speech checks and spending."""

    validation_share: float = Field(
        default=0.25, ge=0, lt=1, description="Share of pairs held out for validation (at least one when 2+ pairs)."
    )
    validation_pairs: list[str] = Field(
        default_factory=list, description="Pair ids held out for validation; overrides validation_share."
    )
    split_seed: str = Field(default="podcast-assets", description="Changes which pairs the hash split holds out.")
    target_depth: Literal["reference", "overview", "standard", "deep_dive", "comprehensive"] = Field(
        default="reference",
        description="reference: each trial script aims at its reference podcast's length; a depth: at that "
        "depth's planned length.",
    )
    length_tolerance: float = Field(
        default=0.10, gt=0, lt=1, description="Measured length may miss the target by this share before a re-fit."
    )
    max_length_passes: int = Field(default=3, ge=1, le=10, description="Times a script is spoken at most.")
    max_round_trip_wer: float = Field(
        default=0.35, gt=0, le=1, description="Above this word error rate of the audio against its script the item fails."
    )
    budget_usd: float | None = Field(
        default=None, ge=0, description="Spend cap of LLM calls for one training session (None: no cap)."
    )
    search: Literal["moves", "optuna"] = Field(
        default="moves",
        description="Offline, how the next version's settings are chosen: moves (one lever per trial, aimed at the "
        "largest weighted loss) or optuna (TPE over the six numeric settings). With an LLM the refiner rewrites the "
        "template instead.",
    )


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


class VideoSettings(Settings):
    """How visuals are timed, judged and rendered. The render defaults (720p at 24 fps, x264 `veryfast`) render a
    4-minute podcast in about 25 s on 2 cores, and in about a minute when every visual is a moving figure
    (`bench/render.py [--all-figures]` measures it)."""

    sync_tolerance_seconds: float = Field(
        default=2.0, gt=0, description="How far a figure or quote card may lead or lag its spoken words."
    )
    sync_threshold: float = Field(
        default=80.0, ge=0, le=100, description="The sync_qa check fails below this sync score (0-100)."
    )
    width: int = Field(default=1280, ge=64, le=3840)
    height: int = Field(default=720, ge=64, le=2160)
    fps: int = Field(default=24, ge=1, le=60)
    fade_seconds: float = Field(default=0.5, ge=0, le=3, description="Cross-fade between visuals.")
    preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow"] = Field(
        default="veryfast", description="x264 speed/size trade-off."
    )
    crf: int = Field(default=23, ge=0, le=51, description="x264 quality: lower is better and bigger.")
    threads: int = Field(default=2, ge=1, le=64)

    @model_validator(mode="after")
    def _even_size(self) -> VideoSettings:
        if self.width % 2 or self.height % 2:
            raise ValueError(f"width and height must be even for H.264 (got {self.width}x{self.height})")
        return self


class FinetuneSettings(Settings):
    """Fine-tuning Whisper on reviewed segments (`podcast-assets asr finetune`, the `finetune` extra). The seed's
    defaults: learning rate 1e-5, early stopping on the held-out WER, a 90/10 split."""

    base_model: Path | None = Field(
        default=None,
        description="A folder of Whisper weights in Hugging Face format (config.json, model.safetensors, tokenizer, "
        "preprocessor_config.json), e.g. a download of openai/whisper-tiny.en. PyPI carries none.",
    )
    learning_rate: float = Field(default=1e-5, gt=0)
    batch_size: int = Field(default=8, ge=1)
    gradient_accumulation: int = Field(default=2, ge=1)
    epochs: int = Field(default=10, ge=1)
    patience: int = Field(default=2, ge=1, description="Epochs without a better held-out WER before stopping.")
    checkpoint_steps: int = Field(default=50, ge=1)
    validation_share: float = Field(default=0.1, gt=0, lt=1)
    split_seed: str = "podcast-assets"
    seed: int = 0
    min_entries: int = Field(default=10, ge=2, description="Reviewed segments needed before a run starts.")
    cpu_threads: int = Field(default=2, ge=1, le=64)
    quantization: Literal["int8", "int8_float32", "float32", "float16"] = "int8"


class ReviewSettings(Settings):
    """Transcript review: where the review store lives, where `podcast-assets review` serves, and what it accepts."""

    db: Path | None = Field(default=None, description="The review database (default: <storage.root>/review/review.sqlite).")
    host: str = Field(default="127.0.0.1", description="Address the review page listens on (loopback: this machine only).")
    port: int = Field(default=8080, ge=0, le=65535)
    busy_timeout_seconds: float = Field(default=5.0, gt=0, description="How long a save waits for another writer.")
    max_chars_per_second: float = Field(
        default=35.0, gt=0, description="Text longer than 40 + this many characters per second of audio is refused."
    )
    settle_seconds: float = Field(
        default=60.0, ge=0, description="The review sensor applies a pair's corrections once none changed for this long."
    )


class OracleThresholds(Settings):
    """When a calibration round of the oracle says PASS, REVIEW or FAIL (core/oracle/calibration.py)."""

    pass_agreement: float = Field(default=0.80, ge=0, le=1, description="PASS at or above this agreement.")
    fail_agreement: float = Field(default=0.60, ge=0, le=1, description="FAIL under this agreement.")
    min_class_recall: float = Field(
        default=0.50, ge=0, le=1, description="FAIL when a type with min_support samples has a lower recall."
    )
    min_support: int = Field(default=3, ge=1, description="Sampled trusted segments a type needs to be judged.")

    @model_validator(mode="after")
    def _ordered(self) -> OracleThresholds:
        if self.fail_agreement > self.pass_agreement:
            raise ValueError("fail_agreement must not be above pass_agreement")
        return self


class OracleSettings(Settings):
    """The LLM as a labeller: trusted labels to calibrate it on, and its bars per task."""

    labels_dir: Path = Field(
        default=Path("tests/data"),
        description="Folder of <pair_id>.labels.yaml hand labels, the trusted set (default: the repository's own).",
    )
    sample: int = Field(default=40, ge=5, description="Segments per calibration round.")
    segment_typing: OracleThresholds = Field(default_factory=OracleThresholds)


class TrackingSettings(Settings):
    """Where trials and model trainings are logged for MLflow (core/tracking.py says what is logged). By default a
    SQLite store beside the artifacts, which `mlflow ui --backend-store-uri sqlite:///<storage.root>/mlflow/mlflow.db`
    shows; a tracking server by its URL. A server's credentials come from MLflow's own environment variables
    (MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD), never from here."""

    enabled: bool = True
    uri: str | None = Field(
        default=None, description="A tracking server (http://host:5000) or store URI; default: the project's SQLite store."
    )
    experiment: str = Field(default="podcast-assets", min_length=1)

    @field_validator("uri")
    @classmethod
    def _no_credentials(cls, uri: str | None) -> str | None:
        if uri and "@" in urlsplit(uri).netloc:
            raise PydanticCustomError(
                SECRET_ERROR,
                "must not carry credentials; set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD "
                "(or MLFLOW_TRACKING_TOKEN) in the environment instead",
            )
        return uri


class PipelineConfig(Settings):
    version: Literal[1] = 1
    pairs_dir: Path = Path("examples/pairs")
    storage: StorageSettings = Field(default_factory=StorageSettings)
    pdf: PdfSettings = Field(default_factory=PdfSettings)
    asr: ASRSettings = Field(default_factory=ASRSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    tts: TTSSettings = Field(default_factory=TTSSettings)
    loss_weights: LossWeights = Field(default_factory=LossWeights)
    convergence: ConvergenceSettings = Field(default_factory=ConvergenceSettings)
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    video: VideoSettings = Field(default_factory=VideoSettings)
    review: ReviewSettings = Field(default_factory=ReviewSettings)
    finetune: FinetuneSettings = Field(default_factory=FinetuneSettings)
    oracle: OracleSettings = Field(default_factory=OracleSettings)
    tracking: TrackingSettings = Field(default_factory=TrackingSettings)
    depth_targets: dict[Literal["overview", "standard", "deep_dive", "comprehensive"], DepthTarget] = Field(
        default_factory=_default_depths
    )
    source: Path | None = Field(default=None, exclude=True, description="The file this was loaded from.")

    def resolved(self, base: Path) -> PipelineConfig:
        """A copy whose relative paths are made absolute against `base`."""
        root = (base / self.storage.root).resolve()
        db = (base / self.review.db).resolve() if self.review.db else root / "review" / "review.sqlite"
        base_model = (base / self.finetune.base_model).resolve() if self.finetune.base_model else None
        labels_dir = (base / self.oracle.labels_dir).resolve()
        return self.model_copy(
            update={
                "pairs_dir": (base / self.pairs_dir).resolve(),
                "storage": self.storage.model_copy(update={"root": root}),
                "review": self.review.model_copy(update={"db": db}),
                "finetune": self.finetune.model_copy(update={"base_model": base_model}),
                "oracle": self.oracle.model_copy(update={"labels_dir": labels_dir}),
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
    shown = "" if isinstance(got, dict) or error["type"] == SECRET_ERROR else f" (got {got!r})"
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
