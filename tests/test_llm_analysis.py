"""aligned_segments typed by an LLM: the real OpenAI and Anthropic SDKs against a loopback fake server."""

from __future__ import annotations

import json
import re

import dagster as dg
import pytest

from podcast_assets.core.analysis.alignment import analyse_pair
from podcast_assets.core.analysis.llm_typer import BATCH_SIZE
from podcast_assets.core.analysis.models import AlignedSegments
from podcast_assets.core.ingest.models import DocumentGraph, TranscriptionResult
from podcast_assets.core.storage import LocalArtifactStore
from podcast_assets.definitions import build_resources
from podcast_assets.defs.analysis import aligned_segments, aligned_segments_path
from podcast_assets.defs.ingest import document_graph_path, transcription_path
from podcast_assets.defs.partitions import training_pairs
from podcast_assets.resources.llm import LLMResource
from tests.conftest import training_pair_dirs
from tests.dagster_helpers import make_config
from tests.fake_llm_server import (
    FakeLLMServer,
    RecordedRequest,
    Reply,
    ok,
    rate_limited,
    unauthorized_echoing_key,
)

PAIR = training_pair_dirs()[0].name
"""A real pair the session's `ingested` fixture has transcribed (the bundled example without ../shared)."""


TYPING_INPUT_TOKENS = 1234
"""The input tokens each typing reply reports as used."""


def typing_reply(provider: str):
    """A reply labelling every segment id in the prompt: the first intro, the last conclusion, others methodology."""

    def body(request: RecordedRequest) -> bytes:
        messages = request.json()["messages"]
        prompt = " ".join(m["content"] if isinstance(m["content"], str) else json.dumps(m["content"]) for m in messages)
        ids = list(dict.fromkeys(re.findall(r"\[(s\d{3})\]", prompt)))
        labels = ["intro"] + ["methodology"] * (len(ids) - 2) + ["conclusion"] if len(ids) > 1 else ["intro"]
        text = json.dumps({"segments": [{"segment_id": i, "type": t, "confidence": 0.8} for i, t in zip(ids, labels)]})
        return ok(provider, text, input_tokens=TYPING_INPUT_TOKENS).body

    return Reply(body=body)


def resources_with_llm(config, server: FakeLLMServer, provider: str, cache_dir, **llm_fields):
    """The pipeline's resources with the LLM pointed at the fake server and caching into `cache_dir`."""
    llm = {"provider": "openai_compatible" if provider == "openai" else "anthropic", "model": "fake-model",
           "base_url": server.base_url(provider), **llm_fields}
    resources = build_resources(make_config(config.pairs_dir, config.storage.root, llm=llm))
    # a new resource, not model_copy(update=...): Dagster rebuilds a resource from the config it was
    # constructed with, so a model_copy's changes would silently never reach the run
    changed = {"cache_dir": str(cache_dir), "backoff_base_s": 0.05}
    resources["llm"] = LLMResource(**(resources["llm"].model_dump() | changed))
    return resources


@pytest.fixture
def pair_ingested(ingested, tmp_path):
    """The pair's ingest records copied into a store of this test's own, so what it writes touches no other test.
    Its pairs folder is the real one (aligned_segments reads the pair's files)."""
    config, results = ingested
    assert results[PAIR].success, f"the session could not ingest {PAIR}"
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

    store = LocalArtifactStore(pair_ingested.storage.root)
    segments = store.read_model(aligned_segments_path(PAIR), AlignedSegments)
    assert segments.classifier == "llm:fake-model"
    assert segments.segments[0].type == "intro" and segments.segments[-1].type == "conclusion"
    batches = -(-len(segments.segments) // BATCH_SIZE)
    assert requests_first == 1 + batches, "one 429, then one request per batch of segments"
    [mat1] = first.asset_materializations_for_node("aligned_segments")
    [mat2] = second.asset_materializations_for_node("aligned_segments")
    assert mat1.metadata["llm_calls"].value == batches and mat1.metadata["llm_cached_calls"].value == 0
    assert mat1.metadata["llm_input_tokens"].value == TYPING_INPUT_TOKENS * batches
    assert mat2.metadata["llm_cached_calls"].value == mat2.metadata["llm_calls"].value == batches
    assert mat2.metadata["llm_input_tokens"].value == 0
    assert all("sk-test-canary-0042" not in str(v.value) for v in mat1.metadata.values())
    assert list((tmp_path / "llm-cache").rglob("*.json")), "the replies were cached where the resource was told"
    # the local analysers' figures do not depend on who typed the segments
    local = analyse_pair(
        PAIR,
        store.read_model(transcription_path(PAIR), TranscriptionResult),
        store.read_model(document_graph_path(PAIR), DocumentGraph),
    )
    assert (segments.mean_alignment, segments.concept_coverage) == (local.mean_alignment, local.concept_coverage)
    assert [(s.start, s.end, s.primary_atoms) for s in segments.segments] == [
        (s.start, s.end, s.primary_atoms) for s in local.segments
    ]


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


# Reliability catalogue 11 (a podcast about another paper) and 15-16 are run on the whole pair job in
# tests/test_catalogue.py.
