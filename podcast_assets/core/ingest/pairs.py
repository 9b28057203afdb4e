"""Training pairs on disk: `<pairs_dir>/<pair_id>/` holding `paper.pdf`, one audio file, optional `pair.yaml`.

A pair id is also a Dagster partition key, a folder name and a path segment in artifact storage, so it
is restricted to `[a-z0-9._-]`, starts with a letter or digit and is at most 64 characters: it can
never escape a folder, never collide with a case or Unicode twin, and never exceed a key limit.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from podcast_assets.core.config import PdfSettings
from podcast_assets.core.errors import PairError
from podcast_assets.core.ingest.audio import AUDIO_EXTENSIONS, probe_audio
from podcast_assets.core.ingest.models import PairMeta
from podcast_assets.core.ingest.pdf import check_text_layer
from podcast_assets.core.storage import cache_key, sha256_file

PAIR_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
PAPER_NAME = "paper.pdf"
META_NAME = "pair.yaml"


def validate_pair_id(pair_id: str) -> str:
    """Return `pair_id` if it is a safe id, else raise PairError suggesting a safe one."""
    if PAIR_ID_RE.match(pair_id) and ".." not in pair_id:
        return pair_id
    suggestion = suggest_pair_id(pair_id)
    hint = f"use {suggestion!r}" if suggestion else "use lowercase letters, digits, '.', '_' and '-'"
    raise PairError(
        f"pair id {pair_id[:80]!r} is not allowed (ids are 1-64 characters of [a-z0-9._-], starting with a letter or digit)",
        fix=hint,
    )


def suggest_pair_id(text: str) -> str:
    """A safe id made from free text (a file stem, a title): ASCII-folded, lowercase, dashes for the rest."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9._-]+", "-", folded.lower())
    slug = re.sub(r"\.{2,}", ".", slug).strip("-._")[:64].strip("-._")
    return slug


@dataclass(frozen=True)
class PairDigest:
    """Content hashes of a pair's files, read once: what the caches key on, and the pair's manifest."""

    paper: str | None
    audio: str | None
    meta: str | None
    manifest: str
    """Hash of every file's name and content: changes exactly when the pair's inputs change."""


@dataclass(frozen=True)
class PairFiles:
    """The files of one training pair, as found on disk (not yet validated as PDF or audio)."""

    pair_id: str
    folder: Path
    paper: Path
    audio: Path | None
    meta_file: Path | None

    def digest(self) -> PairDigest:
        """Hash every file once (missing files hash to None)."""
        hashes = [sha256_file(p) if p and p.is_file() else None for p in (self.paper, self.audio, self.meta_file)]
        parts = [(p.name, h) for p, h in zip((self.paper, self.audio, self.meta_file), hashes) if p and h]
        return PairDigest(*hashes, manifest=cache_key(self.pair_id, parts)[:16])

    def manifest_hash(self) -> str:
        return self.digest().manifest

    def fingerprint(self) -> str:
        """Cheap change detector (names, sizes, mtimes) so unchanged pairs are not re-hashed every tick."""
        stats = []
        for p in (self.paper, self.audio, self.meta_file):
            try:
                st = p.stat() if p else None
            except FileNotFoundError:
                st = None
            if st is not None:
                stats.append((p.name, st.st_size, st.st_mtime_ns))
        return cache_key(stats)[:16]

    def require_paper(self) -> Path:
        if not self.paper.is_file():
            raise PairError(
                f"pair {self.pair_id!r} has no {PAPER_NAME}",
                path=self.paper,
                fix=f"put the paper's PDF at {self.paper}",
            )
        return self.paper

    def require_audio(self) -> Path:
        if self.audio is None:
            raise PairError(
                f"pair {self.pair_id!r} has no audio file (looked for {', '.join('*' + e for e in AUDIO_EXTENSIONS)})",
                path=self.folder,
                fix=f"put the podcast (e.g. podcast.mp3) in {self.folder}",
            )
        return self.audio

    def load_meta(self) -> PairMeta:
        """The pair's pair.yaml, or defaults when there is none."""
        if self.meta_file is None:
            return PairMeta()
        try:
            data = yaml.safe_load(self.meta_file.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise PairError(f"not valid YAML: {getattr(exc, 'problem', exc)}", path=self.meta_file, fix="fix the YAML syntax") from None
        if not isinstance(data, dict):
            raise PairError("must be a mapping of keys to values", path=self.meta_file, fix=_META_HELP)
        try:
            return PairMeta.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {'unknown key' if e['type'] == 'extra_forbidden' else e['msg']}"
                for e in exc.errors()
            )
            raise PairError(f"invalid pair settings: {problems}", path=self.meta_file, fix=_META_HELP) from None


_META_HELP = (
    f"allowed keys: {', '.join(PairMeta.model_fields)}; speaker_gender is one of female, male, mixed, unknown"
)


def find_audio(folder: Path) -> Path | None:
    """The pair's audio file. Several candidates are an error: which one is the podcast would be a guess."""
    found = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
    if len(found) > 1:
        raise PairError(
            f"several audio files ({', '.join(p.name for p in found)})",
            path=folder,
            fix="keep exactly one audio file per pair folder",
        )
    return found[0] if found else None


def pair_files(pairs_dir: Path, pair_id: str) -> PairFiles:
    """The files of pair `pair_id` (which must be a safe id)."""
    folder = pairs_dir / validate_pair_id(pair_id)
    if not folder.is_dir():
        raise PairError(f"pair {pair_id!r} has no folder", path=folder, fix="add the pair with `podcast-assets pairs add`")
    meta = folder / META_NAME
    return PairFiles(pair_id, folder, folder / PAPER_NAME, find_audio(folder), meta if meta.is_file() else None)


@dataclass(frozen=True)
class Discovery:
    pairs: dict[str, PairFiles]
    problems: list[str]


def discover_pairs(pairs_dir: Path) -> Discovery:
    """Every pair folder under `pairs_dir`. Folders that cannot be pairs are reported, not fatal."""
    pairs: dict[str, PairFiles] = {}
    problems: list[str] = []
    if not pairs_dir.is_dir():
        return Discovery(pairs, [f"{pairs_dir}: pairs folder does not exist"])
    for folder in sorted(pairs_dir.iterdir()):
        if not folder.is_dir() or folder.name.startswith("."):
            continue
        try:
            pairs[folder.name] = pair_files(pairs_dir, folder.name)
        except PairError as exc:
            problems.append(f"{folder}: skipped, {exc}")
    return Discovery(pairs, problems)


def add_pair(
    pairs_dir: Path,
    *,
    pdf: Path,
    audio: Path,
    pair_id: str | None = None,
    meta: PairMeta | None = None,
    replace: bool = False,
) -> PairFiles:
    """Copy a paper and its podcast into `<pairs_dir>/<pair_id>/`. The folder appears whole or not at all."""
    pair_id = validate_pair_id(pair_id if pair_id is not None else suggest_pair_id(pdf.stem))
    for src, what in ((pdf, "paper"), (audio, "audio")):
        if not src.is_file():
            raise PairError(f"{what} file not found", path=src, fix="check the path")
    if audio.suffix.lower() not in AUDIO_EXTENSIONS:
        raise PairError(
            f"unsupported audio extension {audio.suffix!r}",
            path=audio,
            fix=f"convert it to one of {', '.join(AUDIO_EXTENSIONS)}",
        )
    target = pairs_dir / pair_id
    if target.exists() and not replace:
        raise PairError(f"pair {pair_id!r} already exists", path=target, fix="choose another --id, or pass --replace")
    pairs_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=pairs_dir, prefix=f".{pair_id}."))
    try:
        shutil.copyfile(pdf, staging / PAPER_NAME)
        shutil.copyfile(audio, staging / f"podcast{audio.suffix.lower()}")
        if meta is not None:
            (staging / META_NAME).write_text(
                yaml.safe_dump(meta.model_dump(exclude_none=True), sort_keys=False), encoding="utf-8"
            )
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return pair_files(pairs_dir, pair_id)


def check_inputs(pdf: Path, audio: Path, *, paper: PdfSettings, max_audio_seconds: float) -> None:
    """The cheap checks ingest runs first (a real PDF with pages, no password and a text layer; decodable
    audio within the length limit), so a bad file is refused before it is copied or registered."""
    check_text_layer(
        pdf,
        max_pages=paper.max_pages,
        timeout_s=paper.timeout_seconds,
        min_chars_per_page=paper.min_chars_per_page,
    )
    probe_audio(audio, max_seconds=max_audio_seconds)


def remove_pair(pairs_dir: Path, pair_id: str) -> None:
    folder = pairs_dir / validate_pair_id(pair_id)
    if not folder.is_dir():
        raise PairError(f"pair {pair_id!r} does not exist", path=folder, fix="see `podcast-assets pairs list`")
    shutil.rmtree(folder)
