"""What the review store gives the pipeline (mixed into ReviewStore, store.py): the reviewed segments a transcript is
corrected with and their fingerprint, the segment types reviewers gave (trusted labels for the oracle), the clips
the recogniser is fine-tuned on, and the terms people corrected."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Sequence
from typing import Any

from podcast_assets.core.review.corrections import Correction
from podcast_assets.core.review.database import Database
from podcast_assets.core.text import STOPWORDS, normalize_text


class ReviewOutputs:
    """Reads (and the trained mark) over the store's database, `self._db`."""

    _db: Database


    def corrections(self, pair_id: str, audio_sha256: str) -> list[Correction]:
        """The pair's reviewed segments of this podcast audio, in time order."""
        with self._db.connect() as db:
            rows = db.execute(
                "SELECT start, end, reviewed_text FROM entries WHERE pair_id = ? AND audio_sha256 = ? "
                "AND is_reviewed = 1 AND is_deleted = 0 ORDER BY start",
                (pair_id, audio_sha256),
            ).fetchall()
        return [Correction(r["start"], r["end"], r["reviewed_text"]) for r in rows]

    def type_labels(self, pair_id: str | None = None) -> dict[str, list[tuple[float, float, str]]]:
        """{pair_id: [(start, end, type), ...]}: the stretches reviewers gave a segment type (deleted entries left
        out), in time order."""
        query = "SELECT pair_id, start, end, segment_type FROM entries WHERE segment_type IS NOT NULL AND is_deleted = 0"
        args: tuple[str, ...] = ()
        if pair_id is not None:
            query, args = query + " AND pair_id = ?", (pair_id,)
        found: dict[str, list[tuple[float, float, str]]] = {}
        with self._db.connect() as db:
            for row in db.execute(query + " ORDER BY pair_id, start", args):
                found.setdefault(row["pair_id"], []).append((row["start"], row["end"], row["segment_type"]))
        return found

    def training_rows(self) -> list[dict[str, Any]]:
        """Every reviewed entry with its clip and text, for fine-tuning the recogniser."""
        with self._db.connect() as db:
            rows = db.execute(
                "SELECT id, reviewed_text AS text, audio, audio_blob_sha256, sample_rate FROM entries "
                "WHERE is_reviewed = 1 AND is_deleted = 0 ORDER BY id"
            ).fetchall()
        return [dict(r) for r in rows]

    def mark_trained(self, entry_ids: Sequence[int]) -> None:
        with self._db.write() as db:
            db.executemany("UPDATE entries SET is_trained = 1 WHERE id = ?", [(i,) for i in entry_ids])

    def corrected_terms(self, pair_id: str, limit: int = 12) -> list[str]:
        """Words people typed into the pair's reviewed segments that the recogniser had not heard there (the
        most frequent first): the terms it gets wrong in this podcast."""
        with self._db.connect() as db:
            rows = db.execute(
                "SELECT asr_text, reviewed_text FROM entries WHERE pair_id = ? AND is_reviewed = 1 AND is_deleted = 0 "
                "AND reviewed_text != asr_text",
                (pair_id,),
            ).fetchall()
        counts: dict[str, int] = {}
        for row in rows:
            heard = set(normalize_text(row["asr_text"]))
            for word in normalize_text(row["reviewed_text"]):
                if word not in heard and word not in STOPWORDS and len(word) >= 3:
                    counts[word] = counts.get(word, 0) + 1
        return sorted(counts, key=lambda w: (-counts[w], w))[:limit]

    def review_states(self, pair_id: str | None = None) -> dict[str, tuple[str, str]]:
        """Per pair with reviewed entries (or only `pair_id`): (fingerprint of its reviewed text, time of its
        newest change). The fingerprint changes exactly when the pair's reviewed segments change."""
        where, args = ("AND pair_id = ?", (pair_id,)) if pair_id else ("", ())
        with self._db.connect() as db:
            rows = db.execute(
                "SELECT pair_id, audio_sha256, start, end, reviewed_text, updated_at FROM entries "
                f"WHERE is_reviewed = 1 AND is_deleted = 0 {where} ORDER BY pair_id, audio_sha256, start",
                args,
            ).fetchall()
        grouped: dict[str, list[sqlite3.Row]] = {}
        for row in rows:
            grouped.setdefault(row["pair_id"], []).append(row)
        return {
            pair: (
                corrections_fingerprint(
                    [
                        (r["audio_sha256"], Correction(r["start"], r["end"], r["reviewed_text"]))
                        for r in pair_rows
                    ]
                ),
                max(r["updated_at"] for r in pair_rows),
            )
            for pair, pair_rows in grouped.items()
        }


def corrections_fingerprint(items: Sequence[tuple[str, Correction]]) -> str:
    """Content hash of (audio, reviewed segment) pairs: what a pair's transcript was corrected with."""
    digest = hashlib.sha256()
    for audio, c in sorted(items, key=lambda x: (x[0], x[1].start)):
        digest.update(f"{audio}|{c.start:.3f}|{c.end:.3f}|{c.text}\n".encode())
    return digest.hexdigest()[:24]
