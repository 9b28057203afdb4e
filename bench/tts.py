"""Benchmark the embedded TTS: real-time factor on about a minute of podcast dialogue, one and two speakers,
the pitch and pace that set the two voices apart, the loudness of each file (target -16 LUFS), the file size per
minute, and the round-trip WER through the project's own ASR.

    python bench/tts.py [--transcript PATH] [--words N] [--format mp3|ogg|wav]

The text is the opening of a shared reference transcript ("Speaker 1: ..." lines), cut after the line that
reaches --words words (165 words is about a minute at the voice's pace). Runs: the whole excerpt in the first
voice, the whole excerpt in the second voice (to compare pitch and pace on the same words), and the dialogue
with each reference speaker given its own voice. Voice loading and its one-off length calibration are timed
apart from the real-time factor. WER is after normalisation (case, punctuation), against the spoken text.
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
from pathlib import Path

import numpy as np

from podcast_assets.core.ingest.audio import SAMPLE_RATE, decode_audio
from podcast_assets.core.metrics import word_error_rate
from podcast_assets.core.training.voices import file_loudness, median_f0, voiced_f0
from podcast_assets.resources.asr import ASRResource
from podcast_assets.resources.tts import TTSResource

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TRANSCRIPT = (
    PROJECT_ROOT.parent / "shared" / "data" / "pairs" / "kd-survey-notebookllama-ollama" / "transcript.txt"
)
LINE = re.compile(r"^\s*Speaker\s*(\d+)\s*:\s*(.+)$", re.IGNORECASE)


def excerpt(path: Path, words: int) -> list[tuple[str, str]]:
    """(speaker, text) of the transcript's first lines, up to the one that reaches `words` words."""
    segments, total = [], 0
    for line in path.read_text(encoding="utf-8").splitlines():
        match = LINE.match(line)
        if not match:
            continue
        segments.append((f"speaker{match.group(1)}", match.group(2).strip()))
        total += len(match.group(2).split())
        if total >= words:
            break
    if not segments:
        raise SystemExit(f"{path}: no 'Speaker N: text' lines")
    return segments


def speak(tts: TTSResource, label: str, segments, speakers, out: Path, repeat: int = 1) -> dict:
    """Speak `repeat` times (the machine may be shared: the median time is reported) and measure the last."""
    results = [tts.speak(segments, out, speakers=speakers) for _ in range(repeat)]
    result = results[-1]
    synth = float(np.median([r.synthesis_seconds for r in results]))
    best = min(r.synthesis_seconds for r in results)
    reference = " ".join(text for _, text in segments)
    samples = decode_audio(out)
    return {
        "run": label,
        "path": out,
        "reference": reference,
        "audio_s": result.audio_seconds,
        "synth_s": synth,
        "rtf": result.audio_seconds / synth,
        "best_rtf": result.audio_seconds / best,
        "mb_per_min": result.size_bytes / result.audio_seconds * 60 / 1e6,
        "wpm": len(reference.split()) / result.audio_seconds * 60,
        "f0": median_f0(samples, SAMPLE_RATE),
        "f0_frames": voiced_f0(samples, SAMPLE_RATE),
    }


def show(row: dict) -> None:
    print(
        f"{row['run']:<22} {row['audio_s']:6.1f} s audio  {row['synth_s']:5.2f} s  RTF {row['rtf']:5.1f}x "
        f"(best {row['best_rtf']:5.1f}x)  {row['mb_per_min']:.2f} MB/min  {row['wpm']:4.0f} wpm  WER {row['wer']:.3f}  "
        f"median F0 {row['f0'] or float('nan'):5.1f} Hz  {row.get('lufs') or float('nan'):6.2f} LUFS"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--transcript", type=Path, default=DEFAULT_TRANSCRIPT)
    parser.add_argument("--words", type=int, default=165)
    parser.add_argument("--format", choices=["mp3", "ogg", "wav"], default="mp3")
    parser.add_argument("--repeat", type=int, default=3, help="times each run is spoken (median time)")
    args = parser.parse_args()
    if not args.transcript.is_file():
        raise SystemExit(f"{args.transcript}: not found (pass --transcript with a 'Speaker N: text' file)")

    segments = excerpt(args.transcript, args.words)
    labels = list(dict.fromkeys(speaker for speaker, _ in segments))
    tts, asr = TTSResource(), ASRResource()
    print(f"TTS: {tts.cache_identity()}")
    started = time.perf_counter()
    tts.load()
    print(
        f"voice load and length calibration {time.perf_counter() - started:.2f} s "
        "(once per process, excluded from the real-time factor)"
    )
    asr.load()
    words = sum(len(text.split()) for _, text in segments)
    print(f"text: {len(segments)} lines, {words} words of {args.transcript.parent.name}")
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs (timings are wall clock)\n")

    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        # all speech first (median time of --repeat runs), then all recognition
        rows = [
            speak(
                tts,
                "one speaker (voice 1)",
                [("a", t) for _, t in segments],
                ["a"],
                out / f"a.{args.format}",
                args.repeat,
            ),
            speak(
                tts,
                "one speaker (voice 2)",
                [("b", t) for _, t in segments],
                ["a", "b"],
                out / f"b.{args.format}",
                args.repeat,
            ),
            speak(tts, "two speakers", segments, labels[:2], out / f"ab.{args.format}", args.repeat),
        ]
        for row in rows:
            row["wer"] = word_error_rate(row["reference"], asr.transcribe(row["path"]).text)
            row["lufs"] = file_loudness(Path(row["path"]))
            show(row)
    first, second, both = rows

    semitones = 12 * np.log2(second["f0"] / first["f0"])
    overlap = np.mean(second["f0_frames"] <= np.median(first["f0_frames"]))
    print(
        f"\nvoices: {tts.voices(['voice 1', 'voice 2'])}\n"
        f"F0 separation: {first['f0']:.1f} Hz vs {second['f0']:.1f} Hz = {semitones:+.2f} semitones "
        f"(pitch shift set: {tts.second_pitch_semitones:+g}); {overlap:.1%} of voice 2's voiced frames are at or below "
        "voice 1's median\n"
        f"pace: voice 2 takes {second['audio_s'] / first['audio_s']:.3f} x voice 1's time "
        f"(set: {tts.rate / tts.second_rate:.3f})\n"
        f"RTF (median / best): one speaker {first['rtf']:.1f}x / {first['best_rtf']:.1f}x, two speakers "
        f"{both['rtf']:.1f}x / {both['best_rtf']:.1f}x; "
        f"round-trip WER: {first['wer']:.3f} / {second['wer']:.3f} / {both['wer']:.3f}; "
        f"size: {both['mb_per_min']:.2f} MB per minute ({args.format}, {tts.bitrate_kbps} kbit/s)"
    )


if __name__ == "__main__":
    main()
