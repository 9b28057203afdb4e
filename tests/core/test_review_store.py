"""The review store on its own: schema migrations, fills that never overwrite a person's work, conflicts, refused
text, damaged clips, a locked or read-only database; and how reviewed text re-times a segment's words, and the
active review order. Clips are cut from a real podcast where the behaviour depends on real audio."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from podcast_assets.core.ingest.audio import decode_audio
from podcast_assets.core.ingest.models import TranscriptSegment, Word
from podcast_assets.core.review.audio import SAMPLE_RATE, ClipError, clip_samples, make_clip
from podcast_assets.core.review.corrections import Correction, apply_reviews, retime
from podcast_assets.core.review.database import (
    MIGRATIONS,
    SCHEMA_VERSION,
    ReviewStoreError,
    ReviewStoreUnavailable,
)
from podcast_assets.core.review.priority import TermMatcher, segment_priority, term_words
from podcast_assets.core.review.store import (
    EntryNotFound,
    FillSegment,
    InvalidText,
    ReviewConflict,
    ReviewStore,
)
from tests.conftest import training_pair_dirs


@pytest.fixture(scope="module")
def podcast() -> np.ndarray:
    """The first minute of a real podcast, as the recogniser decodes it."""
    audio = next(
        p
        for p in sorted(training_pair_dirs()[0].iterdir())
        if p.suffix in {".mp3", ".wav", ".m4a", ".flac", ".ogg"}
    )
    return decode_audio(audio)[: 60 * SAMPLE_RATE]


def segments(podcast: np.ndarray, texts: list[str], *, length: float = 6.0) -> list[FillSegment]:
    out = []
    for i, text in enumerate(texts):
        start, end = i * length, i * length + length - 0.5
        words = [(w, start + k * 0.3, start + k * 0.3 + 0.25, 0.9) for k, w in enumerate(text.split())]
        clip = make_clip(podcast[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)])
        out.append(FillSegment(i, start, end, text, words, clip, float(len(texts) - i), []))
    return out


@pytest.fixture
def store(tmp_path, podcast) -> ReviewStore:
    store = ReviewStore(tmp_path / "review.sqlite", busy_timeout=0.2)
    store.fill("pair-a", "audio-1", segments(podcast, ["the first thing", "second one here", "and a third"]))
    return store


def test_a_clip_keeps_the_podcast_audio_exactly(podcast):
    piece = podcast[: 5 * SAMPLE_RATE]
    clip = make_clip(piece)
    decoded = clip_samples(clip.flac, clip.sha256, what="clip")
    assert len(decoded) == len(piece)
    assert np.abs(decoded / 32767 - piece).max() < 1e-4  # int16 quantisation only: FLAC is lossless
    assert len(clip.flac) < len(piece) * 2  # compressed below 16-bit PCM
    assert clip.rms_dbfs < clip.peak_dbfs < 0


def test_an_old_database_migrates_forward_with_its_data(tmp_path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0])
    db.execute(
        "INSERT INTO entries (pair_id, audio_sha256, segment_index, start, end, asr_text, reviewed_text, words, "
        "is_reviewed, created_at, updated_at) VALUES ('p', 'a', 0, 0, 4, 'heard', 'said', '[]', 1, 't', 't')"
    )
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    store = ReviewStore(path)
    assert store.schema_version() == SCHEMA_VERSION == 3
    [entry], _ = store.list_entries()
    assert (entry["text"], entry["is_reviewed"], entry["priority"], entry["key_terms"], entry["segment_type"]) == (
        "said",
        True,
        0,
        [],
        None,
    )


def test_a_reviewer_types_a_segment_and_it_becomes_a_trusted_label(store):
    first, second, third = store.list_entries()[0]
    typed = store.save(first["id"], first["text"], version=first["version"], segment_type="intro")
    assert typed["segment_type"] == "intro" and typed["history"][-1]["action"] == "type"
    store.save(second["id"], "second one, heard right", version=second["version"], segment_type="methodology")
    unchanged = store.save(third["id"], third["text"], version=third["version"])
    assert unchanged["segment_type"] is None, "a save without a type leaves it as it was"
    assert store.type_labels() == {"pair-a": [(first["start"], first["end"], "intro"),
                                              (second["start"], second["end"], "methodology")]}  # fmt: skip
    cleared = store.save(first["id"], first["text"], version=typed["version"], segment_type="")
    assert cleared["segment_type"] is None and len(store.type_labels("pair-a")["pair-a"]) == 1
    with pytest.raises(InvalidText, match="unknown segment type 'chitchat'"):
        store.save(third["id"], third["text"], version=unchanged["version"], segment_type="chitchat")


def test_a_database_from_a_newer_release_is_refused(tmp_path):
    path = tmp_path / "new.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(ReviewStoreError, match="newer than this release"):
        ReviewStore(path).stats()


def test_a_new_transcript_never_overwrites_a_reviewed_segment(store, podcast):
    first, second, third = (e["id"] for e in store.list_entries(order="time")[0])
    store.save(first, "the first thing, corrected", version=1, reviewed=True)
    store.save(second, "saved but not reviewed", version=1)
    report = store.fill(
        "pair-a", "audio-1", segments(podcast, ["heard again", "heard again two", "heard again three"])
    )
    assert (report.kept_reviewed, report.updated, report.inserted) == (1, 2, 0)
    by_id = {e["id"]: e for e in store.list_entries(order="time")[0]}
    assert by_id[first]["text"] == "the first thing, corrected"
    assert by_id[first]["asr_text"] == "the first thing"
    assert by_id[third]["text"] == "heard again three"
    # a recogniser that now cuts the audio differently drops unreviewed entries, not the reviewed one
    shifted = segments(podcast, ["x y", "y z", "z w"], length=6.2)
    store.fill("pair-a", "audio-1", shifted)
    spans = [(e["start"], e["is_reviewed"]) for e in store.list_entries(order="time")[0]]
    assert (0.0, True) in spans and len(
        spans
    ) == 3  # the reviewed one, and the two new that do not overlap it


def test_edits_are_kept_in_the_history(store):
    entry_id = store.list_entries(order="time")[0][0]["id"]
    store.save(entry_id, "one", version=1)
    entry = store.save(entry_id, "two", version=2, reviewed=True)
    assert [(h["action"], h["old_text"], h["new_text"]) for h in entry["history"]] == [
        ("edit", "the first thing", "one"),
        ("edit", "one", "two"),
        ("reviewed", None, None),
    ]
    assert entry["reviewed_at"] and entry["version"] == 3


def test_the_second_of_two_tabs_gets_a_conflict(store):
    entry_id = store.list_entries()[0][0]["id"]
    store.save(entry_id, "from the first tab", version=1)
    with pytest.raises(ReviewConflict, match="changed elsewhere") as caught:
        store.save(entry_id, "from the second tab", version=1)
    assert caught.value.current["text"] == "from the first tab"
    assert store.get(entry_id)["text"] == "from the first tab"


@pytest.mark.parametrize("text", ["", "   \n\t "])
def test_empty_text_is_refused(store, text):
    entry_id = store.list_entries()[0][0]["id"]
    with pytest.raises(InvalidText, match="empty"):
        store.save(entry_id, text, version=1)
    assert store.get(entry_id)["version"] == 1


def test_text_longer_than_the_segment_could_hold_is_refused(store):
    entry = store.list_entries()[0][0]
    with pytest.raises(InvalidText, match="more than a 5.5 s segment could hold"):
        store.save(entry["id"], "word " * 200, version=1)
    store.save(entry["id"], "a sentence of normal length for five seconds of speech", version=1)


def test_html_is_stored_as_typed(store):
    entry_id = store.list_entries()[0][0]["id"]
    typed = '<script>alert("x")</script> & <b>bold</b>'
    assert store.save(entry_id, typed, version=1)["text"] == typed


def test_a_damaged_clip_fails_that_entry_only(store):
    first, second, _ = (e["id"] for e in store.list_entries(order="time")[0])
    with sqlite3.connect(store.path) as db:
        blob = db.execute("SELECT audio FROM entries WHERE id = ?", (first,)).fetchone()[0]
        middle = len(blob) // 2
        damaged = blob[:middle] + bytes(b ^ 0xFF for b in blob[middle : middle + 64]) + blob[middle + 64 :]
        db.execute("UPDATE entries SET audio = ? WHERE id = ?", (damaged, first))
    with pytest.raises(ClipError, match=f"review entry {first}: audio clip is damaged"):
        store.audio_wav(first)
    assert store.audio_wav(second)[:4] == b"RIFF"
    assert store.get(first)["text"] == "the first thing"  # still reviewable


def test_unknown_entries(store):
    with pytest.raises(EntryNotFound):
        store.get(999)
    with pytest.raises(EntryNotFound):
        store.save(999, "x", version=1)


def test_a_locked_database_is_a_clear_error_and_loses_nothing(store):
    entry_id = store.list_entries()[0][0]["id"]
    holder = sqlite3.connect(store.path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(ReviewStoreUnavailable, match="locked by another process.*nothing was changed"):
            store.save(entry_id, "while locked", version=1)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert store.get(entry_id)["text"] == "the first thing"
    assert store.save(entry_id, "after the lock", version=1)["text"] == "after the lock"


def test_a_read_only_database_is_a_clear_error_and_loses_nothing(tmp_path, podcast):
    """Against a file and folder the process may only read. Root writes through file modes, so as root the
    process runs without the capability that lets it (setpriv drops CAP_DAC_OVERRIDE)."""
    folder = tmp_path / "shared"
    folder.mkdir()
    store = ReviewStore(folder / "review.sqlite")
    store.fill("pair-a", "audio-1", segments(podcast, ["the first thing"]))
    os.chmod(folder / "review.sqlite", 0o444)
    os.chmod(folder, 0o555)
    script = textwrap.dedent(
        f"""
        from podcast_assets.core.review.database import ReviewStoreUnavailable
        from podcast_assets.core.review.store import ReviewStore
        store = ReviewStore({str(folder / "review.sqlite")!r})
        entry = store.list_entries()[0][0]
        try:
            store.save(entry["id"], "cannot be written", version=1)
        except ReviewStoreUnavailable as exc:
            print("REFUSED", exc)
        """
    )
    command = [sys.executable, "-c", script]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv (util-linux): root writes through file modes")
        command = [setpriv, "--bounding-set", "-dac_override,-dac_read_search", "--", *command]
    try:
        done = subprocess.run(
            command,
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": os.getcwd()},
        )
    finally:
        os.chmod(folder, 0o755)
    assert "REFUSED" in done.stdout, done.stderr
    assert (
        "cannot be written" in done.stdout
        and "review.sqlite" in done.stdout
        and "write access" in done.stdout
    )
    assert store.list_entries()[0][0]["text"] == "the first thing"


def test_reviewed_text_replaces_the_segment_and_keeps_the_timing_of_kept_words():
    words = [
        Word(word=f" {w}", start=i, end=i + 0.8, probability=0.5)
        for i, w in enumerate(["we", "use", "knowledge", "distil", "asian", "here"])
    ]
    segment = TranscriptSegment(id=0, start=0, end=6, text=" we use knowledge distil asian here", words=words)
    new = retime(segment, "We use knowledge distillation here.")
    assert [w.word.strip() for w in new] == ["We", "use", "knowledge", "distillation", "here."]
    assert (new[0].start, new[2].end, new[4].start) == (0, 2.8, 5)  # kept words keep their times
    assert (new[3].start, new[3].end) == (3, 4.8)  # the replacement spans what it replaced
    assert all(w.probability == 1.0 for w in new)


def test_apply_reviews_counts_the_recognisers_errors(real_pairs):
    transcript, _ = next(iter(real_pairs.values()))
    first, second = transcript.segments[:2]
    corrections = [
        Correction(first.start, first.end, first.text.strip()),
        Correction(second.start, second.end, "something else entirely"),
    ]
    corrected, summary = apply_reviews(transcript, corrections)
    assert (summary.reviewed_segments, summary.changed_segments, summary.unmatched) == (2, 1, 0)
    assert 0 < summary.word_error_rate <= 1
    assert corrected.segments[1].text.strip() == "something else entirely"
    assert corrected.segments[2:] == transcript.segments[2:]


def test_the_active_order_puts_a_misheard_paper_term_first():
    terms = TermMatcher(term_words(["knowledge distillation", "teacher model"]))
    misheard = segment_priority([("we", 0.9), ("use", 0.9), ("distilation", 0.4), ("here", 0.9)], terms)
    elsewhere = segment_priority([("we", 0.9), ("had", 0.9), ("lunches", 0.4), ("here", 0.9)], terms)
    confident = segment_priority([("the", 0.99), ("teacher", 0.99), ("model", 0.99)], terms)
    assert misheard.score > elsewhere.score > confident.score
    assert misheard.key_terms == ["distillation (heard “distilation”)"]
    assert confident.key_terms == ["teacher", "model"]


def test_terms_corrected_in_review_are_offered_as_vocabulary(store):
    first, second, _ = (e["id"] for e in store.list_entries(order="time")[0])
    store.save(first, "the first Kullback thing", version=1, reviewed=True)
    store.save(second, "second Kullback divergence here", version=1, reviewed=True)
    assert store.corrected_terms("pair-a") == ["kullback", "divergence"]
