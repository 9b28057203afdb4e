"""aligned_segments typed by an LLM: the real OpenAI and Anthropic SDKs against a loopback fake server."""

from __future__ import annotations

import json
import re

import dagster as dg
import pytest

from podcast_assets.core.analysis.local_typer import LOCAL_TYPER
from podcast_assets.core.analysis.models import AlignedSegments
from podcast_assets.core.storage import LocalArtifactStore
from podcast_assets.definitions import build_resources
from podcast_assets.defs.analysis import aligned_segments, aligned_segments_path
from podcast_assets.defs.ingest import document_graph_path, transcription_path
from podcast_assets.defs.partitions import training_pairs
from tests.dagster_helpers import make_config
from tests.fake_llm_server import (
    FakeLLMServer,
    RecordedRequest,
    Reply,
    ok,
    rate_limited,
    unauthorized_echoing_key,
)

PAIR = "kd-survey-notebookllama-ollama"


def typing_reply(provider: str):
    """A reply labelling every segment id in the prompt: the first intro, the last conclusion, others methodology."""

    def body(request: RecordedRequest) -> bytes:
        messages = request.json()["messages"]
        prompt = " ".join(m["content"] if isinstance(m["content"], str) else json.dumps(m["content"]) for m in messages)
        ids = list(dict.fromkeys(re.findall(r"\[(s\d{3})\]", prompt)))
        labels = ["intro"] + ["methodology"] * (len(ids) - 2) + ["conclusion"] if len(ids) > 1 else ["intro"]
        text = json.dumps({"segments": [{"segment_id": i, "type": t, "confidence": 0.8} for i, t in zip(ids, labels)]})
        return ok(provider, text).body

    return Reply(body=body)


def resources_with_llm(config, server: FakeLLMServer, provider: str, cache_dir, **llm_fields):
    """The pipeline's resources with the LLM pointed at the fake server and caching into `cache_dir`."""
    llm = {"provider": "openai_compatible" if provider == "openai" else "anthropic", "model": "fake-model",
           "base_url": server.base_url(provider), **llm_fields}
    resources = build_resources(make_config(config.pairs_dir, config.storage.root, llm=llm))
    resources["llm"] = resources["llm"].model_copy(update={"cache_dir": str(cache_dir), "backoff_base_s": 0.05})
    return resources


@pytest.fixture
def pair_ingested(ingested, tmp_path):
    """The pair's ingest records copied into a store of this test's own, so what it writes touches no other test."""
    config, results = ingested
    if PAIR not in results:
        pytest.skip(f"{PAIR} not in ../shared/data/pairs")
    shared, own = LocalArtifactStore(config.storage.root), LocalArtifactStore(tmp_path / "artifacts")
    for rel in (document_graph_path(PAIR), transcription_path(PAIR)):
        own.write_bytes(rel, shared.read_bytes(rel))
    return make_config(config.pairs_dir, own.root)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_llm_typing_through_the_real_sdk_then_a_rerun_served_from_the_cache(pair_ingested, tmp_path, monkeypatch, provider):
    monkeypatch.setenv("FAKE_LLM_KEY", "sk-test-canary-0042")
    with FakeLLMServer() as server:
        resources = resources_with_llm(pair_ingested, server, provider, tmp_path / "llm-cache", api_key_env="FAKE_LLM_KEY")
        with dg.instance_for_test() as instance:
            instance.add_dynamic_partitions(training_pairs.name, [PAIR])
            server.push(rate_limited(provider), typing_reply(provider), typing_reply(provider))
            first = dg.materialize([aligned_segments], partition_key=PAIR, instance=instance, resources=resources)
            requests_first = len(server.requests)
            second = dg.materialize([aligned_segments], partition_key=PAIR, instance=instance, resources=resources)
        assert len(server.requests) == requests_first, "the re-run made no request"

    segments = LocalArtifactStore(pair_ingested.storage.root).read_model(aligned_segments_path(PAIR), AlignedSegments)
    assert segments.classifier == "llm:fake-model"
    assert segments.segments[0].type == "intro" and segments.segments[-1].type == "conclusion"
    [mat1] = first.asset_materializations_for_node("aligned_segments")
    [mat2] = second.asset_materializations_for_node("aligned_segments")
    assert mat1.metadata["llm_calls"].value >= 1 and mat1.metadata["llm_input_tokens"].value > 0
    assert mat2.metadata["llm_cached_calls"].value == mat2.metadata["llm_calls"].value
    assert mat2.metadata["llm_input_tokens"].value == 0
    assert all("sk-test-canary-0042" not in str(v.value) for v in mat1.metadata.values())
    # the local analysers' figures do not depend on who typed the segments
    assert 0 < segments.concept_coverage <= 1


def test_a_canary_key_through_a_run_with_a_401_appears_nowhere(pair_ingested, tmp_path, monkeypatch):
    """Reliability catalogue 24: not in the event log, metadata, compute logs, artifacts or DAGSTER_HOME."""
    canary = "sk-canary-7f3a9b1c5d"
    monkeypatch.setenv("FAKE_LLM_KEY", canary)
    home = tmp_path / "dagster_home"
    home.mkdir()
    with FakeLLMServer() as server:
        resources = resources_with_llm(pair_ingested, server, "openai", tmp_path / "llm-cache", api_key_env="FAKE_LLM_KEY")
        server.push(*[unauthorized_echoing_key("openai")] * 3)
        with dg.instance_for_test(temp_dir=str(home)) as instance:
            instance.add_dynamic_partitions(training_pairs.name, [PAIR])
            result = dg.materialize(
                [aligned_segments], partition_key=PAIR, instance=instance, resources=resources, raise_on_error=False
            )
            events = [str(e) for e in instance.all_logs(result.run_id)]
        assert server.requests and server.requests[0].api_key == canary, "the key was really sent"
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "401" in failure.step_failure_data.user_failure_data.description
    assert not any(canary in e for e in events)
    for root in (home, tmp_path / "llm-cache", pair_ingested.storage.root):
        for path in root.rglob("*"):
            if path.is_file():
                assert canary.encode() not in path.read_bytes(), path


def test_a_podcast_about_another_paper_is_flagged_before_any_llm_call(ingested, tmp_path):
    """Reliability catalogue 11: the overlap check fails before anything is paid for."""
    config, results = ingested
    if not {PAIR, "wheat-climate-risk-podcastfy"} <= set(results):
        pytest.skip("needs the kd-survey and wheat pairs in ../shared/data/pairs")
    shared, own = LocalArtifactStore(config.storage.root), LocalArtifactStore(tmp_path / "artifacts")
    own.write_bytes(transcription_path("mismatched"), shared.read_bytes(transcription_path(PAIR)))
    own.write_bytes(document_graph_path("mismatched"), shared.read_bytes(document_graph_path("wheat-climate-risk-podcastfy")))
    with FakeLLMServer() as server:
        resources = resources_with_llm(make_config(config.pairs_dir, own.root), server, "openai", tmp_path / "llm-cache")
        with dg.instance_for_test() as instance:
            instance.add_dynamic_partitions(training_pairs.name, ["mismatched"])
            result = dg.materialize([aligned_segments], partition_key="mismatched", instance=instance, resources=resources)
        assert server.requests == []
    [evaluation] = result.get_asset_check_evaluations()
    assert not evaluation.passed and "another paper" in evaluation.description
    assert own.read_model(aligned_segments_path("mismatched"), AlignedSegments).classifier == LOCAL_TYPER
