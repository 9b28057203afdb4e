"""Benchmark the default ASR: real-time factor on a pair's podcast and word error rate on real speech.

    python bench/transcribe.py [--pair PATH_TO_PAIR_FOLDER ...]

Model load time is measured and reported apart from the real-time factor. WER is computed after
normalisation (case, punctuation) and summed over clips as total edits / total reference words.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from podcast_assets.core.metrics import word_errors
from podcast_assets.core.text import clean_reference_script
from podcast_assets.resources.asr import ASRResource

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
SPEECH_DIR = SHARED_DATA / "speech"
DEFAULT_PAIRS = (
    SHARED_DATA / "pairs" / "wheat-climate-risk-podcastfy",
    PROJECT_ROOT / "examples" / "pairs" / "wheat-climate-risk-podcastfy",
)
TARGET_RTF = 5.0
TARGET_WER = 0.10


def mark(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--pair", type=Path, action="append", help="pair folder holding podcast.mp3 (repeatable)"
    )
    args = parser.parse_args()
    pairs = args.pair or [next((p for p in DEFAULT_PAIRS if p.is_dir()), DEFAULT_PAIRS[0])]

    asr = ASRResource()
    print(f"ASR: {asr.cache_identity()}  cpu_threads={asr.cpu_threads}")
    started = time.perf_counter()
    asr.load()
    print(f"model load: {time.perf_counter() - started:.2f} s (excluded from the real-time factor)\n")

    total_audio = total_wall = 0.0
    for pair in pairs:
        audio = pair / "podcast.mp3"
        started = time.perf_counter()
        result = asr.transcribe(audio)
        wall = time.perf_counter() - started
        total_audio, total_wall = total_audio + result.duration, total_wall + wall
        rtf = result.duration / wall
        print(f"{pair.name}: {result.duration:.1f} s of audio in {wall:.1f} s "
              f"(recognition {result.processing_seconds:.1f} s) -> {rtf:.1f}x real time "
              f"[target >= {TARGET_RTF:.0f}x: {mark(rtf >= TARGET_RTF)}]; "
              f"{len(result.words)} words, mean confidence {result.mean_confidence:.3f}")
        script = pair / "transcript.txt"
        if script.is_file():
            wrong, total = word_errors(clean_reference_script(script.read_text()), result.text)
            print(f"  WER against transcript.txt: {wrong / total:.1%} ({wrong} edits / {total} words)")

    if len(pairs) > 1:
        print(f"all {len(pairs)} podcasts: {total_audio / 60:.1f} min of audio in {total_wall:.0f} s "
              f"({total_audio / total_wall:.1f}x real time)")  # fmt: skip
    print(f"\nspeech clips ({SPEECH_DIR}):")
    clips = sorted(SPEECH_DIR.glob("*.flac")) + sorted(SPEECH_DIR.glob("*.wav"))
    all_wrong = all_total = 0
    for clip in clips:
        result = asr.transcribe(clip)
        wrong, total = word_errors(clip.with_suffix(".txt").read_text(), result.text)
        all_wrong, all_total = all_wrong + wrong, all_total + total
        print(f"  {clip.name}: WER {wrong / total:.1%} ({wrong}/{total})  {result.text!r}")
    if all_total:
        wer = all_wrong / all_total
        print(f"overall WER: {wer:.1%} ({all_wrong}/{all_total}) "
              f"[target <= {TARGET_WER:.0%}: {mark(wer <= TARGET_WER)}]")
    else:
        print("  no clips found")


if __name__ == "__main__":
    main()
