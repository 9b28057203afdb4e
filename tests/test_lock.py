"""The lock (requirements/*.txt) decides what is installed: the environment running these tests holds exactly
the locked packages of the sets it installed, at their locked versions, and the lock agrees with the ranges
pyproject.toml declares. `bash requirements/refresh` remakes the lock."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import PROJECT_ROOT

LOCKS = PROJECT_ROOT / "requirements"
PROJECT = "podcast-assets"
NOT_FROZEN = {"pip", "setuptools", "wheel", "distribute"}
"""What `pip freeze` leaves out, so the lock does too."""


def locked(name: str) -> dict[str, str]:
    """{canonical name: version} of one lock file."""
    pins = {}
    for line in (LOCKS / f"{name}.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            package, version = line.split("==")
            pins[canonicalize_name(package)] = version
    return pins


def installed() -> dict[str, str]:
    found = {canonicalize_name(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}
    return {k: v for k, v in found.items() if k not in NOT_FROZEN and k != PROJECT}


def pyproject() -> dict:
    return tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]


def test_the_environment_is_the_lock():
    """main.txt always; test.txt (these tests run); finetune.txt where its torch is installed (as in CI)."""
    have = installed()
    sets = ["main", "test"] + (["finetune"] if "torch" in have else [])
    want: dict[str, str] = {}
    for name in sets:
        want |= locked(name)
    drift = {k: (want[k], have[k]) for k in want.keys() & have.keys() if want[k] != have[k]}
    missing = sorted(want.keys() - have.keys())
    unlocked = sorted(f"{k}=={have[k]}" for k in have.keys() - want.keys())
    fix = "reinstall from the lock (the README's commands), or remake it with `bash requirements/refresh`"
    assert not drift, f"installed versions differ from the lock {sets} ({{name: (locked, installed)}}): {drift}; {fix}"
    assert not missing, f"locked but not installed: {missing}; {fix}"
    assert not unlocked, f"installed but in no lock of {sets}: {unlocked}; {fix}"


def test_the_lock_files_agree_on_every_version():
    main, test, finetune = locked("main"), locked("test"), locked("finetune")
    for other in (test, finetune):
        assert main.items() <= other.items(), "test.txt and finetune.txt hold main.txt, pin for pin"
    assert all(test[k] == finetune[k] for k in test.keys() & finetune.keys())


@pytest.mark.parametrize("extra", [None, "test", "finetune"])
def test_every_declared_dependency_is_locked_within_its_range(extra):
    """Each requirement pyproject.toml declares (for the project, or one extra) is in that set's lock, at a
    version its range admits: the ranges are the ones the lock was resolved under."""
    meta = pyproject()
    declared = meta["dependencies"] if extra is None else meta["optional-dependencies"][extra]
    pins = locked(extra or "main")
    for text in declared:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{text} is declared but not locked in requirements/{extra or 'main'}.txt"
        version = re.sub(r"\+.*$", "", pins[name])  # a local build (torch 2.13.0+cpu) is its release
        assert requirement.specifier.contains(version, prereleases=True), (text, pins[name])
