"""Reliability catalogue (../shared/docs/reliability.md) items 1, 2, 11, 15 and 16 at the asset level.

Each test runs the whole `pair_pipeline` job (resolved from `build_definitions`) on a broken pair beside a good
one, with the LLM configured against a loopback fake server, so a paid call would be seen. Each test has its own
pairs folder, artifact store, LLM cache and Dagster instance (an earlier run's file can never hide a bug); the
ingest caches of the session's `ingested` store are linked in, so nothing is transcribed again. Every pair is
built from `training_pair_dirs()[0]` (the bundled example without ../shared), so these tests always run.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pymupdf
import pytest

from podcast_assets.core.analysis.local_typer import LOCAL_TYPER
from podcast_assets.core.analysis.models import AlignedSegments
from podcast_assets.core.storage import LocalArtifactStore, pair_record_path
from podcast_assets.definitions import build_definitions
from podcast_assets.defs.analysis import MATCH_CHECK, aligned_segments, aligned_segments_path
from podcast_assets.defs.jobs import PAIR_JOB_NAME
from podcast_assets.defs.partitions import training_pairs
from podcast_assets.resources.llm import LLMResource
from tests.conftest import EXAMPLE_PAIRS, other_topic_pdf, training_pair_dirs
from tests.dagster_helpers import make_config, seeded_artifacts
from tests.fake_llm_server import FakeLLMServer, Reply, drop, error, hang, html_page, ok, truncated
from tests.test_llm_analysis import typing_reply

GOOD, BAD = "good", "bad"
RECORDS = {  # per-pair asset -> the record it writes under training_pairs/<pair_id>/
    "document_graphs": "document_graph",
    "transcriptions": "transcription",
    "aligned_segments": "aligned_segments",
    "structure_profiles": "structure_profile",
    "style_profiles": "style_profile",
    "visual_alignments": "visual_alignment",
    "sync_qa": "sync_qa",
}
DOWNSTREAM = {
    "document_graphs": {
        "transcriptions", "aligned_segments", "structure_profiles", "style_profiles", "visual_alignments",
        "sync_qa",
    },  # fmt: skip
    "aligned_segments": {"structure_profiles", "style_profiles", "visual_alignments", "sync_qa"},
}
LLM_MODEL = "fake-model"
FAST_LLM = {
    "request_timeout_s": 0.5,
    "deadline_s": 10.0,
    "max_attempts": 2,
    "backoff_base_s": 0.01,
    "backoff_cap_s": 0.05,
}
"""Client settings that keep a faulty server's attempts short (the pipeline's are minutes long)."""


def llm_resource(base: LLMResource, **fields: object) -> LLMResource:
    """`base` with `fields` changed. (`model_copy(update=...)` is not enough: Dagster builds the resource
    again from the config it was constructed with, so a model_copy's changes never reach the run.)"""
    return LLMResource(**(base.model_dump() | fields))


@dataclass
class Outcome:
    result: dg.ExecuteInProcessResult
    failures: dict[str, str]
    """step key -> the failure's description (what the UI shows)."""
    started: set[str]
    requests: int
    """Requests the fake LLM server received during this run."""

    def failure_data(self, step: str):
        event = next(e for e in self.result.all_events if e.is_step_failure and e.step_key == step)
        return event.step_failure_data.user_failure_data


@dataclass
class World:
    pairs_dir: Path
    store: LocalArtifactStore
    server: FakeLLMServer
    instance: dg.DagsterInstance
    job: dg.JobDefinition
    llm: LLMResource
    source: Path

    def add_pair(self, pair_id: str, paper: bytes | None = None) -> Path:
        """A copy of the source pair (whose ingest is cached), with `paper` as its PDF if given."""
        folder = self.pairs_dir / pair_id
        shutil.copytree(self.source, folder)
        if paper is not None:
            (folder / "paper.pdf").write_bytes(paper)
        self.instance.add_dynamic_partitions(training_pairs.name, [pair_id])
        return folder

    def run(self, pair_id: str) -> Outcome:
        before = len(self.server.requests)
        result = self.job.execute_in_process(
            partition_key=pair_id, instance=self.instance, raise_on_error=False, resources={"llm": self.llm}
        )
        failures = {}
        for event in result.all_events:
            if event.is_step_failure:
                data = event.step_failure_data
                failures[event.step_key] = (
                    data.user_failure_data.description if data.user_failure_data else data.error.message
                )
        started = {e.step_key for e in result.all_events if e.is_step_start}
        return Outcome(result, failures, started, len(self.server.requests) - before)

    def records(self, pair_id: str) -> set[str]:
        """The files in the pair's record folder, without .json (a leftover temp file would show up too)."""
        folder = self.store.path(pair_record_path(pair_id, "any")).parent
        return {p.stem for p in folder.iterdir()} if folder.is_dir() else set()

    def materialized(self, pair_id: str) -> set[str]:
        """The per-pair assets with a materialization of partition `pair_id` in the instance."""
        return {
            asset
            for asset in RECORDS
            if self.instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[pair_id]), limit=1
            ).records
        }

    def llm_cache_replies(self) -> list[Path]:
        """Cached (accepted) LLM replies; rejected replies are kept apart under rejected/."""
        root = Path(self.llm.cache_dir)
        return [p for p in root.rglob("*.json") if "rejected" not in p.parts] if root.is_dir() else []


@pytest.fixture
def world(ingested, tmp_path) -> Iterator[World]:
    config, results = ingested
    source = training_pair_dirs()[0]
    assert results[source.name].success, f"the session could not ingest {source.name}"
    root = seeded_artifacts(tmp_path / "artifacts", config.storage.root)  # ingest caches and figure PNGs
    shutil.rmtree(root / "cache" / "llm", ignore_errors=True)  # no LLM reply may be served from a cache
    pairs_dir = tmp_path / "pairs"
    pairs_dir.mkdir()
    with FakeLLMServer() as server, dg.instance_for_test() as instance:
        llm_settings = {"provider": "openai_compatible", "model": LLM_MODEL, "base_url": server.openai_url}
        defs = build_definitions(make_config(pairs_dir, root, llm=llm_settings))
        llm = llm_resource(defs.resources["llm"], **FAST_LLM)
        assert llm.enabled and llm.cache_dir == str(root / "cache" / "llm")
        job = defs.resolve_job_def(PAIR_JOB_NAME)
        yield World(pairs_dir, LocalArtifactStore(root), server, instance, job, llm, source)


def assert_stopped_at(world: World, outcome: Outcome, pair_id: str, step: str) -> str:
    """The run failed at `step` alone; no step downstream of it started; no record or materialization of
    `step` or anything downstream exists for the pair. Returns the failure's description."""
    assert not outcome.result.success
    assert set(outcome.failures) == {step}, outcome.failures
    assert not outcome.started & DOWNSTREAM[step], f"ran after the failure: {outcome.started & DOWNSTREAM[step]}"
    never = DOWNSTREAM[step] | ({step} if step == "document_graphs" else set())
    assert not world.records(pair_id) & {RECORDS[a] for a in never}, world.records(pair_id)
    assert not world.materialized(pair_id) & never, world.materialized(pair_id)
    return outcome.failures[step]


def assert_the_good_pair_runs(world: World) -> None:
    """The good pair beside the bad one: every per-pair asset materialized and written, typed by the LLM."""
    world.add_pair(GOOD)
    world.server.push(typing_reply("openai"), typing_reply("openai"))
    outcome = world.run(GOOD)
    assert outcome.result.success and outcome.failures == {}, outcome.failures
    assert world.records(GOOD) == set(RECORDS.values())
    assert world.materialized(GOOD) == set(RECORDS)
    segments = world.store.read_model(aligned_segments_path(GOOD), AlignedSegments)
    assert segments.match.passed and segments.classifier == f"llm:{LLM_MODEL}"
    assert outcome.requests >= 1, "the fake LLM server was reachable, so a bad pair's zero requests mean something"


# --------------------------------------------------------------------------- items 1 and 2: bad papers


def _png() -> bytes:
    return pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 40, 40), False).tobytes("png")


def _random_bytes() -> bytes:
    return random.Random(7).randbytes(8192).replace(b"%PDF-", b"xxxxx")


def _truncated_example_paper() -> bytes:
    data = (EXAMPLE_PAIRS / "wheat-climate-risk-podcastfy" / "paper.pdf").read_bytes()
    return data[: int(len(data) * 0.6)]


@pytest.mark.parametrize(
    ("make_paper", "words"),
    [
        (lambda: b"", ["empty", "0 bytes"]),
        (_random_bytes, ["not a pdf", "random"]),
        (lambda: b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>Log in</body></html>",
         ["not a pdf", "html"]),
        (_png, ["not a pdf", "png"]),
        (_truncated_example_paper, ["damaged or truncated"]),
    ],
    ids=["1-zero-byte", "1-random-bytes", "1-html-as-pdf", "1-png-as-pdf", "2-truncated-at-60-percent"],
)  # fmt: skip
def test_a_bad_paper_stops_its_pair_at_document_graphs_with_no_paid_call(world, make_paper, words):
    """Catalogue 1 and 2: rejected at ingest naming the file, nothing downstream, no LLM request."""
    folder = world.add_pair(BAD, make_paper())
    outcome = world.run(BAD)

    message = assert_stopped_at(world, outcome, BAD, "document_graphs")
    assert str(folder / "paper.pdf") in message and "Fix:" in message, message
    assert all(w in message.lower() for w in words), message
    assert "download the PDF again" in outcome.failure_data("document_graphs").metadata["fix"].value
    # the podcast is fine, but a pair whose paper is refused is not transcribed either (paid, in the cloud)
    assert world.records(BAD) == set() and world.materialized(BAD) == set()
    assert outcome.requests == 0, "no LLM call for a pair whose paper was rejected"
    assert_the_good_pair_runs(world)
    assert world.records(BAD) == set(), "the good pair's run wrote nothing for the bad one"


# --------------------------------------------------------------------------- item 11: another paper

def test_a_podcast_about_another_paper_fails_the_check_and_stops_the_pair_before_any_llm_call(world):
    """Catalogue 11: the blocking podcast_matches_paper check fails; aligned_segments is written (verdict
    False, typed locally) so the verdict can be inspected, but no profile is made and nothing is paid."""
    world.add_pair(BAD, other_topic_pdf())
    outcome = world.run(BAD)

    message = assert_stopped_at(world, outcome, BAD, "aligned_segments")
    assert message.startswith(f"{world.pairs_dir / BAD}: ") and "probably about another paper" in message, message
    assert "(no LLM call was made)" in message and "Fix: put the podcast" in message
    assert "podcast" in outcome.failure_data("aligned_segments").metadata["fix"].value
    [evaluation] = outcome.result.get_asset_check_evaluations()
    assert evaluation.check_name == MATCH_CHECK and not evaluation.passed
    assert "another paper" in evaluation.description
    assert world.records(BAD) == {"document_graph", "transcription", "aligned_segments"}
    assert world.materialized(BAD) == {"document_graphs", "transcriptions", "aligned_segments"}
    [mat] = outcome.result.asset_materializations_for_node("aligned_segments")
    assert mat.metadata["podcast_matches_paper"].value is False
    segments = world.store.read_model(aligned_segments_path(BAD), AlignedSegments)
    assert segments.match.passed is False and segments.classifier == LOCAL_TYPER
    assert outcome.requests == 0 and world.llm_cache_replies() == []
    assert_the_good_pair_runs(world)


# --------------------------------------------------------------------------- items 15 and 16: a faulty LLM


@pytest.fixture
def instant_step_retries(monkeypatch) -> dg.RetryPolicy:
    """aligned_segments' own RetryPolicy with its wait cut to 0 s. A retryable LLM error (LLMRetryableError) is
    retried by Dagster `max_retries` times; `execute_in_process` always retries steps (its executor ignores
    the run config's `retries: disabled`), so the policy is kept and only its 20 s delay removed."""
    policy = aligned_segments.op.retry_policy
    assert policy is not None and policy.max_retries >= 1
    fast = dg.RetryPolicy(max_retries=policy.max_retries, delay=0, backoff=policy.backoff, jitter=policy.jitter)
    monkeypatch.setattr(aligned_segments.op, "_retry_policy", fast)
    return fast


@pytest.mark.parametrize(
    "fault",
    [lambda: error("openai", 500, "internal error"), lambda: error("openai", 503, "overloaded"),
     lambda: hang(5), drop],
    ids=["500", "503", "hang", "drop"],
)
def test_llm_server_faults_outlasting_the_attempts_fail_aligned_segments_and_write_nothing(
    world, instant_step_retries, fault
):
    """Catalogue 15: bounded attempts (the client's, times the step's retries), then a terminal retryable
    error; no aligned_segments record, no profile, no cached reply; a run against a healthy server succeeds."""
    world.add_pair(BAD)
    step_attempts = instant_step_retries.max_retries + 1
    world.server.push(*(fault() for _ in range(world.llm.max_attempts * step_attempts)))
    outcome = world.run(BAD)

    message = assert_stopped_at(world, outcome, BAD, "aligned_segments")
    assert f"gave up after {world.llm.max_attempts} attempts" in message, message
    assert "Fix: run again later" in message
    assert outcome.requests == world.llm.max_attempts * step_attempts, "bounded: no request beyond the attempts"
    assert sum(e.is_step_up_for_retry for e in outcome.result.all_events) == instant_step_retries.max_retries
    assert world.records(BAD) == {"document_graph", "transcription"}, "no aligned_segments record, no profile"
    assert world.materialized(BAD) == {"document_graphs", "transcriptions"}
    assert outcome.result.get_asset_check_evaluations() == []
    assert world.llm_cache_replies() == []
    assert_the_good_pair_runs(world)


def _schema_violation() -> Reply:
    """A well-formed completion whose JSON breaks the typing schema: an unknown type, a confidence out of
    0-1, and the other segments left out."""
    return ok("openai", '{"segments": [{"segment_id": "s001", "type": "recap", "confidence": 150}]}')


@pytest.mark.parametrize(
    ("bad_reply", "kept"),
    [(html_page, "<!DOCTYPE html>"), (lambda: truncated("openai"), '"id"'), (_schema_violation, '"recap"')],
    ids=["html", "truncated-json", "schema-violation"],
)
def test_llm_replies_that_do_not_fit_the_schema_fail_aligned_segments_and_write_nothing(world, bad_reply, kept):
    """Catalogue 16: a 200 with HTML, truncated JSON or a schema-violating body, once and again when re-asked,
    is a schema error naming the kept reply; no label is invented and nothing is written downstream."""
    world.add_pair(BAD)
    asks = world.llm.schema_reasks + 1
    world.server.push(*(bad_reply() for _ in range(asks)))
    outcome = world.run(BAD)

    message = assert_stopped_at(world, outcome, BAD, "aligned_segments")
    assert f"did not match SegmentTypingReply after {asks} ask(s)" in message, message
    rejected = Path(outcome.failure_data("aligned_segments").metadata["file"].value)
    assert str(rejected) in message and "Fix:" in message
    assert rejected.parent == Path(world.llm.cache_dir) / "rejected" and kept in rejected.read_text()
    assert outcome.requests == asks
    assert world.records(BAD) == {"document_graph", "transcription"}
    assert world.materialized(BAD) == {"document_graphs", "transcriptions"}
    assert world.llm_cache_replies() == [], "a reply that did not fit is never cached"
    assert_the_good_pair_runs(world)
