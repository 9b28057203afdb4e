"""One trial item: a prompt version on one training pair, from script to losses.

    write ─► speak (length correction: re-fit and speak again while the measured length misses the target
             by more than the tolerance, at most N passes) ─► round trip (transcribe the audio back; a high
             word error rate, an empty or a cut file fails the item) ─► analyse the spoken transcript as the
             reference was ─► judge (LLM) or rubric ─► the five losses and their weighted total

The outside services arrive as callables (the TTS and ASR resources, the writer, the judges), so this file
holds the order and the checks and nothing that needs a network or Dagster. Each step's output is kept in
the artifact store under a key of its inputs, so a killed run resumes after the last finished step.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field

from podcast_assets.core.analysis.models import AlignedSegments
from podcast_assets.core.errors import TrainingError
from podcast_assets.core.ingest.models import TranscriptionResult
from podcast_assets.core.metrics import word_error_rate
from podcast_assets.core.records import Record
from podcast_assets.core.storage import LocalArtifactStore, cache_key
from podcast_assets.core.training.models import (
    CoverageJudgement,
    LossDetails,
    Losses,
    QualityJudgement,
    Script,
    SpeechReport,
)

CUT_SHARE = 0.5  # audio shorter than half the time its words need at the planned pace was cut short


@dataclass(frozen=True)
class Spoken:
    """What a TTS pass returns: the measured length of the written file and the voices used."""

    audio_seconds: float
    voices: dict[str, str]
    synthesis_seconds: float


@dataclass(frozen=True)
class Services:
    write: Callable[[], Script]
    refit: Callable[[Script, float], Script]
    speak: Callable[[Script, Path], Spoken]
    transcribe: Callable[[Path], TranscriptionResult]
    analyse: Callable[[TranscriptionResult], AlignedSegments]
    judge_coverage: Callable[[Script], CoverageJudgement] | None
    judge_quality: Callable[[Script], QualityJudgement] | None
    score: Callable[..., tuple[Losses, LossDetails]]


@dataclass(frozen=True)
class SpeechChecks:
    target_seconds: float
    tolerance: float
    max_passes: int
    max_wer: float
    words_per_minute: float


def speak_to_length(
    script: Script,
    audio: Path,
    speak: Callable[[Script, Path], Spoken],
    refit: Callable[[Script, float], Script],
    checks: SpeechChecks,
) -> tuple[Script, Spoken, list[float], float]:
    """Speak, and while the measured length misses the target by more than the tolerance re-fit the script by
    target/measured and speak again (at most max_passes). Returns the script spoken last, its speech, the
    measured length of every pass and the TTS wall time."""
    lengths: list[float] = []
    spent = 0.0
    while True:
        spoken = speak(script, audio)
        lengths.append(spoken.audio_seconds)
        spent += spoken.synthesis_seconds
        miss = spoken.audio_seconds / checks.target_seconds - 1
        if abs(miss) <= checks.tolerance or len(lengths) >= checks.max_passes:
            return script, spoken, lengths, spent
        script = refit(script, checks.target_seconds / spoken.audio_seconds)


def check_round_trip(
    script: Script, spoken: Spoken, transcript: TranscriptionResult, audio: Path, checks: SpeechChecks
) -> float:
    """The audio must say the script: refuse an empty file, a cut one, or a word error rate above the limit."""
    if not transcript.text.strip():
        raise TrainingError(
            "the synthesized audio holds no recognisable speech",
            path=audio,
            fix="check the TTS voice (tts: in configs/pipeline.yaml) by speaking a short text with it",
        )
    needed = script.word_count / checks.words_per_minute * 60
    if spoken.audio_seconds < CUT_SHARE * needed:
        raise TrainingError(
            f"the synthesized audio lasts {spoken.audio_seconds:.1f} s but its {script.word_count} words need "
            f"about {needed:.0f} s: it was cut short",
            path=audio,
            fix="re-run the trial; if it recurs, check free disk space and the TTS voice",
        )
    wer = word_error_rate(script.text, transcript.text)
    if wer > checks.max_wer:
        raise TrainingError(
            f"the synthesized audio transcribed back differs from its script (word error rate {wer:.0%}, "
            f"limit {checks.max_wer:.0%})",
            path=audio,
            fix="listen to the audio; a garbled voice or a script with unspeakable text (symbols, formulas) "
            "is the usual cause; the limit is training.max_round_trip_wer",
        )
    return wer


@dataclass(frozen=True)
class ItemOutcome:
    script: Script
    audio_path: str
    speech: SpeechReport
    transcript: TranscriptionResult
    spoken_segments: AlignedSegments
    losses: Losses
    details: LossDetails
    seconds: dict[str, float]


class SpokenScript(Record):
    """A finished speaking step, kept under the item's key so a killed item resumes after it: the script
    spoken last, the audio blob and its measured passes (Piper samples noise, so speaking again would give
    other audio, another transcript and a new, paid, typing prompt)."""

    script: Script
    audio_path: str = Field(description="Artifact-store path of the audio blob.")
    audio_seconds: float
    voices: dict[str, str]
    pass_seconds: list[float]
    synthesis_seconds: float


def run_item(
    services: Services, checks: SpeechChecks, *, work_dir: Path, store: LocalArtifactStore, key: str,
    audio_format: str, script: Script | None = None,
) -> ItemOutcome:  # fmt: skip
    """Write (unless a script is given: a script edited by hand is spoken again without writing it again),
    speak to length, check the round trip, analyse and score. The script, the spoken audio and the round-trip
    transcript are cached under `key` (a given script's own hash joins it), so a killed item resumes after its
    last finished step; the LLM judges' replies are cached by the LLM resource."""
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    if script is None:
        script, _ = store.get_or_create("trial_scripts", key, Script, services.write)
    else:
        key = cache_key(key, "script given", script.model_dump_json())
    seconds["write"] = round(time.perf_counter() - started, 3)

    started = time.perf_counter()
    done = store.cached_model("trial_speech", key, SpokenScript)
    if done is None or not store.exists(done.audio_path):
        work = work_dir / f"{key[:16]}.{audio_format}"
        spoken_script, spoken, lengths, tts_seconds = speak_to_length(
            script, work, services.speak, services.refit, checks
        )
        done = SpokenScript(
            script=spoken_script,
            audio_path=store.put_blob(work.read_bytes(), audio_format),
            audio_seconds=spoken.audio_seconds,
            voices=spoken.voices,
            pass_seconds=lengths,
            synthesis_seconds=tts_seconds,
        )
        store.cache_model("trial_speech", key, done)
    spoken_script = done.script
    spoken = Spoken(done.audio_seconds, done.voices, done.synthesis_seconds)
    lengths, tts_seconds, audio = done.pass_seconds, done.synthesis_seconds, store.local(done.audio_path)
    seconds["speak"] = round(time.perf_counter() - started, 3)

    started = time.perf_counter()
    transcript, _ = store.get_or_create(
        "trial_transcripts", key, TranscriptionResult, lambda: services.transcribe(audio)
    )
    wer = check_round_trip(spoken_script, spoken, transcript, audio, checks)
    seconds["round_trip"] = round(time.perf_counter() - started, 3)

    started = time.perf_counter()
    spoken_segments = services.analyse(transcript)
    coverage = services.judge_coverage(spoken_script) if services.judge_coverage else None
    quality = services.judge_quality(spoken_script) if services.judge_quality else None
    losses, details = services.score(
        script=spoken_script,
        spoken=transcript,
        spoken_seconds=spoken.audio_seconds,
        spoken_segments=spoken_segments,
        coverage=coverage,
        quality=quality,
    )
    seconds["score"] = round(time.perf_counter() - started, 3)
    speech = SpeechReport(
        voices=spoken.voices,
        passes=len(lengths),
        script_words=spoken_script.word_count,
        pass_seconds=[round(x, 2) for x in lengths],
        audio_seconds=round(spoken.audio_seconds, 3),
        synthesis_seconds=round(tts_seconds, 3),
        round_trip_wer=round(wer, 4),
    )
    return ItemOutcome(
        spoken_script, done.audio_path, speech, transcript, spoken_segments, losses, details, seconds
    )
