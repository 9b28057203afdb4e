"""The review store's SQLite file: its schema, which is versioned (`PRAGMA user_version`) and migrates forward one
step at a time, each in one transaction (a database made by a newer release is refused rather than half-read);
and its connections, one per operation with a busy timeout, so a server thread never shares one, and a database
that is locked or read-only is a `ReviewStoreUnavailable` naming the file, with nothing half-written."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from podcast_assets.core.errors import PodcastAssetsError

MIGRATIONS: tuple[str, ...] = (
    # 1: entries and their edit history
    """
    CREATE TABLE entries (
        id INTEGER PRIMARY KEY,
        pair_id TEXT NOT NULL,
        audio_sha256 TEXT NOT NULL,
        segment_index INTEGER NOT NULL,
        start REAL NOT NULL,
        end REAL NOT NULL,
        asr_text TEXT NOT NULL,
        reviewed_text TEXT,
        words TEXT NOT NULL,
        audio BLOB,
        audio_blob_sha256 TEXT,
        sample_rate INTEGER NOT NULL DEFAULT 16000,
        is_reviewed INTEGER NOT NULL DEFAULT 0,
        is_trained INTEGER NOT NULL DEFAULT 0,
        is_deleted INTEGER NOT NULL DEFAULT 0,
        version INTEGER NOT NULL DEFAULT 1,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        reviewed_at TEXT,
        UNIQUE (pair_id, audio_sha256, start, end)
    );
    CREATE INDEX entries_by_pair ON entries (pair_id, start);
    CREATE TABLE edits (
        id INTEGER PRIMARY KEY,
        entry_id INTEGER NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
        at TEXT NOT NULL,
        action TEXT NOT NULL,
        old_text TEXT,
        new_text TEXT
    );
    CREATE INDEX edits_by_entry ON edits (entry_id);
    """,
    # 2: the active review order (priority), the paper's terms near each segment, and the waveform and volume
    """
    ALTER TABLE entries ADD COLUMN priority REAL NOT NULL DEFAULT 0;
    ALTER TABLE entries ADD COLUMN key_terms TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE entries ADD COLUMN peaks TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE entries ADD COLUMN rms_dbfs REAL;
    ALTER TABLE entries ADD COLUMN peak_dbfs REAL;
    CREATE INDEX entries_by_priority ON entries (is_deleted, is_reviewed, priority DESC);
    """,
    # 3: the segment type a reviewer gives the stretch (a trusted label for the oracle's calibration)
    """
    ALTER TABLE entries ADD COLUMN segment_type TEXT;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


class ReviewStoreError(PodcastAssetsError):
    """The review store cannot be opened or does not hold what was asked."""


class ReviewStoreUnavailable(ReviewStoreError):
    """The database is locked by another process or cannot be written: may succeed later."""

    retryable = True


class Database:
    def __init__(self, path: Path, busy_timeout: float):
        self.path = path
        self.busy_timeout = busy_timeout
        self._migrated = False

    def _unavailable(self, exc: sqlite3.Error) -> ReviewStoreError:
        text = str(exc)
        if "locked" in text or "busy" in text:
            return ReviewStoreUnavailable(
                f"the review database is locked by another process ({text}); nothing was changed",
                path=self.path,
                fix=f"try again when the other writer is done (waited {self.busy_timeout:g} s)",
            )
        if "readonly" in text or "read-only" in text:
            return ReviewStoreUnavailable(
                f"the review database cannot be written ({text}); nothing was changed",
                path=self.path,
                fix="give this user write access to the file and its folder, or point review.db elsewhere",
            )
        return ReviewStoreError(
            f"the review database failed: {text}", path=self.path, fix="check the file and its folder"
        )

    @staticmethod
    @contextmanager
    def _transaction(connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        """One immediate transaction: committed whole or rolled back whole."""
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield connection
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        self._migrate()
        try:
            connection = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise self._unavailable(exc) from exc
        connection.row_factory = sqlite3.Row
        try:
            connection.execute("PRAGMA foreign_keys = ON")
            yield connection
        except sqlite3.OperationalError as exc:
            raise self._unavailable(exc) from exc
        finally:
            connection.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A connection inside one immediate transaction."""
        with self.connect() as connection, self._transaction(connection):
            yield connection

    def _migrate(self) -> None:
        if self._migrated:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            connection = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
            try:
                version = connection.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise ReviewStoreError(
                        f"the review database has schema version {version}, newer than this release knows ({SCHEMA_VERSION})",
                        path=self.path,
                        fix="upgrade podcast-assets, or point review.db at another file",
                    )
                for number in range(version + 1, SCHEMA_VERSION + 1):
                    with self._transaction(connection):
                        for statement in filter(str.strip, MIGRATIONS[number - 1].split(";")):
                            connection.execute(statement)
                        connection.execute(f"PRAGMA user_version = {number}")
            finally:
                connection.close()
        except sqlite3.Error as exc:
            raise self._unavailable(exc) from exc
        self._migrated = True

    def schema_version(self) -> int:
        with self.connect() as connection:
            return connection.execute("PRAGMA user_version").fetchone()[0]
