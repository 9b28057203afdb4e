from __future__ import annotations

from pathlib import Path

import pytest

from podcast_assets.core.errors import PairError
from podcast_assets.core.ingest.models import PairMeta
from podcast_assets.core.ingest.pairs import (
    add_pair,
    discover_pairs,
    pair_files,
    remove_pair,
    suggest_pair_id,
    validate_pair_id,
)


def make_pair(root: Path, pair_id: str, audio: str | None = "podcast.mp3", meta: str | None = None) -> Path:
    folder = root / pair_id
    folder.mkdir(parents=True)
    (folder / "paper.pdf").write_bytes(b"%PDF-1.7 paper of " + pair_id.encode())
    if audio:
        (folder / audio).write_bytes(b"audio of " + pair_id.encode())
    if meta is not None:
        (folder / "pair.yaml").write_text(meta)
    return folder


@pytest.mark.parametrize("good", ["wheat", "kd-survey.v2", "a_b-c.1", "x" * 64, "0pair"])
def test_safe_ids_are_accepted(good):
    assert validate_pair_id(good) == good


@pytest.mark.parametrize(
    "bad",
    ["../x", "/abs", "a/b", "x" * 65, "x" * 600, "", "a\x00b", "Wheat", "café", "cafe\u0301", "my pair", ".hidden", "-x", "a..b"],
)
def test_unsafe_ids_are_rejected_with_a_suggestion(bad, tmp_path):
    with pytest.raises(PairError) as err:
        validate_pair_id(bad)
    assert "not allowed" in str(err.value) and "Fix:" in str(err.value)
    suggestion = suggest_pair_id(bad)
    if suggestion:
        assert f"use {suggestion!r}" in err.value.fix and validate_pair_id(suggestion) == suggestion
    else:
        assert "lowercase letters, digits" in err.value.fix


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    "bad", ["../x", "../../x", "/abs", "a/b", "x" * 600, "", "a\x00b", "Wheat", "cafe\u0301", ".hidden"]
)
def test_unsafe_ids_touch_nothing_in_or_beside_the_pairs_folder(bad, tmp_path):
    """Catalogue 12 where ids meet the disk: adding, reading or removing a pair by an unsafe id is refused
    before any file is made, read or deleted, inside the pairs folder or outside it."""
    src = make_pair(tmp_path / "src", "orig")
    pairs_dir = tmp_path / "world" / "pairs"
    make_pair(pairs_dir, "x")  # what "../x", "../../x" or a twin would hit if the id were used as a path
    make_pair(tmp_path / "world", "x")
    make_pair(tmp_path, "x")
    before = _tree(tmp_path)
    with pytest.raises(PairError, match="not allowed"):
        add_pair(pairs_dir, pdf=src / "paper.pdf", audio=src / "podcast.mp3", pair_id=bad, replace=True)
    with pytest.raises(PairError, match="not allowed"):
        pair_files(pairs_dir, bad)
    with pytest.raises(PairError, match="not allowed"):
        remove_pair(pairs_dir, bad)
    assert _tree(tmp_path) == before
    assert sorted(p.name for p in pairs_dir.iterdir()) == ["x"], "no staging folder left behind"


def test_suggested_ids_are_valid_and_fold_unicode_and_case_twins_together():
    assert suggest_pair_id("Café Paper (2024)") == "cafe-paper-2024"
    assert suggest_pair_id("cafe\u0301 paper (2024)") == suggest_pair_id("café Paper (2024)")
    assert suggest_pair_id("../../etc/passwd") == "etc-passwd"
    for text in ["My Paper.final", "x" * 600, "a..b"]:
        validate_pair_id(suggest_pair_id(text))


def test_discovery_reports_unusable_folders_and_keeps_the_rest(tmp_path):
    make_pair(tmp_path, "good")
    make_pair(tmp_path, "My Pair")
    make_pair(tmp_path, "two-audios", audio="a.mp3")
    (tmp_path / "two-audios" / "b.wav").write_bytes(b"x")
    make_pair(tmp_path, "no-audio", audio=None)
    (tmp_path / ".staging").mkdir()
    found = discover_pairs(tmp_path)
    assert sorted(found.pairs) == ["good", "no-audio"]
    assert len(found.problems) == 2
    assert any("My Pair" in p and "not allowed" in p for p in found.problems)
    assert any("two-audios" in p and "several audio files" in p for p in found.problems)


def test_missing_files_give_errors_naming_the_file_and_the_fix(tmp_path):
    make_pair(tmp_path, "no-audio", audio=None)
    files = pair_files(tmp_path, "no-audio")
    with pytest.raises(PairError) as err:
        files.require_audio()
    assert str(tmp_path / "no-audio") in str(err.value) and "podcast.mp3" in str(err.value)
    (tmp_path / "no-audio" / "paper.pdf").unlink()
    with pytest.raises(PairError) as err:
        files.require_paper()
    assert "paper.pdf" in str(err.value)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("speaker_gender: robot", "speaker_gender"),
        ("speakr_gender: male", "unknown key"),
        ("language: English", "language"),
        ("[unclosed", "not valid YAML"),
        ("- a\n- b", "mapping"),
    ],
)
def test_a_malformed_pair_yaml_names_the_file(tmp_path, text, fragment):
    make_pair(tmp_path, "p", meta=text)
    with pytest.raises(PairError) as err:
        pair_files(tmp_path, "p").load_meta()
    assert str(tmp_path / "p" / "pair.yaml") in str(err.value) and fragment in str(err.value)


def test_pair_yaml_is_optional_and_read_when_present(tmp_path):
    make_pair(tmp_path, "plain")
    make_pair(tmp_path, "meta", meta="speaker_gender: female\nsource: somewhere\nspeakers: 2\n")
    assert pair_files(tmp_path, "plain").load_meta() == PairMeta()
    assert pair_files(tmp_path, "meta").load_meta().speakers == 2


def test_manifest_hash_follows_content_not_timestamps(tmp_path):
    folder = make_pair(tmp_path, "p")
    before = pair_files(tmp_path, "p").manifest_hash()
    (folder / "paper.pdf").touch()
    assert pair_files(tmp_path, "p").manifest_hash() == before
    (folder / "podcast.mp3").write_bytes(b"new audio")
    assert pair_files(tmp_path, "p").manifest_hash() != before


def test_add_pair_copies_atomically_and_refuses_to_overwrite(tmp_path):
    src = make_pair(tmp_path / "src", "orig", audio="Episode.MP3")
    pairs_dir = tmp_path / "pairs"
    files = add_pair(pairs_dir, pdf=src / "paper.pdf", audio=src / "Episode.MP3", meta=PairMeta(speaker_gender="male"))
    assert files.pair_id == "paper"
    assert sorted(p.name for p in files.folder.iterdir()) == ["pair.yaml", "paper.pdf", "podcast.mp3"]
    assert files.load_meta().speaker_gender == "male"
    with pytest.raises(PairError, match="already exists"):
        add_pair(pairs_dir, pdf=src / "paper.pdf", audio=src / "Episode.MP3")
    add_pair(pairs_dir, pdf=src / "paper.pdf", audio=src / "Episode.MP3", replace=True)
    with pytest.raises(PairError, match="not allowed"):
        add_pair(pairs_dir, pdf=src / "paper.pdf", audio=src / "Episode.MP3", pair_id="../evil")
    assert sorted(p.name for p in pairs_dir.iterdir()) == ["paper"]
    assert not (tmp_path / "evil").exists()
    remove_pair(pairs_dir, "paper")
    assert list(pairs_dir.iterdir()) == []


def test_add_pair_rejects_unknown_audio_types_and_missing_files(tmp_path):
    src = make_pair(tmp_path / "src", "orig", audio="talk.txt")
    with pytest.raises(PairError, match="unsupported audio"):
        add_pair(tmp_path / "pairs", pdf=src / "paper.pdf", audio=src / "talk.txt")
    with pytest.raises(PairError, match="not found"):
        add_pair(tmp_path / "pairs", pdf=src / "missing.pdf", audio=src / "talk.txt")
