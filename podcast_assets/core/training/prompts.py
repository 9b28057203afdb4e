"""Prompt versions: a frozen template body plus, for the script writer, the numeric generation settings.

One version is one file, `<task>/v<N>.md`: YAML front matter between `---` lines, then the template body.

    ---
    task: script_writer
    version: 2
    parent: 1
    reason: why it was made (the refiner's decision)
    losses: {total: 0.41, coverage: 0.52}     # the parent trial's losses that led to it
    settings: {words_per_minute: 160, ...}    # script_writer only: what the offline writer obeys
    ---
    You are writing a podcast script ... $paper ...

The seed versions (v1) ship in the repository's `prompts/`; refined versions are written once into the
artifact store (`prompts/<task>/v<N>.md` under its root), numbered after every version either place holds,
and never edited. A refined version identical to an existing one is that version, not a new number.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import yaml
from pydantic import Field, ValidationError

from podcast_assets.core.errors import TrainingError
from podcast_assets.core.llm import PromptTemplate
from podcast_assets.core.records import Record
from podcast_assets.core.storage import LocalArtifactStore, sha256_bytes
from podcast_assets.core.training.models import GenerationSettings

TASKS = ("script_writer", "coverage_judge", "quality_judge", "refiner")
REFINED = "script_writer"  # the only task refinement changes: the judges and the refiner are the ruler
STORE_PREFIX = "prompts"
_FILE = re.compile(r"v([1-9][0-9]*)\.md")
_FRONT = re.compile(r"\A---\n(.*?)\n---\n?(.*)\Z", re.DOTALL)


class PromptVersion(Record):
    task: str
    version: int = Field(ge=1)
    parent: int | None = None
    reason: str
    losses: dict[str, float] = Field(default_factory=dict)
    settings: GenerationSettings | None = None
    body: str = Field(min_length=1)

    @property
    def ref(self) -> str:
        return f"{self.task}/v{self.version}"

    def render(self) -> str:
        """The file text: front matter then body (the inverse of parse_version)."""
        front = self.model_dump(mode="json", exclude={"body"}, exclude_none=True)
        return "---\n" + yaml.safe_dump(front, sort_keys=False, width=100) + "---\n" + self.body

    @property
    def sha256(self) -> str:
        return sha256_bytes(self.render().encode())

    def content_sha256(self) -> str:
        """Hash of what generation depends on (body and settings), not the lineage: equal content is one version."""
        settings = self.settings.model_dump_json() if self.settings else ""
        return sha256_bytes(f"{self.task}\n{settings}\n{self.body}".encode())

    def template(self) -> PromptTemplate:
        return PromptTemplate(task=self.task, version=self.version, text=self.body, sha256=self.sha256)


def parse_version(text: str, path: str | Path) -> PromptVersion:
    """Read one version file; a malformed one is refused naming the file and the fix."""
    match = _FRONT.match(text.replace("\r\n", "\n"))
    if not match:
        raise TrainingError(
            "prompt version has no YAML front matter",
            path=path,
            fix="start the file with '---', the fields task, version, reason (and settings for "
            "script_writer), then '---' and the template body",
        )
    try:
        front = yaml.safe_load(match.group(1)) or {}
        if not isinstance(front, dict):
            raise TypeError("front matter is not a mapping")
        version = PromptVersion.model_validate({**front, "body": match.group(2)})
    except (yaml.YAMLError, TypeError, ValidationError) as exc:
        raise TrainingError(f"malformed prompt version: {exc}", path=path,
                            fix="correct the front matter (see prompts/README.md)") from exc  # fmt: skip
    expected = _FILE.fullmatch(Path(path).name)
    if expected and (int(expected.group(1)) != version.version or Path(path).parent.name != version.task):
        raise TrainingError(
            f"front matter says {version.ref} but the file is {Path(path).parent.name}/{Path(path).name}",
            path=path,
            fix="name the file prompts/<task>/v<version>.md after its front matter",
        )
    if (version.task == REFINED) != (version.settings is not None):
        raise TrainingError(
            f"{version.ref}: settings belong to script_writer versions and only to them",
            path=path,
            fix="add (script_writer) or remove (other tasks) the settings block",
        )
    return version


class PromptLibrary:
    """Every version of every task: the repository's seed files and the refined ones in the artifact store."""

    def __init__(self, prompts_dir: str | Path, store: LocalArtifactStore):
        self.prompts_dir = Path(prompts_dir)
        self.store = store

    def _files(self, task: str) -> dict[int, Path]:
        found: dict[int, Path] = {}
        folder = self.prompts_dir / task
        for path in folder.iterdir() if folder.is_dir() else ():
            if m := _FILE.fullmatch(path.name):
                found.setdefault(int(m.group(1)), path)
        for rel in self.store.list(f"{STORE_PREFIX}/{task}"):
            if (m := _FILE.fullmatch(rel.rsplit("/", 1)[1])) and int(m.group(1)) not in found:
                found[int(m.group(1))] = self.store.local(rel)
        return found

    def numbers(self, task: str) -> list[int]:
        return sorted(self._files(task))

    def get(self, task: str, version: int | None = None) -> PromptVersion:
        """Version `version` of `task` (the highest when None)."""
        files = self._files(task)
        if not files:
            raise TrainingError(
                f"no prompt version for task {task!r}",
                path=self.prompts_dir / task,
                fix=f"restore {self.prompts_dir / task / 'v1.md'} from the repository",
            )
        number = max(files) if version is None else version
        if number not in files:
            raise TrainingError(
                f"no version {number} of prompt {task!r}",
                path=self.prompts_dir / task,
                fix=f"use one of: {', '.join(f'v{n}' for n in sorted(files))}",
            )
        path = files[number]
        return parse_version(path.read_text(encoding="utf-8"), path)

    def add(
        self,
        task: str,
        *,
        parent: int,
        reason: str,
        body: str,
        settings: GenerationSettings | None,
        losses: Mapping[str, float],
    ) -> PromptVersion:
        """Write a refined version once; content equal to an existing version returns that version."""
        candidate = PromptVersion(
            task=task,
            version=1,
            parent=parent,
            reason=reason,
            losses=dict(losses),
            settings=settings,
            body=body,
        )
        for number in self.numbers(task):
            existing = self.get(task, number)
            if existing.content_sha256() == candidate.content_sha256():
                return existing
        version = candidate.model_copy(update={"version": max(self.numbers(task), default=0) + 1})
        self.store.write_bytes(
            f"{STORE_PREFIX}/{task}/v{version.version}.md", version.render().encode(), replace=False
        )
        return version

    def lineage(self, task: str, version: int) -> list[PromptVersion]:
        """The version and its ancestors, newest first."""
        chain = [self.get(task, version)]
        while chain[-1].parent is not None:
            chain.append(self.get(task, chain[-1].parent))
        return chain

    def export(self, out_dir: str | Path, versions: Mapping[str, int]) -> list[Path]:
        """Write the chosen version of each task as `<out_dir>/<task>/v<N>.md` (files a repository can hold)."""
        written = []
        for task, number in versions.items():
            target = Path(out_dir) / task / f"v{number}.md"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(self.get(task, number).render(), encoding="utf-8")
            written.append(target)
        return written
