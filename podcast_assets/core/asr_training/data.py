"""Training data from the review store: reviewed segments whose text fits their audio, split 90/10 for good.

A segment is left out, with the reason, when its clip does not decode or is not 16 kHz, when it is shorter than
`min_seconds` or longer than Whisper's 30 s window, or when its text does not fit its length (fewer than
`min_chars_per_second` or more than `max_chars_per_second` characters a second: text that belongs to another
segment, or a segment cut mid-sentence). The split hashes each entry's id with a seed, so an entry stays on
its side of the split however many entries are added later, and the held-out WER of two models is always
measured on the same segments."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from podcast_assets.core.review.audio import SAMPLE_RATE, ClipError, clip_samples

WHISPER_WINDOW_SECONDS = 30.0


@dataclass(frozen=True)
class Example:
    entry_id: int
    samples: np.ndarray
    """int16 at 16 kHz"""
    text: str

    @property
    def seconds(self) -> float:
        return len(self.samples) / SAMPLE_RATE


@dataclass(frozen=True)
class DataReport:
    kept: list[Example]
    removed: dict[int, str] = field(default_factory=dict)
    """entry id -> why it was left out"""


def validate(
    rows: Iterable[dict],
    *,
    min_seconds: float = 0.5,
    min_chars_per_second: float = 3.0,
    max_chars_per_second: float = 35.0,
) -> DataReport:
    """`rows`: reviewed entries with `id`, `text`, `audio` (FLAC bytes), `audio_blob_sha256` and `sample_rate`."""
    kept: list[Example] = []
    removed: dict[int, str] = {}
    for row in rows:
        entry_id = row["id"]
        if row.get("sample_rate", SAMPLE_RATE) != SAMPLE_RATE:
            removed[entry_id] = f"sample rate {row['sample_rate']} Hz, not {SAMPLE_RATE}"
            continue
        try:
            samples = clip_samples(row["audio"], row["audio_blob_sha256"], what=f"review entry {entry_id}")
        except ClipError as exc:
            removed[entry_id] = exc.message
            continue
        seconds = len(samples) / SAMPLE_RATE
        text = " ".join(row["text"].split())
        rate = len(text) / seconds if seconds else float("inf")
        if seconds < min_seconds:
            removed[entry_id] = f"{seconds:.2f} s of audio, under {min_seconds:g} s"
        elif seconds > WHISPER_WINDOW_SECONDS:
            removed[entry_id] = (
                f"{seconds:.1f} s of audio, over Whisper's {WHISPER_WINDOW_SECONDS:g} s window"
            )
        elif not min_chars_per_second <= rate <= max_chars_per_second:
            removed[entry_id] = (
                f"{len(text)} characters for {seconds:.1f} s ({rate:.1f} a second, outside "
                f"{min_chars_per_second:g}-{max_chars_per_second:g}): the text does not match the audio"
            )
        else:
            kept.append(Example(entry_id, samples, text))
    return DataReport(kept, removed)


def is_held_out(entry_id: int, *, share: float, seed: str) -> bool:
    digest = hashlib.sha256(f"{seed}:{entry_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def split(
    examples: list[Example], *, share: float = 0.1, seed: str = "podcast-assets"
) -> tuple[list[Example], list[Example]]:
    """(training, held out): each entry's side is fixed by its id and the seed; at least one on each side."""
    held = [e for e in examples if is_held_out(e.entry_id, share=share, seed=seed)]
    train = [e for e in examples if not is_held_out(e.entry_id, share=share, seed=seed)]
    if not held and len(train) > 1:
        held, train = train[-1:], train[:-1]
    if not train and len(held) > 1:
        train, held = held[:-1], held[-1:]
    return train, held


def fingerprint(examples: Iterable[Example], settings: dict) -> str:
    """What a training run learns from: the examples and the settings (a run resumes only with the same)."""
    digest = hashlib.sha256(repr(sorted(settings.items())).encode())
    for e in sorted(examples, key=lambda e: e.entry_id):
        digest.update(f"{e.entry_id}|{e.text}|{hashlib.sha256(e.samples.tobytes()).hexdigest()}\n".encode())
    return digest.hexdigest()[:16]
