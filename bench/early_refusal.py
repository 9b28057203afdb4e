"""How fast a podcast the recogniser cannot transcribe is refused, and that English podcasts are not.

    python bench/early_refusal.py [--audio CLIP ...] [--minutes 15]

Without --audio it speaks bench/data/german-podcast.txt with espeak-ng (Debian package `espeak-ng`) into a
German podcast of --minutes minutes, two alternating voices, and times the refusal from the start of
transcription (model already loaded; decoding included). It also transcribes the English training pairs
(../shared/data/pairs, else the bundled example) to show they are accepted, and at what cost.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

from podcast_assets.core.errors import TranscriptionError
from podcast_assets.resources.asr import ASRResource

PROJECT_ROOT = Path(__file__).resolve().parents[1]
GERMAN_TEXT = PROJECT_ROOT / "bench" / "data" / "german-podcast.txt"
ENGLISH_PAIRS = (PROJECT_ROOT.parent / "shared" / "data" / "pairs", PROJECT_ROOT / "examples" / "pairs")
TARGET_SECONDS = 90.0


def speak_german(minutes: float, folder: Path) -> Path:
    """A WAV of German speech at least `minutes` long: the text's paragraphs in turn, two voices, pauses."""
    if shutil.which("espeak-ng") is None:
        raise SystemExit("espeak-ng is not installed (apt-get install espeak-ng), or pass --audio CLIP")
    paragraphs = [p for p in GERMAN_TEXT.read_text(encoding="utf-8").splitlines() if p.strip()]
    pieces, total, rate = [], 0.0, 22050
    for i in range(10_000):
        part = folder / f"part{i}.wav"
        voice = "de" if i % 2 == 0 else "de+f3"
        speed = (150, 160, 170, 155, 165)[i % 5]
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(part), paragraphs[i % len(paragraphs)]], check=True)
        with wave.open(str(part)) as w:
            rate = w.getframerate()
            pieces.append(np.frombuffer(w.readframes(w.getnframes()), dtype="<i2"))
        pieces.append(np.zeros(int(0.6 * rate), dtype="<i2"))
        total += (len(pieces[-2]) + len(pieces[-1])) / rate
        if total >= minutes * 60:
            break
    out = folder / "german-podcast.wav"
    with wave.open(str(out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.concatenate(pieces).tobytes())
    print(f"spoke {total / 60:.1f} min of German with espeak-ng into {out}")
    return out


def time_it(asr: ASRResource, audio: Path) -> tuple[float, str]:
    started = time.perf_counter()
    try:
        result = asr.transcribe(audio)
    except TranscriptionError as exc:
        return time.perf_counter() - started, f"REFUSED: {exc.message}"
    return time.perf_counter() - started, f"accepted: {result.duration:.0f} s of audio, {len(result.words)} words"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audio", type=Path, action="append", help="clip(s) to time instead of the spoken German")
    parser.add_argument("--minutes", type=float, default=15.0, help="length of the spoken German podcast")
    args = parser.parse_args()
    asr = ASRResource()
    asr.load()
    print(f"ASR: {asr.cache_identity()}")
    with tempfile.TemporaryDirectory() as tmp:
        clips = args.audio or [speak_german(args.minutes, Path(tmp))]
        for clip in clips:
            seconds, outcome = time_it(asr, clip)
            verdict = "ok" if outcome.startswith("REFUSED") and seconds <= TARGET_SECONDS else "MISSED"
            print(f"{clip.name}: {seconds:.1f} s from the start of transcription [target: refused within "
                  f"{TARGET_SECONDS:.0f} s: {verdict}]\n  {outcome}")
    pairs_dir = next((d for d in ENGLISH_PAIRS if d.is_dir() and any(d.iterdir())), None)
    for pair in sorted(p for p in pairs_dir.iterdir() if p.is_dir()) if pairs_dir else []:
        audio = next(pair.glob("podcast.*"))
        seconds, outcome = time_it(asr, audio)
        print(f"English {pair.name}: {seconds:.1f} s, {outcome}")


if __name__ == "__main__":
    main()
