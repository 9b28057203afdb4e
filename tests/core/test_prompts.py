"""Prompt versions: the repository's seed files parse, refined versions are written once with their lineage,
equal content is one version, and export writes files that parse again."""

import pytest

from podcast_assets.core.errors import TrainingError
from podcast_assets.core.storage import LocalArtifactStore
from podcast_assets.core.training.prompts import TASKS, PromptLibrary, parse_version
from podcast_assets.resources.training import PROMPTS_DIR


@pytest.fixture
def library(tmp_path):
    return PromptLibrary(PROMPTS_DIR, LocalArtifactStore(tmp_path / "store"))


def test_every_task_has_a_seed_version_that_parses(library):
    for task in TASKS:
        version = library.get(task, 1)
        assert version.ref == f"{task}/v1" and version.parent is None
        assert (version.settings is not None) == (task == "script_writer")
        assert parse_version(version.render(), f"{task}/v1.md") == version


def test_a_refined_version_is_written_once_with_its_lineage(library):
    seed = library.get("script_writer", 1)
    faster = seed.settings.model_copy(update={"words_per_minute": 170.0})
    v2 = library.add("script_writer", parent=1, reason="move:pace", body=seed.body, settings=faster, losses={"total": 0.5})
    assert v2.version == max(library.numbers("script_writer")) and v2.parent == 1
    assert library.get("script_writer", v2.version).settings.words_per_minute == 170.0
    again = library.add("script_writer", parent=1, reason="another reason", body=seed.body, settings=faster, losses={})
    assert again.version == v2.version, "equal content is the same version"
    assert [v.version for v in library.lineage("script_writer", v2.version)] == [v2.version, 1]
    stored = library.store.path(f"prompts/script_writer/v{v2.version}.md")
    with pytest.raises(Exception, match="never overwritten"):
        library.store.write_bytes(f"prompts/script_writer/v{v2.version}.md", b"edited", replace=False)
    assert stored.read_text().startswith("---\n")


def test_export_writes_the_chosen_set_as_files_that_parse(library, tmp_path):
    seed = library.get("script_writer", 1)
    v2 = library.add("script_writer", parent=1, reason="r", body=seed.body,
                     settings=seed.settings.model_copy(update={"phrase_use": 0.9}), losses={})  # fmt: skip
    written = library.export(tmp_path / "out", {"script_writer": v2.version, "refiner": 1})
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in written) == sorted(
        [f"script_writer/v{v2.version}.md", "refiner/v1.md"]
    )
    assert parse_version(written[0].read_text(), written[0]).settings.phrase_use == 0.9


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no front matter", "no YAML front matter"),
        ("---\ntask: refiner\nversion: 1\n---\nbody", "reason"),
        ("---\ntask: [oops\n---\nbody", "malformed"),
        ("---\ntask: refiner\nversion: 1\nreason: r\nsettings: {words_per_minute: 150}\n---\nbody", "settings belong"),
        ("---\ntask: script_writer\nversion: 2\nreason: r\nsettings: {}\n---\nbody", "the file is script_writer/v1.md"),
    ],
)
def test_a_malformed_version_names_the_file_and_the_fix(text, message):
    with pytest.raises(TrainingError, match=message) as error:
        parse_version(text, "prompts/script_writer/v1.md" if "script_writer" in text else "prompts/refiner/v1.md")
    assert "prompts/" in str(error.value) and "Fix:" in str(error.value)
