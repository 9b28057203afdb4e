"""Pure audio helpers of the speech step: a second voice from the first, pitch measurement, and writing
compressed audio so that a crash or a full disk never leaves a partial file at the final path.

No Piper, no network: the TTS resource (podcast_assets/resources/tts.py) makes the samples, this module
shapes, measures and writes them. PyAV (already used to decode podcasts) encodes MP3 and Opus itself,
so no ffmpeg binary is needed on CI machines.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, Self

import av
import numpy as np
from pydantic import Field

from podcast_assets.core.errors import PodcastAssetsError
from podcast_assets.core.processes import pid_alive
from podcast_assets.core.records import Record

# ----------------------------------------------------------------------------- errors and records


class TTSError(PodcastAssetsError):
    """The script cannot be spoken, or its audio cannot be written or read back."""


class SpeechResult(Record):
    """A script spoken into one file. Every number is measured, the length from the written file."""

    path: str
    audio_seconds: float = Field(gt=0, description="Decoded from the written file, never estimated.")
    synthesis_seconds: float = Field(ge=0, description="Wall time of speak() once the voices are loaded: synthesis, encoding, checks.")
    voices: dict[str, str] = Field(description="Speaker label -> voice used (and how it differs).")
    format: str = Field(description="Container of the file: mp3, ogg (Opus) or wav.")
    size_bytes: int = Field(ge=1)
    sample_rate: int = Field(gt=0)
    segments: int = Field(ge=1, description="Segments that held words (empty ones are skipped).")
    characters: int = Field(ge=1, description="Characters of text spoken.")
    loudness_lufs: float | None = Field(default=None, description="Integrated loudness of the written file (BS.1770-4).")
    chapters: int = Field(default=0, ge=0, description="Chapter markers written (one per script segment, MP3).")

    @property
    def real_time_factor(self) -> float:
        """Seconds of audio made per second of wall time (higher is faster)."""
        return self.audio_seconds / self.synthesis_seconds if self.synthesis_seconds > 0 else float("inf")


# ----------------------------------------------------------------------------- text

_SENTENCE_CUT = re.compile(r"(?<=[.!?;:])\s+")


def split_text(text: str, max_chars: int) -> list[str]:
    """`text` in pieces of at most `max_chars`, cut after sentences where possible (an API caps its
    input: OpenAI's speech endpoint takes 4096 characters), else at spaces, else anywhere."""
    pieces: list[str] = []
    current = ""
    for sentence in _SENTENCE_CUT.split(" ".join(text.split())):
        while len(sentence) > max_chars:
            cut = sentence.rfind(" ", 0, max_chars + 1)
            cut = cut if cut > 0 else max_chars
            head, sentence = sentence[:cut].strip(), sentence[cut:].strip()
            if current:
                pieces.append(current)
                current = ""
            pieces.append(head)
        if current and len(current) + 1 + len(sentence) > max_chars:
            pieces.append(current)
            current = ""
        current = f"{current} {sentence}".strip()
    if current:
        pieces.append(current)
    return [p for p in pieces if p]


# ----------------------------------------------------------------------------- shaping samples


def semitone_ratio(semitones: float) -> float:
    """The frequency ratio of a pitch change: 12 semitones double the pitch."""
    return float(2.0 ** (semitones / 12.0))


def resample_by(samples: np.ndarray, ratio: float) -> np.ndarray:
    """Band-limited resampling by FFT: `ratio` > 1 shortens the signal by that factor (played at the same
    rate, every frequency rises by `ratio`), < 1 lengthens it. Frequencies above the new Nyquist limit are
    dropped, not folded back. Meant for sentence-long chunks that start and end near silence (the FFT treats
    the chunk as periodic)."""
    n = len(samples)
    if n == 0 or ratio == 1.0:
        return np.asarray(samples, dtype=np.float32)
    m = max(1, round(n / ratio))
    spectrum = np.fft.rfft(np.asarray(samples, dtype=np.float64))
    kept = np.zeros(m // 2 + 1, dtype=np.complex128)
    count = min(len(kept), len(spectrum))
    kept[:count] = spectrum[:count]
    return (np.fft.irfft(kept, m) * (m / n)).astype(np.float32)


def shift_pitch(samples: np.ndarray, semitones: float) -> np.ndarray:
    """Raise (or lower) the pitch and the formants by `semitones`; the result is shorter (longer) by the
    same ratio, so the caller synthesises slower by that ratio to keep the pace it set."""
    return resample_by(samples, semitone_ratio(semitones))


def fade_edges(samples: np.ndarray, rate: int, seconds: float = 0.005) -> np.ndarray:
    """A few milliseconds of fade in and out, so joining chunks never clicks."""
    n = min(len(samples) // 2, int(rate * seconds))
    if n <= 0:
        return samples
    out = np.array(samples, dtype=np.float32, copy=True)
    ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
    out[:n] *= ramp
    out[-n:] *= ramp[::-1]
    return out


TARGET_LUFS = -16.0
"""Loudness of a spoken podcast (ITU-R BS.1770-4 integrated), the usual target for spoken-word streaming."""
PEAK_CEILING = 0.891
"""-1 dBFS: no sample above it after normalising, so the MP3 encoder has headroom and nothing clips."""
LOUDNESS_SLACK_LU = 0.3
"""A written file further than this from the target (the encoder's low-pass and the pauses move it) is encoded
once more with the gain that corrects it."""
MIN_LOUDNESS_SECONDS = 0.4
"""BS.1770 gates blocks of 400 ms: shorter audio has no measurable loudness and keeps its level."""


def loudness(samples: np.ndarray, rate: int) -> float | None:
    """Integrated loudness (LUFS, BS.1770-4 with pyloudnorm), or None for audio too short or silent to measure."""
    import pyloudnorm

    if len(samples) < MIN_LOUDNESS_SECONDS * rate:
        return None
    value = pyloudnorm.Meter(rate).integrated_loudness(np.asarray(samples, dtype=np.float64))
    return float(value) if np.isfinite(value) else None


def limit_peaks(samples: np.ndarray, rate: int, ceiling: float = PEAK_CEILING, window_s: float = 0.005) -> np.ndarray:
    """A look-ahead peak limiter: the gain each sample needs to stay under `ceiling`, held over +-window_s
    (a moving minimum) and smoothed over the same span, so the gain falls before a peak and recovers after it
    without a click; no sample ends above the ceiling."""
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    x = np.asarray(samples, dtype=np.float32)
    need = np.minimum(1.0, ceiling / np.maximum(np.abs(x), 1e-9))
    if need.min() >= 1.0:
        return x
    span = max(1, round(window_s * rate))
    gain = uniform_filter1d(minimum_filter1d(need, size=2 * span + 1), size=span + 1)
    return np.clip(x * np.minimum(gain, 1.0), -ceiling, ceiling).astype(np.float32)


def normalise_loudness(samples: np.ndarray, rate: int, target: float = TARGET_LUFS) -> np.ndarray:
    """The samples brought to `target` LUFS, their peaks held under PEAK_CEILING by `limit_peaks` (never
    clipped); limiting lowers the loudness a little, so the gain is measured again once on the limited audio.
    Each speaker's turn is normalised alone, so two voices of different levels meet at one loudness."""
    out = np.asarray(samples, dtype=np.float32)
    for _ in range(2):
        measured = loudness(out, rate)
        if measured is None:
            return out
        out = limit_peaks(out * np.float32(10 ** ((target - measured) / 20)), rate)
    return out


def silence(seconds: float, rate: int) -> np.ndarray:
    return np.zeros(max(0, round(seconds * rate)), dtype=np.float32)


class LengthCurve(Record):
    """How much longer a voice speaks at a length scale than at 1.0, fitted from measurements.

    Piper's length_scale is not the length ratio: every phoneme is followed by a pad symbol whose predicted
    duration rounds up to at least one frame whatever the scale, so a quarter or so of the audio does not
    stretch (en_US-joe-medium: length_scale 1.37 gives 1.26 x the length). A quadratic through measured
    (scale, seconds) pairs, normalised to 1 at scale 1, is inverted to find the scale of a wanted factor."""

    coefficients: list[float] = Field(description="Quadratic in the scale (highest power first), 1.0 at 1.0.")
    scale_range: tuple[float, float]

    @classmethod
    def fit(cls, scales: list[float], seconds: list[float]) -> LengthCurve:
        fitted = np.polyfit(np.asarray(scales, dtype=float), np.asarray(seconds, dtype=float), 2)
        at_one = float(np.polyval(fitted, 1.0))
        if at_one <= 0:
            raise ValueError("the measured lengths do not describe a voice")
        return cls(coefficients=[float(c) / at_one for c in fitted], scale_range=(min(scales), max(scales)))

    def factor(self, scale: float) -> float:
        """Length at `scale` over length at 1.0."""
        return float(np.polyval(self.coefficients, scale))

    def scale_for(self, factor: float) -> float | None:
        """The length scale that makes speech `factor` times as long as at 1.0, or None when that lies outside
        what was measured (a factor the voice cannot be trusted to reach)."""
        if factor == 1.0:
            return 1.0
        grid = np.linspace(*self.scale_range, 2001)
        lengths = np.polyval(self.coefficients, grid)
        if np.any(np.diff(lengths) <= 0) or not lengths[0] <= factor <= lengths[-1]:
            return None
        return float(np.interp(factor, lengths, grid))


# ----------------------------------------------------------------------------- measuring


def voiced_f0(
    samples: np.ndarray,
    rate: int,
    *,
    fmin: float = 60.0,
    fmax: float = 400.0,
    frame_s: float = 0.04,
    hop_s: float = 0.01,
    min_correlation: float = 0.5,
) -> np.ndarray:
    """Fundamental frequency (Hz) of each voiced frame, by autocorrelation.

    A frame counts when it is louder than half the signal's RMS (not a pause) and its normalised
    autocorrelation peaks at >= `min_correlation` at a lag within the speaking range (periodic: a vowel,
    not a fricative). The autocorrelation is divided by the overlap at each lag, so long lags (low
    voices) are not penalised.
    """
    x = np.asarray(samples, dtype=np.float64)
    size, hop = int(frame_s * rate), max(1, int(hop_s * rate))
    lo, hi = max(1, int(rate / fmax)), min(size - 1, int(rate / fmin))
    if len(x) < size or hi <= lo:
        return np.zeros(0)
    level = float(np.sqrt(np.mean(np.square(x))))
    overlap = size / (size - np.arange(size))
    found = []
    for start in range(0, len(x) - size + 1, hop):
        frame = x[start : start + size] - x[start : start + size].mean()
        if np.sqrt(np.mean(np.square(frame))) < 0.5 * level:
            continue
        power = np.abs(np.fft.rfft(frame, 2 * size)) ** 2
        corr = np.fft.irfft(power)[:size]
        if corr[0] <= 0:
            continue
        corr = corr / corr[0] * overlap
        window = corr[lo:hi]
        best = float(np.max(window))
        if best < min_correlation:
            continue
        # a periodic frame correlates at every multiple of its period: take the first lag that comes close
        # to the best, or a voice at 210 Hz reads as 105 or 70 Hz
        peaks = np.flatnonzero(
            (window[1:-1] >= window[:-2]) & (window[1:-1] >= window[2:]) & (window[1:-1] >= 0.9 * best)
        )
        lag = lo + 1 + int(peaks[0]) if len(peaks) else lo + int(np.argmax(window))
        found.append(rate / lag)
    return np.asarray(found)


def median_f0(samples: np.ndarray, rate: int, **options: float) -> float | None:
    """The median pitch of the voiced frames (Hz), or None when there are too few to say (< 10 frames)."""
    f0 = voiced_f0(samples, rate, **options)
    return float(np.median(f0)) if len(f0) >= 10 else None


def measure_audio(path: Path) -> tuple[float, float]:
    """(seconds, peak) of an audio file, by decoding every frame: what a player and the ASR will get."""
    seconds = peak = 0.0
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise TTSError("written file holds no audio stream", path=path, fix="report this as a bug")
            for frame in container.decode(audio=0):
                if frame.samples and frame.sample_rate:
                    seconds += frame.samples / frame.sample_rate
                    data = frame.to_ndarray()
                    scale = float(np.iinfo(data.dtype).max) if data.dtype.kind == "i" else 1.0
                    peak = max(peak, float(np.max(np.abs(data.astype(np.float64)))) / scale)
    except av.error.FFmpegError as exc:
        raise TTSError(
            f"written audio does not decode ({type(exc).__name__})",
            path=path,
            fix="check the disk and re-run; the file was not put in place",
        ) from exc
    return seconds, peak


def decode_mono(path: Path, rate: int | None = None) -> tuple[np.ndarray, int]:
    """(float32 mono samples, their rate) of an audio file as a player decodes it, at `rate` (default: the file's)."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate = rate or stream.rate
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        parts = [f.to_ndarray().reshape(-1) for frame in container.decode(stream) for f in resampler.resample(frame)]
    parts.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))
    return (np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, dtype=np.float32)), rate


def file_loudness(path: Path) -> float | None:
    """Integrated loudness (LUFS) of an audio file, decoded as a player decodes it, mono."""
    return loudness(*decode_mono(path))


# ----------------------------------------------------------------------------- writing

FORMATS: dict[str, tuple[str, str]] = {".mp3": ("mp3", "libmp3lame"), ".ogg": ("ogg", "libopus"),
                                       ".opus": ("ogg", "libopus"), ".wav": ("wav", "pcm_s16le")}  # fmt: skip
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)


def audio_format(path: Path) -> tuple[str, str]:
    """(container, codec) for the file's suffix."""
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise TTSError(
            f"cannot write audio of type {path.suffix or '(no suffix)'!r}",
            path=path,
            fix=f"name the output file with one of {', '.join(FORMATS)} (.mp3 is the compact default)",
        ) from None


def remove_stale_temps(path: Path) -> list[Path]:
    """Delete temp files of `path` left by writers that were killed (their process is gone): the writer's
    pid is in the temp name. Temps of live processes (a concurrent writer) are left alone."""
    removed = []
    for temp in path.parent.glob(f".{path.name}.*.tmp"):
        match = re.fullmatch(rf"\.{re.escape(path.name)}\.(\d+)\..+\.tmp", temp.name)
        if match and int(match.group(1)) != os.getpid() and not pid_alive(int(match.group(1))):
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
                removed.append(temp)
    return removed


def _disk_error(path: Path, exc: OSError) -> TTSError:
    full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return TTSError(
        ("disk full while writing audio" if full else f"could not write audio ({exc.strerror or exc})"),
        path=path,
        fix=(
            "free disk space, then re-run; the previous file (if any) is intact and no temp file is left"
            if full
            else "check the folder's permissions and the disk, then re-run; the previous file (if any) is intact"
        ),
    )


class AudioWriter:
    """Streams mono float samples into a compressed file: a temp file beside `path` while writing, renamed
    over `path` only by `commit()`. Leaving the `with` block without commit (an exception, Ctrl-C) deletes
    the temp file; a SIGKILL leaves it behind, named after the dead process, for `remove_stale_temps`."""

    def __init__(self, path: Path, *, sample_rate: int, bitrate_kbps: int = 48):
        self.path = Path(path)
        self.format, self.codec = audio_format(self.path)
        self.sample_rate = sample_rate
        self.bitrate_kbps = bitrate_kbps
        self.samples_written = 0
        self._temp: Path | None = None
        self._file: BinaryIO | None = None
        self._container: av.container.OutputContainer | None = None
        self._stream: av.audio.stream.AudioStream | None = None

    @property
    def temp_path(self) -> Path | None:
        return self._temp

    def __enter__(self) -> Self:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(self.path)
        fd, temp = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.{os.getpid()}.", suffix=".tmp"
        )
        self._temp = Path(temp)
        try:
            self._file = os.fdopen(fd, "wb")
            self._container = av.open(self._file, "w", format=self.format)
            codec_rate = self.sample_rate
            if self.codec == "libopus":  # Opus runs at fixed rates; PyAV resamples on encode
                codec_rate = min((r for r in OPUS_RATES if r >= self.sample_rate), default=48000)
            stream = self._container.add_stream(self.codec, rate=codec_rate, layout="mono")
            if self.codec != "pcm_s16le":
                stream.bit_rate = self.bitrate_kbps * 1000
            self._stream = stream
        except BaseException:
            self._discard()
            raise
        return self

    def write(self, samples: np.ndarray) -> None:
        """Append samples (float, -1..1) at the writer's sample rate."""
        if self._stream is None or self._container is None:
            raise RuntimeError("AudioWriter.write outside its with block")
        chunk = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
        if chunk.size == 0:
            return
        try:
            for start in range(0, len(chunk), self.sample_rate):
                frame = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(chunk[start : start + self.sample_rate][None, :]),
                    format="flt",
                    layout="mono",
                )
                frame.sample_rate = self.sample_rate
                for packet in self._stream.encode(frame):
                    self._container.mux(packet)
        except OSError as exc:
            raise _disk_error(self.path, exc) from exc
        self.samples_written += len(chunk)

    @property
    def seconds_written(self) -> float:
        return self.samples_written / self.sample_rate

    def finish(self, chapters: Sequence[tuple[float, float, str]] = ()) -> Path:
        """Flush the encoder, close and fsync the temp file; return it (still not at the final path). With
        `chapters` ((start s, end s, title)), an MP3 gets them as ID3 chapter frames (a stream copy, no re-encode)."""
        if self._stream is None or self._container is None or self._file is None or self._temp is None:
            raise RuntimeError("AudioWriter.finish outside its with block")
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            self._container.close()
            self._container = None
            self._file.flush()
            os.fchmod(self._file.fileno(), 0o644)  # audio is for playing and serving, unlike mkstemp's 0600
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None
        except OSError as exc:
            raise _disk_error(self.path, exc) from exc
        if chapters and self.format == "mp3":
            self._add_chapters(chapters)
        return self._temp

    def _add_chapters(self, chapters: Sequence[tuple[float, float, str]]) -> None:
        """Copy the temp file's packets into a new temp file that carries the chapters, and put it in its place
        (the chapters go in the ID3 header, written before the first packet, so they cannot be added as one goes)."""
        assert self._temp is not None
        copy = self._temp.with_name(self._temp.name + ".chapters")
        try:
            with av.open(str(self._temp)) as source, av.open(str(copy), "w", format=self.format) as target:
                stream = target.add_stream_from_template(source.streams.audio[0])
                target.set_chapters([
                    {"id": i + 1, "start": round(start * 1000), "end": round(end * 1000),
                     "time_base": Fraction(1, 1000), "metadata": {"title": title}}
                    for i, (start, end, title) in enumerate(chapters)
                ])  # fmt: skip
                for packet in source.demux(source.streams.audio[0]):
                    if packet.dts is not None:
                        packet.stream = stream
                        target.mux(packet)
            os.chmod(copy, 0o644)
            os.replace(copy, self._temp)
        except OSError as exc:
            with contextlib.suppress(FileNotFoundError):
                copy.unlink()
            raise _disk_error(self.path, exc) from exc

    def commit(self) -> None:
        """Put the finished temp file at the final path in one rename (the previous file, if any, is replaced
        whole)."""
        if self._temp is None or self._file is not None:
            raise RuntimeError("AudioWriter.commit before finish")
        try:
            os.replace(self._temp, self.path)
        except OSError as exc:
            raise _disk_error(self.path, exc) from exc
        self._temp = None

    def _discard(self) -> None:
        for close in (self._container, self._file):
            with contextlib.suppress(Exception):
                if close is not None:
                    close.close()
        self._container = self._file = None
        if self._temp is not None:
            with contextlib.suppress(FileNotFoundError):
                self._temp.unlink()
            self._temp = None

    def __exit__(self, *exc: object) -> None:
        self._discard()
