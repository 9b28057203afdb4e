"""Does giving the recogniser the paper's vocabulary help? Word error rate and term error rate with and without it.

    python bench/asr_vocab.py [--terms 24] [--pair FOLDER ...]

For every shared pair with a reference transcript (`transcript.txt` beside its podcast), the podcast is
transcribed by the configured local recogniser twice: as is, and with the paper's vocabulary (its highest-
scoring key concepts, `core/ingest/vocabulary.py`) as faster-whisper hotwords. Printed per pair and summed:

- WER: word edits / reference words, after normalisation (case, punctuation);
- term error rate: of the occurrences in the reference text of the paper's key concepts (the 40 highest-scoring,
  more than are given as vocabulary), the share the transcript gets wrong (a word of it not matched word for
  word by the alignment behind the WER);
- the same term error rate over only the terms given as vocabulary.

Nothing is tuned on these pairs: the vocabulary is the paper's key concepts as the extractor ranks them.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from podcast_assets.core.ingest.pdf.document import read_document
from podcast_assets.core.ingest.vocabulary import paper_vocabulary
from podcast_assets.core.metrics import term_errors, word_errors
from podcast_assets.core.text import clean_reference_script
from podcast_assets.resources.asr import ASRResource

ROOT = Path(__file__).resolve().parents[1]
SHARED_PAIRS = ROOT.parent / "shared" / "data" / "pairs"
MEASURED_TERMS = 40


def pairs_with_reference(folders: list[Path] | None) -> list[Path]:
    candidates = folders or (
        sorted(p for p in SHARED_PAIRS.iterdir() if p.is_dir()) if SHARED_PAIRS.is_dir() else []
    )
    return [p for p in candidates if (p / "transcript.txt").is_file()]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--terms", type=int, default=24, help="terms given as vocabulary (default 24)")
    parser.add_argument(
        "--pair", type=Path, action="append", help="a pair folder with transcript.txt (repeatable)"
    )
    args = parser.parse_args()
    pairs = pairs_with_reference(args.pair)
    if not pairs:
        print(f"no pair with a reference transcript (transcript.txt) under {SHARED_PAIRS}")
        return 1
    asr = ASRResource()
    asr.load()
    print(
        f"recogniser: {asr.model} ({asr.compute_type}, beam {asr.beam_size}); vocabulary: {args.terms} terms\n"
    )
    totals = {k: [0, 0] for k in ("wer0", "wer1", "ter0", "ter1", "given0", "given1")}
    header = f"{'pair':42} {'':8} {'WER':>7} {'terms':>7} {'given':>7} {'seconds':>8}"
    print(header)
    for folder in pairs:
        graph, _ = read_document(folder / "paper.pdf", min_chars_per_page=200)
        reference = clean_reference_script((folder / "transcript.txt").read_text())
        measured = [k.phrase for k in sorted(graph.key_concepts, key=lambda k: -k.score)[:MEASURED_TERMS]]
        vocabulary = paper_vocabulary(graph, max_terms=args.terms)
        audio = next(p for p in folder.iterdir() if p.name.startswith("podcast"))
        for n, words in enumerate(((), vocabulary)):
            started = time.perf_counter()
            text = asr.transcribe(audio, vocabulary=words).text
            seconds = time.perf_counter() - started
            figures = {
                f"wer{n}": word_errors(reference, text),
                f"ter{n}": term_errors(reference, text, measured),
                f"given{n}": term_errors(reference, text, vocabulary),
            }
            for key, (errors, count) in figures.items():
                totals[key][0] += errors
                totals[key][1] += count
            rates = [e / c if c else 0.0 for e, c in figures.values()]
            label = "with" if n else "without"
            print(
                f"{folder.name if not n else '':42} {label:8} {rates[0]:7.1%} {rates[1]:7.1%} {rates[2]:7.1%} {seconds:8.1f}"
            )
        print(
            f"{'':42} {'':8} terms in the reference: {figures[f'ter{n}'][1]} ({figures[f'given{n}'][1]} of them given)"
        )
        print(f"{'':42} vocabulary: {', '.join(vocabulary)}")

    def rate(key: str) -> float:
        errors, count = totals[key]
        return errors / count if count else 0.0

    print(f"\n{'all pairs':42} {'without':8} {rate('wer0'):7.1%} {rate('ter0'):7.1%} {rate('given0'):7.1%}")
    print(f"{'':42} {'with':8} {rate('wer1'):7.1%} {rate('ter1'):7.1%} {rate('given1'):7.1%}")
    helps = rate("ter1") < rate("ter0") and rate("wer1") <= rate("wer0") * 1.02
    print(f"\nthe vocabulary {'helps' if helps else 'does not help'}: term error rate {rate('ter0'):.1%} -> {rate('ter1'):.1%}, "
          f"WER {rate('wer0'):.1%} -> {rate('wer1'):.1%}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
