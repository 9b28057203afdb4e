"""Transcript review end to end, on two real pairs: a person reviews segments in Debian's chromium (driven by
Playwright) on the page `podcast-assets review` serves; the edit survives a server restart; the review sensor
re-makes that pair's transcript and what depends on it, and no other pair's; `podcast-assets review apply` does
the same from the command line; and a new pair run never overwrites what was reviewed.

Screenshots are kept in test-artifacts/review/ beside the project."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

from podcast_assets.core.config import load_config
from podcast_assets.core.ingest.models import TranscriptionResult
from podcast_assets.core.review.store import ReviewStore
from podcast_assets.core.storage import LocalArtifactStore, pair_record_path
from podcast_assets.definitions import build_definitions
from podcast_assets.defs.partitions import training_pairs
from podcast_assets.defs.review import review_sensor
from tests.conftest import PROJECT_ROOT, require_shared_pairs
from tests.dagster_helpers import run_requested, seeded_artifacts
from tests.test_webserver_binding import listening_addresses

BIN = Path(sys.executable).parent
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = PROJECT_ROOT / "test-artifacts" / "review"
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required",
]  # fmt: skip


@pytest.fixture(scope="module")
def project(ingested, tmp_path_factory, request):
    """A project with the two shortest shared pairs, their pair runs done in a persistent DAGSTER_HOME, and a
    settings file whose review sensor applies corrections at once. Returns (root, config, env, [pair a, pair b])."""
    shared = sorted(require_shared_pairs(), key=lambda p: sum(f.stat().st_size for f in p.iterdir()))[:2]
    if len(shared) < 2:
        pytest.skip("needs two real pairs (one reviewed, one left alone)")
    session_config, _ = ingested
    root = tmp_path_factory.mktemp("review-project")
    (root / "configs").mkdir()
    for pair in shared:
        shutil.copytree(pair, root / "pairs" / pair.name)
    artifacts = seeded_artifacts(root / "artifacts", session_config.storage.root)
    settings = root / "configs" / "pipeline.yaml"
    settings.write_text(f"pairs_dir: pairs\nstorage: {{root: {artifacts}}}\nreview: {{settle_seconds: 0}}\n")
    env = {**os.environ, "DAGSTER_HOME": str(root / "home"), "PODCAST_ASSETS_CONFIG": str(settings)}
    (root / "home").mkdir()
    config = load_config(settings)
    pair_ids = [p.name for p in shared]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DAGSTER_HOME", str(root / "home"))
        with dg.DagsterInstance.get() as instance:
            instance.add_dynamic_partitions(training_pairs.name, pair_ids)
            job = build_definitions(config).resolve_job_def("pair_pipeline")
            for pair_id in pair_ids:
                assert job.execute_in_process(partition_key=pair_id, instance=instance).success
    return root, config, env, pair_ids


def materializations(config, asset: str, pair_id: str) -> int:
    with dg.DagsterInstance.get() as instance:
        return len(
            instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[pair_id]), limit=100
            ).records
        )


class ReviewServer:
    """`podcast-assets review` in a process of its own, on a free port."""

    def __init__(self, root: Path, env: dict[str, str]):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = root / f"review-server-{self.port}.log"
        self.proc = subprocess.Popen(
            [str(BIN / "podcast-assets"), "review", "--port", str(self.port)],
            cwd=root, env=env, stdout=self.log.open("w"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/api/stats", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.3)
        raise AssertionError(f"the review server did not come up:\n{self.log.read_text()}")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def test_a_person_reviews_in_the_browser_and_only_that_pair_is_made_again(project, monkeypatch):
    if not CHROMIUM.exists():
        pytest.skip(
            f"Debian's chromium is not installed at {CHROMIUM} (.ci/run installs it: apt-get install chromium)"
        )
    from playwright.sync_api import expect, sync_playwright

    root, config, env, (pair_a, pair_b) = project
    monkeypatch.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    before = {p: materializations(config, "aligned_segments", p) for p in (pair_a, pair_b)}
    server = ReviewServer(root, env)
    try:
        assert listening_addresses(server.port) == {"127.0.0.1"}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1200, "height": 860})
            page.goto(f"{server.url}/?pair={pair_a}")
            entry_id = page.locator("#entry").get_attribute("data-id")
            expect(page.locator("#progress-bar")).to_have_attribute("aria-valuenow", "0")

            # listen: play, the playhead moves, pause
            page.click("#play")
            page.wait_for_function("document.getElementById('audio').currentTime > 0.3", timeout=20_000)
            expect(page.locator("#play")).to_have_text("❚❚ Pause")
            page.keyboard.press("Escape")
            page.locator("body").focus()
            page.evaluate("document.activeElement.blur()")
            page.keyboard.press(" ")
            expect(page.locator("#play")).to_have_text("▶ Play")
            assert page.locator("#words .low").count() + page.locator("#words span").count() > 0
            page.screenshot(path=SCREENSHOTS / "1-entry.png", full_page=True)

            # edit, undo, redo, then Ctrl+Enter: saved, reviewed, on to the next entry
            heard = page.input_value("#text")
            corrected = heard.strip() + " (reviewed by a person)"
            page.fill("#text", corrected)
            page.keyboard.press("Control+z")
            expect(page.locator("#text")).to_have_value(heard)
            page.keyboard.press("Control+y")
            expect(page.locator("#text")).to_have_value(corrected)
            expect(page.locator("#chars")).to_have_text(str(len(corrected)))
            page.select_option("#segment-type", "intro")  # what the stretch does: a trusted label
            page.focus("#text")
            page.keyboard.press("Control+Enter")
            expect(page.locator("#progress-bar")).to_have_attribute("aria-valuenow", "1")
            expect(page.locator("#entry")).not_to_have_attribute("data-id", entry_id)
            expect(page.locator("#message")).to_contain_text(f"Saved entry {entry_id} (reviewed)")
            page.screenshot(path=SCREENSHOTS / "2-after-ctrl-enter.png", full_page=True)

            # refused text is said on the page, and the box keeps what was typed
            page.fill("#text", "   ")
            page.keyboard.press("Control+s")
            expect(page.locator("#message")).to_contain_text("the text is empty")
            expect(page.locator("#message")).to_have_class("error")
            page.screenshot(path=SCREENSHOTS / "3-refused.png", full_page=True)
            browser.close()
        server.stop()

        server = ReviewServer(root, env)  # the edit is there after a restart
        with urllib.request.urlopen(f"{server.url}/api/entries/{entry_id}") as reply:
            import json

            saved = json.loads(reply.read())
        assert (
            saved["text"] == corrected
            and saved["is_reviewed"]
            and saved["history"][0]["new_text"] == corrected
            and saved["segment_type"] == "intro"
        )
    finally:
        server.stop()

    # the sensor re-makes the reviewed pair's transcript and what depends on it, and nothing of the other pair
    defs = build_definitions(config)
    with dg.DagsterInstance.get() as instance:
        result, outcomes = run_requested(defs, instance, review_sensor)
        assert list(outcomes) == [pair_a] and all(o.success for o in outcomes.values())
        again, _ = run_requested(defs, instance, review_sensor, cursor=result.cursor)
        assert not again.run_requests  # applied: nothing more to do
    assert materializations(config, "aligned_segments", pair_a) == before[pair_a] + 1
    assert materializations(config, "aligned_segments", pair_b) == before[pair_b]
    assert materializations(config, "document_graphs", pair_a) == 1  # the paper is not touched
    transcript = LocalArtifactStore(config.storage.root).read_model(
        pair_record_path(pair_a, "transcription"), TranscriptionResult
    )
    assert any(s.text.strip() == corrected for s in transcript.segments)


def test_review_apply_from_the_command_line_and_a_new_run_keeps_the_review(project, monkeypatch):
    root, config, env, (pair_a, pair_b) = project
    monkeypatch.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])
    store = ReviewStore(config.review.db)
    entry = store.list_entries(pair_id=pair_b, order="time", limit=1)[0][0]
    store.save(
        entry["id"],
        "Hello and welcome, this line was typed by a reviewer.",
        version=entry["version"],
        reviewed=True,
    )
    before_a = materializations(config, "aligned_segments", pair_a)
    patient = config.model_copy(update={"review": config.review.model_copy(update={"settle_seconds": 3600})})
    with dg.DagsterInstance.get() as instance:  # while a person is still at it, nothing is re-made
        waiting, _ = run_requested(build_definitions(patient), instance, review_sensor)
    assert not waiting.run_requests and "settle" in waiting.skip_message

    def apply() -> subprocess.CompletedProcess:
        command = [str(BIN / "podcast-assets"), "review", "apply"]
        return subprocess.run(
            command, check=False, cwd=root, env=env, capture_output=True, text=True, timeout=600
        )

    out = apply()
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"{pair_b}: applying reviewed segments" in out.stdout and pair_a not in out.stdout
    assert "1 reviewed segment(s), 1 changed; the recogniser's word error rate on them:" in out.stdout
    assert materializations(config, "aligned_segments", pair_a) == before_a
    with dg.DagsterInstance.get() as instance:
        record = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("transcriptions"), asset_partitions=[pair_b]), limit=1
        ).records[0]
    metadata = record.asset_materialization.metadata
    assert metadata["reviewed_segments"].value == 1 and 0 < metadata["review_word_error_rate"].value <= 1

    # the pair's whole pipeline again (as after a new recogniser): the reviewed text stays
    with dg.DagsterInstance.get() as instance:
        result = build_definitions(config).resolve_job_def("pair_pipeline").execute_in_process(
            partition_key=pair_b, instance=instance
        )  # fmt: skip
    [fill] = result.asset_materializations_for_node("review_entries")
    assert fill.metadata["kept_reviewed"].value >= 1
    assert store.get(entry["id"])["text"] == "Hello and welcome, this line was typed by a reviewer."
    nothing = apply()
    assert "already has its reviewed segments" in nothing.stdout
