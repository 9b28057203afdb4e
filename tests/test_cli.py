"""End to end through the command line, with a temporary DAGSTER_HOME and project."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from podcast_assets.core.video.probe import probe
from tests.conftest import EXAMPLE_PAIRS, PROJECT_ROOT, scanned_pdf
from tests.dagster_helpers import seeded_artifacts

BIN = Path(sys.executable).parent
EXAMPLE = EXAMPLE_PAIRS / "wheat-climate-risk-podcastfy"


def registered_partitions(home: Path) -> list[str]:
    """The training_pairs partitions in the instance at `home` ([] when no instance was ever made there)."""
    import dagster as dg

    if not (home / "history").exists():
        return []
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return instance.get_dynamic_partitions("training_pairs")


@pytest.fixture
def project(tmp_path, ingested):
    """A project folder of its own (configs, pairs, artifacts seeded with the session's caches, DAGSTER_HOME)."""
    session_config, _ = ingested
    (tmp_path / "configs" / "dagster").mkdir(parents=True)
    shutil.copyfile(
        PROJECT_ROOT / "configs" / "dagster" / "dagster.yaml",
        tmp_path / "configs" / "dagster" / "dagster.yaml",
    )
    artifacts = seeded_artifacts(tmp_path / "artifacts", session_config.storage.root)
    config = tmp_path / "configs" / "pipeline.yaml"
    config.write_text(
        f"pairs_dir: pairs\nstorage: {{root: {artifacts}}}\n"
        "video: {width: 320, height: 180, fps: 10, preset: ultrafast}\n"
    )
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home"), "PODCAST_ASSETS_CONFIG": str(config)}
    (tmp_path / "home").mkdir()

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        out = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        if check and out.returncode != 0:
            raise AssertionError(f"{args} exited {out.returncode}\n{out.stdout}\n{out.stderr}")
        return out

    return tmp_path, run


def test_add_a_pair_then_materialize_it_with_the_dagster_cli_then_train_and_remove(project):
    root, run = project
    added = run(
        str(BIN / "podcast-assets"),
        "pairs",
        "add",
        "--pdf",
        str(EXAMPLE / "paper.pdf"),
        "--audio",
        str(EXAMPLE / "podcast.mp3"),
        "--id",
        "wheat",
        "--speaker-gender",
        "mixed",
        "--source",
        "podcastfy",
    )
    assert "registered partition 'wheat'" in added.stdout
    installed = (root / "home" / "dagster.yaml").read_text()
    assert "default_limit: 1" in installed and "nux:" in installed, "instance settings were installed"
    assert (root / "pairs" / "wheat" / "podcast.mp3").is_file()
    assert "speaker_gender: mixed" in (root / "pairs" / "wheat" / "pair.yaml").read_text()

    materialized = run(
        str(BIN / "dagster"),
        "asset",
        "materialize",
        "-m",
        "podcast_assets.definitions",
        "--select",
        "transcriptions",
        "--partition",
        "wheat",
    )
    assert "RUN_SUCCESS" in materialized.stdout + materialized.stderr

    listed = run(str(BIN / "podcast-assets"), "pairs", "list")
    assert "wheat" in listed.stdout

    trained = run(str(BIN / "podcast-assets"), "train", "--max-trials", "1")
    assert "[1/1] wheat: ok" in trained.stdout
    assert "aggregated profile v" in trained.stdout and "profiles/current.json" in trained.stdout
    assert (
        "trial t001: script_writer v1" in trained.stdout
        and "training stopped: reached max_trials=1" in trained.stdout
    )
    assert "wheat: sync score reference" in trained.stdout and "t001" in trained.stdout.split("sync score")[1]

    video = run(str(BIN / "podcast-assets"), "video", "wheat", "--trial", "best", "--out", "wheat.mp4")
    assert "rendering 1" in video.stdout and "(100%)" in video.stdout, "progress while rendering"
    media = probe(root / "wheat.mp4")
    assert abs(media.video_seconds - media.audio_seconds) <= 0.1 and (media.width, media.height) == (320, 180)
    assert "captions (" in video.stdout and (root / "wheat.vtt").read_text().startswith("WEBVTT")
    assert " --> " in (root / "wheat.srt").read_text()
    again = run(str(BIN / "podcast-assets"), "video", "wheat", "--trial", "best")
    assert "already rendered from the same inputs" in again.stdout
    missing = run(str(BIN / "podcast-assets"), "video", "wheat", "--trial", "t009", check=False)
    assert missing.returncode == 1 and "trial t009 has no generated podcast" in missing.stderr

    shown = run(str(BIN / "podcast-assets"), "profile", "show").stdout
    assert "intro" in shown or "background" in shown
    structure = run(str(BIN / "podcast-assets"), "profile", "structure", "--pair", "wheat").stdout
    assert "## wheat" in structure and "segment_sequence" in structure
    assert "questions_per_minute" in run(str(BIN / "podcast-assets"), "profile", "style").stdout

    run(
        str(BIN / "podcast-assets"),
        "pairs",
        "add",
        "--pdf",
        str(EXAMPLE / "paper.pdf"),
        "--audio",
        str(EXAMPLE / "podcast.mp3"),
        "--id",
        "twin",
    )
    assert (
        "aggregated profile v2 from 2 pair(s)"
        in run(str(BIN / "podcast-assets"), "train", "--no-trials").stdout
    )
    removed = run(str(BIN / "podcast-assets"), "pairs", "remove", "twin").stdout
    assert not (root / "pairs" / "twin").exists()
    assert "aggregated profile v1 from 1 pair(s)" in removed, (
        "removing a pair re-learns the aggregate (v1 reused)"
    )
    assert "# Aggregated profile v1" in run(str(BIN / "podcast-assets"), "profile", "show").stdout.replace(
        "## ", "# "
    )
    run(str(BIN / "podcast-assets"), "pairs", "remove", "wheat", check=False)
    assert "(none)" in run(str(BIN / "podcast-assets"), "pairs", "list").stdout


@pytest.mark.parametrize("bad_id", ["../evil", "has space", "UPPER"])
def test_pairs_add_rejects_unsafe_ids_before_touching_anything(project, bad_id):
    root, run = project
    out = run(
        str(BIN / "podcast-assets"),
        "pairs",
        "add",
        "--pdf",
        str(EXAMPLE / "paper.pdf"),
        "--audio",
        str(EXAMPLE / "podcast.mp3"),
        "--id",
        bad_id,
        check=False,
    )
    assert out.returncode == 2
    assert "not allowed" in out.stderr and "Fix:" in out.stderr
    assert not (root / "pairs").exists() and not (root / "evil").exists()


@pytest.mark.parametrize(
    ("what", "paper", "audio", "words"),
    [
        ("zero-byte pdf", b"", None, ["paper.pdf", "empty"]),
        ("html as pdf", b"<!DOCTYPE html><html><body>Sign in</body></html>", None, ["paper.pdf", "HTML"]),
        ("text as mp3", None, b"this is a text file, not a recording\n" * 20, ["podcast.mp3", "text"]),
    ],
)
def test_pairs_add_refuses_a_bad_file_before_copying_or_registering(
    project, tmp_path, what, paper, audio, words
):
    root, run = project
    src = tmp_path / "src"
    src.mkdir()
    (src / "paper.pdf").write_bytes(paper if paper is not None else (EXAMPLE / "paper.pdf").read_bytes())
    (src / "podcast.mp3").write_bytes(audio if audio is not None else (EXAMPLE / "podcast.mp3").read_bytes())
    out = run(
        str(BIN / "podcast-assets"),
        "pairs",
        "add",
        "--pdf",
        str(src / "paper.pdf"),
        "--audio",
        str(src / "podcast.mp3"),
        "--id",
        "bad",
        check=False,
    )
    assert out.returncode == 2, out.stdout
    assert all(w in out.stderr for w in words) and "Fix:" in out.stderr, out.stderr
    assert not (root / "pairs" / "bad").exists()
    assert registered_partitions(root / "home") == []


def test_pairs_add_refuses_a_scanned_paper_before_copying_or_registering(project, tmp_path):
    root, run = project
    (tmp_path / "scan.pdf").write_bytes(scanned_pdf(EXAMPLE / "paper.pdf"))
    out = run(
        str(BIN / "podcast-assets"), "pairs", "add", "--pdf", str(tmp_path / "scan.pdf"),
        "--audio", str(EXAMPLE / "podcast.mp3"), "--id", "scanned", check=False,
    )  # fmt: skip
    assert out.returncode == 2, out.stdout
    assert "scan.pdf: no text layer (scanned PDF?)" in out.stderr and "Fix: run OCR first" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr, out.stderr
    assert not (root / "pairs").exists() and registered_partitions(root / "home") == []


def test_train_shows_progress_and_a_one_line_reason_and_keeps_tracebacks_for_verbose(project):
    root, run = project
    (root / "pairs" / "broken").mkdir(parents=True)
    (root / "pairs" / "broken" / "paper.pdf").write_bytes(b"<html>oops</html>")
    shutil.copytree(EXAMPLE, root / "pairs" / "wheat")
    out = run(str(BIN / "podcast-assets"), "train", "--no-trials", check=False)
    assert out.returncode == 1
    assert "broken: FAILED" in out.stdout and "wheat: ok" in out.stdout
    assert "transcriptions: done" in out.stdout, "each step's outcome is shown as it happens"
    assert "broken/paper.pdf" in out.stderr and "not a PDF" in out.stderr and "Fix:" in out.stderr
    assert "transcriptions" not in out.stderr, "a pair whose paper is refused is not transcribed (nor its audio looked at)"
    everything = out.stdout + out.stderr
    assert "Traceback" not in everything and "Stack Trace" not in everything
    assert len(everything.splitlines()) <= 40, everything
    verbose = run(str(BIN / "podcast-assets"), "train", "--pair", "broken", "--verbose", check=False)
    assert verbose.returncode == 1 and "Stack Trace" in verbose.stdout + verbose.stderr



def test_evaluate_gives_a_refused_pair_one_line_and_keeps_tracebacks_for_verbose(project):
    """A held-out pair whose podcast the recogniser refuses (German through the English-only model): the reason and
    the fix on one line, as train gives them; Dagster's log with its traceback only with --verbose."""
    root, run = project
    shutil.copytree(EXAMPLE, root / "pairs" / "wheat")
    run(str(BIN / "podcast-assets"), "train", "--no-trials")
    held_out = root / "held-out" / "german"
    held_out.mkdir(parents=True)
    shutil.copyfile(EXAMPLE / "paper.pdf", held_out / "paper.pdf")
    shutil.copyfile(PROJECT_ROOT / "tests" / "data" / "speech" / "de-espeak-two-voices.mp3", held_out / "podcast.mp3")
    command = [str(BIN / "podcast-assets"), "evaluate", "--pairs-dir", str(root / "held-out"), "--versions", "v1"]
    out = run(*command, check=False)
    assert out.returncode == 1
    [line] = [line for line in out.stderr.splitlines() if "FAILED" in line]
    assert "german: FAILED: transcriptions:" in line and "refused after the first minute" in line, out.stderr
    assert "podcast.mp3" in line and "Fix:" in line, line
    everything = out.stdout + out.stderr
    assert "Traceback" not in everything and "Stack Trace" not in everything
    assert len(everything.splitlines()) <= 6, everything
    verbose = run(*command, "--verbose", check=False)
    assert verbose.returncode == 1 and "Stack Trace" in verbose.stdout + verbose.stderr



def test_two_trains_at_once_never_share_a_root_or_a_session(project):
    """On a new Dagster home, a second `train` while one runs is refused with who holds the artifact root; a third
    with --wait waits, then trains a session of its own on the now existing home. Every session stays readable,
    and nothing of one is written into the other."""
    import time

    from podcast_assets.core.locks import LOCK_NAME

    root, run = project
    shutil.copytree(EXAMPLE, root / "pairs" / "wheat")
    env = {**os.environ, "DAGSTER_HOME": str(root / "home"),
           "PODCAST_ASSETS_CONFIG": str(root / "configs" / "pipeline.yaml")}  # fmt: skip
    command = [str(BIN / "podcast-assets"), "train", "--max-trials", "1"]

    def start(*extra: str) -> subprocess.Popen:
        return subprocess.Popen([*command, *extra], cwd=root, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip

    first = start()
    lock = root / "artifacts" / LOCK_NAME
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (lock.is_file() and f'"pid": {first.pid}' in lock.read_text()):
        time.sleep(0.05)
    refused = run(*command, check=False)
    assert refused.returncode == 2, refused.stdout
    assert f"pid {first.pid}" in refused.stderr and "podcast-assets train --max-trials 1" in refused.stderr
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr, refused.stderr
    waiting = start("--wait")
    outs = [p.communicate(timeout=900) for p in (first, waiting)]
    assert first.returncode == 0 and waiting.returncode == 0, outs
    assert "waiting for the artifact root" in outs[1][1] and f"pid {first.pid}" in outs[1][1]
    ids = [out.split("training session ", 1)[1].split(":", 1)[0] for out, _ in outs]
    assert ids[0] != ids[1]
    sessions = root / "artifacts" / "training" / "sessions"
    for session_id in ids:
        record = json.loads((sessions / session_id / "session.json").read_text())
        assert record["session_id"] == session_id and [t["trial_id"] for t in record["trials"]] == ["t001"]
        items = sorted(p.relative_to(sessions / session_id) for p in (sessions / session_id).glob("t*/*.json"))
        assert items == [Path("t001/wheat.json")], items
    assert json.loads((root / "artifacts" / "training" / "current.json").read_text())["session_id"] == ids[1]
    assert "| t001" in run(str(BIN / "podcast-assets"), "status").stdout
    assert registered_partitions(root / "home") == ["wheat"], "the home is readable"



def test_two_processes_setting_up_one_new_dagster_home_both_succeed(tmp_path):
    """A new home's storage is made by the first instance opened on it; two at once used to race its schema
    ('table runs already exists', alembic's 'more than one head') and leave the home broken."""
    script = (
        "from podcast_assets.core.config import load_config\n"
        "from podcast_assets.cli.instance import register\n"
        "register(load_config(None), add=['a', 'b'])\n"
    )
    for attempt in range(3):
        home = tmp_path / f"home{attempt}"
        home.mkdir()
        env = {k: v for k, v in os.environ.items() if k != "PODCAST_ASSETS_CONFIG"} | {"DAGSTER_HOME": str(home)}
        procs = [subprocess.Popen([sys.executable, "-c", script], cwd=PROJECT_ROOT, env=env, stderr=subprocess.PIPE,
                                  text=True) for _ in range(2)]  # fmt: skip
        errors = [p.communicate(timeout=120)[1] for p in procs]
        assert [p.returncode for p in procs] == [0, 0], errors
        assert sorted(registered_partitions(home)) == ["a", "b"]


def test_a_malformed_config_stops_the_cli_with_the_file_and_key(project):
    root, run = project
    (root / "configs" / "pipeline.yaml").write_text("asr: {provider: whispr}\n")
    out = run(str(BIN / "podcast-assets"), "pairs", "list", check=False)
    assert out.returncode == 2
    assert "pipeline.yaml" in out.stderr and "asr.provider" in out.stderr


def test_the_readme_names_exactly_two_setup_commands_and_ci_runs_the_test_one():
    readme = (PROJECT_ROOT / "README.md").read_text()
    block = readme.split("## Set up", 1)[1].split("```", 2)[1]
    commands = [line for line in block.splitlines()[1:] if line.strip() and not line.startswith("#")]
    assert len(commands) == 2
    assert "podcast-assets train" in commands[0] and "pytest" in commands[1]
    assert "-r requirements/main.txt -e ." in commands[0] and "-r requirements/test.txt -e '.[test]'" in commands[1]
    assert commands[1].strip() in (PROJECT_ROOT / ".ci" / "run").read_text()


def test_train_is_killed_mid_trial_then_resumed_without_repeating_a_finished_item(project):
    """SIGKILL once the first trial's item is stored; --resume serves it and goes on; then the commands that
    read a session (status, trial, compare, plot-loss, export, export-prompts, generate)."""
    import signal
    import time

    root, run = project
    shutil.copytree(EXAMPLE, root / "pairs" / "wheat")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(root / "home"),
        "PODCAST_ASSETS_CONFIG": str(root / "configs" / "pipeline.yaml"),
    }
    proc = subprocess.Popen([str(BIN / "podcast-assets"), "train", "--max-trials", "2"], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    sessions = root / "artifacts" / "training" / "sessions"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and not any('"t002"' in p.read_text() for p in sessions.glob("*/session.json")):
        time.sleep(0.1)  # the second trial was decided: t001's item and summary are done, t002 is being made
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    [t001_item] = list(sessions.glob("*/t001/wheat.json"))
    stamp = t001_item.stat().st_mtime_ns

    resumed = run(str(BIN / "podcast-assets"), "train", "--max-trials", "2", "--resume")
    assert "resuming session" in resumed.stdout and "at trial t002" in resumed.stdout
    assert "left running by a killed process: marked failed, its pool slots freed" in resumed.stdout
    assert "trial t001:" not in resumed.stdout, "the finished trial is not visited again"
    assert t001_item.stat().st_mtime_ns == stamp, "the finished (pair, trial) was not computed again"
    assert "training stopped: reached max_trials=2" in resumed.stdout

    status = run(str(BIN / "podcast-assets"), "status").stdout
    assert "| t001" in status and "| t002" in status and "no validation set" in status
    assert "missed concepts" in run(str(BIN / "podcast-assets"), "trial", "t002").stdout
    assert "| wheat | total |" in run(str(BIN / "podcast-assets"), "compare", "t001", "t002").stdout
    run(str(BIN / "podcast-assets"), "plot-loss", "--out", "curve.png")
    assert (root / "curve.png").read_bytes()[:4] == b"\x89PNG"
    run(str(BIN / "podcast-assets"), "export", "--output", "out")
    assert (root / "out" / "training_report.json").is_file() and list(
        (root / "out" / "best" / "wheat").glob("podcast.*")
    )
    exported = run(str(BIN / "podcast-assets"), "export-prompts", "--output", "prompts-out").stdout
    assert "lineage" in exported and (root / "prompts-out" / "refiner" / "v1.md").is_file()
    generated = run(str(BIN / "podcast-assets"), "generate", "--pdf", str(EXAMPLE / "paper.pdf"), "--depth",
                    "overview", "--out", "gen")  # fmt: skip
    assert "round-trip WER" in generated.stdout
    script = (root / "gen" / "script.md").read_text()
    assert script.count("**") >= 4 and list((root / "gen").glob("podcast.*"))


def run_cli(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    command = [str(BIN / "podcast-assets"), *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)


def test_generate_with_out_an_existing_file_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "pipeline.yaml").write_text("pairs_dir: pairs\nstorage: {root: artifacts}\n")
    env = {**os.environ, "PODCAST_ASSETS_CONFIG": str(tmp_path / "configs" / "pipeline.yaml"),
           "DAGSTER_HOME": str(tmp_path / "home")}  # fmt: skip
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me")
    for out in (notes, notes / "podcast"):  # the file itself, or a file on the way to the folder
        done = run_cli(tmp_path, env, "generate", "--pdf", str(EXAMPLE / "paper.pdf"), "--out", str(out))
        assert done.returncode == 2, done.stdout + done.stderr
        [line] = done.stderr.strip().splitlines()
        assert line.startswith(f"error: {notes}: --out must be a folder") and "Fix: give a folder" in line
        assert "Traceback" not in done.stdout + done.stderr
    assert notes.read_text() == "keep me"


def test_the_instance_settings_travel_with_a_config_kept_outside_configs(tmp_path):
    """A settings file in a folder of its own: the Dagster home gets the dagster.yaml beside it (dagster/),
    else the project's configs/dagster/dagster.yaml; and the command says which."""
    project_settings = PROJECT_ROOT / "configs" / "dagster" / "dagster.yaml"
    (tmp_path / "cwd").mkdir()
    own = tmp_path / "mine" / "dagster" / "dagster.yaml"
    own.parent.mkdir(parents=True)
    own.write_text(project_settings.read_text() + "# kept beside settings.yaml\n")
    (tmp_path / "bare").mkdir()
    for folder, expected in ((tmp_path / "mine", own), (tmp_path / "bare", project_settings)):
        (folder / "settings.yaml").write_text(
            f"pairs_dir: {folder / 'pairs'}\nstorage: {{root: {folder / 'artifacts'}}}\n"
        )
        home = folder / "home"
        env = {**os.environ, "PODCAST_ASSETS_CONFIG": f"{folder}/settings.yaml", "DAGSTER_HOME": f"{home}"}
        added = run_cli(tmp_path / "cwd", env, "pairs", "add", "--pdf", str(EXAMPLE / "paper.pdf"),
                        "--audio", str(EXAMPLE / "podcast.mp3"), "--id", "wheat")  # fmt: skip
        assert added.returncode == 0, added.stdout + added.stderr
        said = f"Dagster instance at {home}: instance settings installed from {expected.resolve()}"
        assert said in added.stdout, added.stdout
        assert (home / "dagster.yaml").read_text() == expected.read_text()
        assert registered_partitions(home) == ["wheat"]
        with dg.DagsterInstance.from_config(str(home)) as instance:
            assert instance.get_settings("concurrency")["pools"]["default_limit"] == 1  # in force
        again = run_cli(tmp_path / "cwd", env, "pairs", "remove", "wheat")
        assert again.returncode == 0 and "instance settings installed" not in again.stdout, again.stderr
