from __future__ import annotations

from pathlib import Path

import pytest

from podcast_assets.core.config import PipelineConfig, load_config, parse_config
from podcast_assets.core.errors import ConfigError
from tests.conftest import PROJECT_ROOT


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "configs").mkdir()
    path = tmp_path / "configs" / "pipeline.yaml"
    path.write_text(text)
    return path


SEED_LOSS_WEIGHTS = {"duration": 0.25, "coverage": 0.25, "structure": 0.20, "quality": 0.20, "rouge": 0.10}
SEED_DEPTH_MINUTES = {"overview": (3, 5), "standard": (10, 15), "deep_dive": (20, 30), "comprehensive": (45, None)}


@pytest.mark.parametrize("source", ["shipped file", "code defaults"])
def test_the_seeds_loss_weights_and_depth_ranges(source):
    config = load_config(PROJECT_ROOT / "configs" / "pipeline.yaml") if source == "shipped file" else PipelineConfig()
    assert config.loss_weights.model_dump() == {**SEED_LOSS_WEIGHTS, "semantic": 0.0}, "the option is off"
    assert {n: (d.min_minutes, d.max_minutes) for n, d in config.depth_targets.items()} == SEED_DEPTH_MINUTES
    assert [d.target_minutes for d in config.depth_targets.values()] == [4, 12.5, 25, 45]


def test_a_depth_range_must_be_ordered(tmp_path):
    path = write(tmp_path, "depth_targets: {overview: {min_minutes: 5, max_minutes: 3, key_concepts: 5}}\n")
    with pytest.raises(ConfigError, match=r"depth_targets\.overview.*below min_minutes"):
        load_config(path)


def test_the_shipped_config_loads_and_matches_the_defaults():
    config = load_config(PROJECT_ROOT / "configs" / "pipeline.yaml")
    assert config.pairs_dir == PROJECT_ROOT / "examples" / "pairs"
    assert config.storage.root == PROJECT_ROOT / ".artifacts"
    assert config.review.db == PROJECT_ROOT / ".artifacts" / "review" / "review.sqlite"
    shipped = config.model_dump(exclude={"pairs_dir", "storage", "source"})
    assert shipped == PipelineConfig().resolved(PROJECT_ROOT).model_dump(exclude={"pairs_dir", "storage", "source"})


def test_relative_paths_resolve_against_the_project_root_not_the_cwd(tmp_path, monkeypatch):
    path = write(tmp_path, "pairs_dir: data/pairs\nstorage: {root: out}\n")
    monkeypatch.chdir("/")
    config = load_config(path)
    assert config.pairs_dir == tmp_path.resolve() / "data" / "pairs"
    assert config.storage.root == tmp_path.resolve() / "out"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("asr: {provider: whispr}", ["asr.provider", "'local' or 'openai'", "whispr"]),
        ("asr: {modle: tiny.en}", ["asr.modle", "unknown key", "allowed here", "model"]),
        ("pairz_dir: x", ["pairz_dir", "unknown key", "pairs_dir"]),
        ("loss_weights: {duration: -1}", ["loss_weights.duration", "greater than or equal to 0"]),
        ("loss_weights: {duration: 0, coverage: 0, structure: 0, quality: 0, rouge: 0}", ["at least one loss weight"]),
        ("llm: {provider: openai}", ["llm", "needs a model name"]),
        ("llm: {provider: openai_compatible, model: llama3}", ["needs base_url"]),
        ("depth_targets: {huge: {minutes: 1, key_concepts: 1}}", ["depth_targets.huge", "overview"]),
        ("version: 2", ["version", "1"]),
        ("- a list", ["top level must be a mapping"]),
        ("asr: {provider: [unclosed", ["not valid YAML", "line 1"]),
    ],
)
def test_a_bad_key_or_value_names_the_file_the_key_and_what_is_allowed(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert str(path) in message
    for fragment in expected:
        assert fragment in message


def test_a_secret_in_the_file_is_refused_without_echoing_it(tmp_path):
    path = write(tmp_path, "llm: {provider: openai, model: gpt-4o-mini, api_key: sk-canary-123}")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "environment variable" in str(err.value)
    assert "sk-canary-123" not in str(err.value)


def test_parse_config_accepts_an_empty_file(tmp_path):
    config = parse_config(None, tmp_path / "configs" / "pipeline.yaml")
    assert config.asr.provider == "local"
    assert config.pairs_dir == tmp_path.resolve() / "examples" / "pairs"
