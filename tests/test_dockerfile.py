"""The ECS image's Python environment, built from the Dockerfile's own commands without Docker (no registry
for base images is reachable here): the files it copies, its RUN lines run in a fresh virtualenv on this
machine's Python 3.11 (its base image's), then the code location loads and the bundled Whisper and Piper
weights load with the hub offline, as in a task with no download at run time."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys

import pytest

from tests.conftest import PROJECT_ROOT

DOCKERFILE = PROJECT_ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines, joined = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        joined += line[:-1] + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            lines.append(joined)
            joined = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_the_dockerfile_copies_what_exists_and_starts_the_code_location():
    found = instructions()
    assert ("FROM", f"python:{sys.version_info.major}.{sys.version_info.minor}-slim") in found
    for kind, args in found:
        if kind == "COPY":
            for source in shlex.split(args)[:-1]:
                assert (PROJECT_ROOT / source).exists(), source
    cmd = next(args for kind, args in found if kind == "CMD")
    assert "podcast_assets.definitions" in cmd and '"grpc"' in cmd


@pytest.mark.slow
def test_the_image_environment_installs_and_runs_offline(tmp_path):
    if sys.version_info[:2] != (3, 11):
        pytest.skip("the image runs Python 3.11")
    work, venv, home = tmp_path / "app", tmp_path / "venv", tmp_path / "home"
    work.mkdir()
    env = {**os.environ}
    for key in ("VIRTUAL_ENV", "PYTHONPATH", "DAGSTER_HOME"):
        env.pop(key, None)
    for kind, args in instructions():
        if kind == "ENV":
            for pair in shlex.split(args):
                key, value = pair.split("=", 1)
                env[key] = value.replace("/opt/dagster/home", str(home)).replace("/opt/podcast-assets", str(work))
        elif kind == "COPY":
            *sources, target = shlex.split(args)
            for source in sources:  # Docker's rules: a folder's contents go to the target; files into a folder
                src = PROJECT_ROOT / source
                if src.is_dir():
                    shutil.copytree(src, work / target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
                else:
                    shutil.copy2(src, work / target / src.name if target.endswith("/") else work / target)
        elif kind == "RUN":
            # the same commands, on this machine's paths; pip may use its wheel cache here (--no-cache-dir only
            # keeps the image small)
            command = args.replace("/opt/venv", str(venv)).replace("--no-cache-dir ", "")
            command = command.replace("python -m venv", f"{shlex.quote(sys.executable)} -m venv", 1)
            done = subprocess.run(["bash", "-c", command], cwd=work, env=env, capture_output=True, text=True,
                                  timeout=1200, check=False)  # fmt: skip
            assert done.returncode == 0, f"RUN {args}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    env["HF_HUB_OFFLINE"] = "1"
    check = (
        "import dagster as dg\n"
        "from podcast_assets.definitions import defs, build_resources\n"
        "from podcast_assets.core.config import load_config\n"
        "resources = build_resources(load_config(None))\n"
        "resources['asr'].load(); resources['tts'].load()\n"
        "print('assets', len(list(defs.resolve_all_asset_keys())))\n"
    )
    out = subprocess.run([str(venv / "bin" / "python"), "-c", check], cwd=work, env=env, capture_output=True,
                         text=True, timeout=600, check=False)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    from podcast_assets.definitions import defs

    assert f"assets {len(list(defs.resolve_all_asset_keys()))}" in out.stdout, out.stdout  # the same code location
    assert (home / "dagster.yaml").read_text() == (PROJECT_ROOT / "configs/dagster/aws/dagster.yaml").read_text()
