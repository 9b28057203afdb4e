"""Which pairs train and which validate: deterministic, configurable, stable as pairs come and go.

Each pair is ranked by the hash of (seed, pair id), so adding a pair never moves another pair across the
split unless it takes a validation place by rank. Refinement sees only the train pairs; a version becomes
best only if the validation loss improves.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from podcast_assets.core.errors import TrainingError
from podcast_assets.core.storage import sha256_bytes


def split_pairs(
    pair_ids: Sequence[str], *, validation_share: float, seed: str, validation_pairs: Sequence[str] = ()
) -> dict[str, str]:
    """{pair_id: "train" | "validation"}. Named validation pairs win; else the share, rounded, at least one
    pair when there are two or more and the share is positive, and never every pair. One pair: train only."""
    ids = sorted(set(pair_ids))
    if validation_pairs:
        unknown = sorted(set(validation_pairs) - set(ids))
        if unknown:
            raise TrainingError(
                f"training.validation_pairs names pairs that are not training: {', '.join(unknown)}",
                fix=f"use ids among: {', '.join(ids)}",
            )
        held = set(validation_pairs)
        if held == set(ids):
            raise TrainingError(
                "training.validation_pairs holds out every pair: nothing would train",
                fix="leave at least one pair out of validation_pairs",
            )
    else:
        count = 0
        if len(ids) >= 2 and validation_share > 0:
            count = min(len(ids) - 1, max(1, math.floor(len(ids) * validation_share + 0.5)))
        ranked = sorted(ids, key=lambda p: sha256_bytes(f"{seed}\n{p}".encode()))
        held = set(ranked[:count])
    return {p: ("validation" if p in held else "train") for p in ids}
