"""The review store: one SQLite row per transcript segment of every pair, with its audio clip, the recogniser's
text and word confidences, the text a person settled on, whether it is reviewed (and trained on), timestamps,
and the history of every edit.

- The file, its schema (versioned, migrating forward) and its connections are `database.py`'s; what the store
  gives the pipeline (corrections, segment types, training clips, corrected terms) is `outputs.py`'s.
- Each entry carries a `version` that every change increments: a save names the version it edited, and a save
  of an older version (another tab saved first) is a `ReviewConflict`, never a silent overwrite.
- Filling from a new transcript never touches a reviewed entry's text; unreviewed entries take the new text.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from podcast_assets.core.analysis.models import SEGMENT_TYPES
from podcast_assets.core.review.audio import Clip, clip_samples, wav_bytes
from podcast_assets.core.review.database import Database, ReviewStoreError
from podcast_assets.core.review.outputs import ReviewOutputs
from podcast_assets.core.review.typed_text import text_problem

Status = Literal["all", "unreviewed", "reviewed", "deleted"]
Order = Literal["active", "time"]
_STATUS_SQL = {
    "all": "is_deleted = 0",
    "unreviewed": "is_deleted = 0 AND is_reviewed = 0",
    "reviewed": "is_deleted = 0 AND is_reviewed = 1",
    "deleted": "is_deleted = 1",
}
_ORDER_SQL = {"active": "priority DESC, pair_id, start", "time": "pair_id, start"}
_LIST_COLUMNS = (
    "id, pair_id, segment_index, start, end, asr_text, reviewed_text, words, is_reviewed, is_trained, is_deleted, "
    "version, created_at, updated_at, reviewed_at, priority, key_terms, peaks, rms_dbfs, peak_dbfs, audio_sha256, "
    "segment_type"
)


class EntryNotFound(ReviewStoreError):
    pass


class ReviewConflict(ReviewStoreError):
    """The entry changed since the version the caller edited."""

    def __init__(self, message: str, current: dict[str, Any]):
        super().__init__(message)
        self.current = current


class InvalidText(ReviewStoreError):
    pass


@dataclass(frozen=True)
class FillSegment:
    """One transcript segment as the recogniser gave it, with its clip and priority."""

    index: int
    start: float
    end: float
    text: str
    words: list[tuple[str, float, float, float]]
    """(word, start, end, confidence)"""
    clip: Clip
    priority: float
    key_terms: list[str]


@dataclass(frozen=True)
class FillReport:
    inserted: int
    updated: int
    kept_reviewed: int
    removed: int
    entries: int


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class ReviewStore(ReviewOutputs):
    """The entries and their edits, as the review page changes them; what flows into the graph is outputs.py's."""

    def __init__(self, path: str | Path, *, busy_timeout: float = 5.0, max_chars_per_second: float = 35.0):
        self.path = Path(path)
        self.max_chars_per_second = max_chars_per_second
        self._db = Database(self.path, busy_timeout)

    def schema_version(self) -> int:
        return self._db.schema_version()

    # ------------------------------------------------------------------ filling from transcripts

    def fill(self, pair_id: str, audio_sha256: str, segments: Sequence[FillSegment]) -> FillReport:
        """Make the pair's entries those of this transcript. Reviewed entries keep their text (and stay, even when
        the recogniser now cuts the audio differently); unreviewed ones take the new text, clip and priority;
        unreviewed entries of segments that no longer exist are removed. Deleted entries stay deleted."""
        now = _now()
        inserted = updated = kept = 0
        with self._db.write() as db:
            existing = {
                (row["start"], row["end"]): row
                for row in db.execute(
                    "SELECT id, start, end, is_reviewed, is_deleted FROM entries WHERE pair_id = ? AND audio_sha256 = ?",
                    (pair_id, audio_sha256),
                )
            }
            reviewed_spans = [(r["start"], r["end"]) for r in existing.values() if r["is_reviewed"]]
            seen: set[int] = set()
            for s in segments:
                start, end = round(s.start, 3), round(s.end, 3)
                common = (
                    s.index,
                    json.dumps(s.words),
                    s.clip.flac,
                    s.clip.sha256,
                    s.priority,
                    json.dumps(s.key_terms),
                    json.dumps(s.clip.peaks),
                    s.clip.rms_dbfs,
                    s.clip.peak_dbfs,
                )
                row = existing.get((start, end))
                if row is not None:
                    seen.add(row["id"])
                    if row["is_reviewed"]:
                        # the text is the person's; the clip and figures may be cut again (a damaged clip is repaired)
                        db.execute(
                            "UPDATE entries SET audio = ?, audio_blob_sha256 = ?, peaks = ?, rms_dbfs = ?, peak_dbfs = ? "
                            "WHERE id = ?",
                            (
                                s.clip.flac,
                                s.clip.sha256,
                                json.dumps(s.clip.peaks),
                                s.clip.rms_dbfs,
                                s.clip.peak_dbfs,
                                row["id"],
                            ),
                        )
                        kept += 1
                    else:
                        db.execute(
                            "UPDATE entries SET segment_index = ?, words = ?, audio = ?, audio_blob_sha256 = ?, priority = ?, "
                            "key_terms = ?, peaks = ?, rms_dbfs = ?, peak_dbfs = ?, asr_text = ?, updated_at = ? WHERE id = ?",
                            (*common, s.text.strip(), now, row["id"]),
                        )
                        updated += 1
                    continue
                if any(start < r_end and r_start < end for r_start, r_end in reviewed_spans):
                    continue  # a reviewed entry already covers this stretch of audio
                db.execute(
                    "INSERT INTO entries (pair_id, audio_sha256, start, end, asr_text, segment_index, words, audio, "
                    "audio_blob_sha256, priority, key_terms, peaks, rms_dbfs, peak_dbfs, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (pair_id, audio_sha256, start, end, s.text.strip(), *common, now, now),
                )
                inserted += 1
            stale = [
                r["id"]
                for r in existing.values()
                if r["id"] not in seen and not r["is_reviewed"] and not r["is_deleted"]
            ]
            db.executemany("DELETE FROM entries WHERE id = ?", [(i,) for i in stale])
            total = db.execute(
                "SELECT COUNT(*) FROM entries WHERE pair_id = ? AND is_deleted = 0", (pair_id,)
            ).fetchone()[0]
        return FillReport(inserted, updated, kept, len(stale), total)

    # ------------------------------------------------------------------ reading

    def _entry(self, row: sqlite3.Row) -> dict[str, Any]:
        words = [
            {"word": w, "start": s, "end": e, "probability": p} for w, s, e, p in json.loads(row["words"])
        ]
        text = row["reviewed_text"] if row["reviewed_text"] is not None else row["asr_text"]
        return {
            "id": row["id"],
            "pair_id": row["pair_id"],
            "segment_index": row["segment_index"],
            "start": row["start"],
            "end": row["end"],
            "duration": round(row["end"] - row["start"], 3),
            "asr_text": row["asr_text"],
            "reviewed_text": row["reviewed_text"],
            "text": text,
            "words": words,
            "mean_confidence": round(sum(w["probability"] for w in words) / len(words), 3) if words else None,
            "is_reviewed": bool(row["is_reviewed"]),
            "is_trained": bool(row["is_trained"]),
            "is_deleted": bool(row["is_deleted"]),
            "version": row["version"],
            "priority": row["priority"],
            "key_terms": json.loads(row["key_terms"]),
            "peaks": json.loads(row["peaks"]),
            "rms_dbfs": row["rms_dbfs"],
            "peak_dbfs": row["peak_dbfs"],
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
            "reviewed_at": row["reviewed_at"],
            "max_chars": self.max_chars(row["end"] - row["start"]),
            "segment_type": row["segment_type"],
        }

    def list_entries(
        self,
        *,
        pair_id: str | None = None,
        status: Status = "all",
        order: Order = "active",
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of entries (without their history) and how many match in all."""
        where = _STATUS_SQL[status] + (" AND pair_id = ?" if pair_id else "")
        args: tuple[Any, ...] = (pair_id,) if pair_id else ()
        with self._db.connect() as db:
            total = db.execute(f"SELECT COUNT(*) FROM entries WHERE {where}", args).fetchone()[0]
            rows = db.execute(
                f"SELECT {_LIST_COLUMNS} FROM entries WHERE {where} ORDER BY {_ORDER_SQL[order]} LIMIT ? OFFSET ?",
                (*args, limit, offset),
            ).fetchall()
        return [self._entry(r) for r in rows], total

    def get(self, entry_id: int, *, history: bool = True) -> dict[str, Any]:
        with self._db.connect() as db:
            row = db.execute(f"SELECT {_LIST_COLUMNS} FROM entries WHERE id = ?", (entry_id,)).fetchone()
            if row is None:
                raise EntryNotFound(f"no review entry {entry_id}")
            entry = self._entry(row)
            if history:
                entry["history"] = [
                    dict(r)
                    for r in db.execute(
                        "SELECT at, action, old_text, new_text FROM edits WHERE entry_id = ? ORDER BY id",
                        (entry_id,),
                    )
                ]
        return entry

    def next_entry(
        self,
        after_id: int | None,
        *,
        pair_id: str | None = None,
        status: Status = "unreviewed",
        order: Order = "active",
        backwards: bool = False,
    ) -> dict[str, Any] | None:
        """The entry after (or before) `after_id` in this order among the entries the filter selects; the first
        when `after_id` is None. `after_id` itself keeps its place even when it no longer matches the filter
        (after a save & next, the reviewed entry has left the unreviewed ones), so review goes on from there."""
        where = _STATUS_SQL[status] + (" AND pair_id = ?" if pair_id else "")
        args: tuple[Any, ...] = (pair_id,) if pair_id else ()
        if after_id is not None:
            where, args = f"({where}) OR id = ?", (*args, after_id)
        with self._db.connect() as db:
            ids = [
                r[0]
                for r in db.execute(
                    f"SELECT id FROM entries WHERE {where} ORDER BY {_ORDER_SQL[order]}", args
                )
            ]
        if backwards:
            ids.reverse()
        if after_id is not None and after_id in ids:
            ids = ids[ids.index(after_id) + 1 :]
        return self.get(ids[0], history=False) if ids else None

    def stats(self, pair_id: str | None = None) -> dict[str, Any]:
        where, args = ("WHERE pair_id = ?", (pair_id,)) if pair_id else ("", ())
        with self._db.connect() as db:
            rows = db.execute(
                "SELECT pair_id, COUNT(*) FILTER (WHERE is_deleted = 0) AS total, "
                "COUNT(*) FILTER (WHERE is_deleted = 0 AND is_reviewed = 1) AS reviewed, "
                "COUNT(*) FILTER (WHERE is_deleted = 1) AS deleted, "
                "COUNT(*) FILTER (WHERE is_deleted = 0 AND is_reviewed = 1 AND is_trained = 0) AS ready_for_training, "
                "COALESCE(SUM(end - start) FILTER (WHERE is_deleted = 0 AND is_reviewed = 1), 0) AS reviewed_seconds "
                f"FROM entries {where} GROUP BY pair_id ORDER BY pair_id",
                args,
            ).fetchall()
        pairs = [dict(r) for r in rows]
        total = sum(p["total"] for p in pairs)
        reviewed = sum(p["reviewed"] for p in pairs)
        return {
            "total": total,
            "reviewed": reviewed,
            "unreviewed": total - reviewed,
            "deleted": sum(p["deleted"] for p in pairs),
            "ready_for_training": sum(p["ready_for_training"] for p in pairs),
            "reviewed_seconds": round(sum(p["reviewed_seconds"] for p in pairs), 1),
            "percent": round(100 * reviewed / total, 1) if total else 0.0,
            "pairs": pairs,
        }

    def audio_wav(self, entry_id: int) -> bytes:
        """The entry's clip as WAV; ClipError when this entry's clip is damaged (other entries are unaffected)."""
        with self._db.connect() as db:
            row = db.execute(
                "SELECT audio, audio_blob_sha256 FROM entries WHERE id = ?", (entry_id,)
            ).fetchone()
        if row is None:
            raise EntryNotFound(f"no review entry {entry_id}")
        return wav_bytes(
            clip_samples(row["audio"], row["audio_blob_sha256"], what=f"review entry {entry_id}")
        )

    # ------------------------------------------------------------------ changing

    def max_chars(self, duration: float) -> int:
        """The longest text a segment of this length could hold (speech is about 15 characters a second)."""
        return int(40 + self.max_chars_per_second * max(duration, 0.0))

    def check_text(self, text: str, duration: float) -> str:
        if (problem := text_problem(text)) is not None:
            raise InvalidText(problem)
        cleaned = " ".join(text.split())
        if not cleaned:
            raise InvalidText(
                "the text is empty; type what is said, or Delete the entry if nothing usable is said"
            )
        limit = self.max_chars(duration)
        if len(cleaned) > limit:
            raise InvalidText(
                f"the text has {len(cleaned):,} characters, more than a {duration:.1f} s segment could hold "
                f"(at most {limit:,}); check that it belongs to this segment"
            )
        return cleaned

    def _row_for_change(self, db: sqlite3.Connection, entry_id: int, version: int | None) -> sqlite3.Row:
        row = db.execute(f"SELECT {_LIST_COLUMNS} FROM entries WHERE id = ?", (entry_id,)).fetchone()
        if row is None:
            raise EntryNotFound(f"no review entry {entry_id}")
        if version is not None and row["version"] != version:
            raise ReviewConflict(
                f"entry {entry_id} was changed elsewhere (you edited version {version}, it is now version {row['version']}); "
                "reload it, then apply your change again",
                current=self._entry(row),
            )
        return row

    def save(
        self,
        entry_id: int,
        text: str,
        *,
        version: int | None,
        reviewed: bool | None = None,
        segment_type: str | None = None,
    ) -> dict[str, Any]:
        """Set the entry's text (and, when given, its reviewed flag, and its segment type: one of SEGMENT_TYPES, or
        "" to clear it) if it is still at `version`."""
        if segment_type and segment_type not in SEGMENT_TYPES:
            raise InvalidText(f"unknown segment type {segment_type!r}: use one of {', '.join(SEGMENT_TYPES)}")
        now = _now()
        with self._db.write() as db:
            row = self._row_for_change(db, entry_id, version)
            cleaned = self.check_text(text, row["end"] - row["start"])
            old = row["reviewed_text"] if row["reviewed_text"] is not None else row["asr_text"]
            is_reviewed = row["is_reviewed"] if reviewed is None else int(reviewed)
            db.execute(
                "UPDATE entries SET reviewed_text = ?, is_reviewed = ?, is_deleted = 0, version = version + 1, "
                "updated_at = ?, reviewed_at = CASE WHEN ? THEN ? ELSE reviewed_at END WHERE id = ?",
                (cleaned, is_reviewed, now, is_reviewed and not row["is_reviewed"], now, entry_id),
            )
            if cleaned != old:
                db.execute(
                    "INSERT INTO edits (entry_id, at, action, old_text, new_text) VALUES (?, ?, 'edit', ?, ?)",
                    (entry_id, now, old, cleaned),
                )
            if is_reviewed != row["is_reviewed"]:
                db.execute(
                    "INSERT INTO edits (entry_id, at, action) VALUES (?, ?, ?)",
                    (entry_id, now, "reviewed" if is_reviewed else "unreviewed"),
                )
            if segment_type is not None and (segment_type or None) != row["segment_type"]:
                db.execute("UPDATE entries SET segment_type = ? WHERE id = ?", (segment_type or None, entry_id))
                db.execute(
                    "INSERT INTO edits (entry_id, at, action, old_text, new_text) VALUES (?, ?, 'type', ?, ?)",
                    (entry_id, now, row["segment_type"], segment_type or None),
                )
        return self.get(entry_id)

    def mark_reviewed(self, entry_id: int, *, version: int | None, reviewed: bool = True) -> dict[str, Any]:
        """Mark the entry reviewed (its current text, as shown, is right) or back to unreviewed."""
        now = _now()
        with self._db.write() as db:
            row = self._row_for_change(db, entry_id, version)
            if bool(row["is_reviewed"]) != reviewed:
                db.execute(
                    "UPDATE entries SET is_reviewed = ?, is_deleted = 0, version = version + 1, updated_at = ?, "
                    "reviewed_at = CASE WHEN ? THEN ? ELSE reviewed_at END, "
                    "reviewed_text = COALESCE(reviewed_text, asr_text) WHERE id = ?",
                    (int(reviewed), now, reviewed, now, entry_id),
                )
                db.execute(
                    "INSERT INTO edits (entry_id, at, action) VALUES (?, ?, ?)",
                    (entry_id, now, "reviewed" if reviewed else "unreviewed"),
                )
        return self.get(entry_id)

    def delete(self, entry_id: int, *, version: int | None) -> None:
        """Drop the entry from review and training (kept in the file, flagged, so a new fill does not bring it
        back); its segment keeps the recogniser's text in the transcript."""
        now = _now()
        with self._db.write() as db:
            row = self._row_for_change(db, entry_id, version)
            if not row["is_deleted"]:
                db.execute(
                    "UPDATE entries SET is_deleted = 1, is_reviewed = 0, version = version + 1, updated_at = ? WHERE id = ?",
                    (now, entry_id),
                )
                db.execute(
                    "INSERT INTO edits (entry_id, at, action) VALUES (?, ?, 'deleted')", (entry_id, now)
                )
