"""Faults of the training loop, each at the trial level (the trial_results asset or score_item) on a real pair
(the one whose reference podcast is shortest; the next shortest where a second pair is needed), with the LLM
path against the loopback fake server through the real SDK (reliability catalogue 17 and 18):

- the spend cap from config stops the run with a budget error before any request; the finished item stays;
- a script reply with an unknown segment type or no segments is a schema error and no audio is made;
- a run SIGKILLed while the quality judge is asked resumes from the caches: no reply is paid twice;
- a paper with no key concepts fails its partition with the scoring error, other pairs unaffected;
- a hand-edited script is spoken, transcribed back and scored without writing.

Every test gets its own copy of one artifact store prepared once per module (the pairs through the pairs
sensor and the aggregate sensor). Scripts are spoken once (training.max_length_passes: 1) to keep the tests
quick; length correction has its own tests (tests/core/test_trial.py, tests/test_training_assets.py)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from podcast_assets.core.analysis import llm_typer
from podcast_assets.core.analysis.alignment import analyse_and_type
from podcast_assets.core.analysis.profile_store import load_current
from podcast_assets.core.ingest.audio import probe_audio
from podcast_assets.core.ingest.models import DocumentGraph
from podcast_assets.core.ingest.pairs import find_audio
from podcast_assets.core.llm import cost_of
from podcast_assets.core.storage import LocalArtifactStore
from podcast_assets.core.training import llm_tasks, scoring, writer
from podcast_assets.core.training.models import Script, ScriptSegment, TrainingSession, TrialItem
from podcast_assets.core.training.prompts import REFINED
from podcast_assets.core.training.session import (
    ITEM_CACHE,
    item_path,
    load_session,
    session_failures,
    trial_complete,
)
from podcast_assets.core.training.trial import Services, SpeechChecks, run_item
from podcast_assets.definitions import build_definitions, build_resources
from podcast_assets.defs.ingest import document_graph_path
from podcast_assets.defs.partitions import training_pairs
from podcast_assets.defs.sensors import aggregate_sensor, training_pairs_sensor
from podcast_assets.defs.training import current_profile, ensure_session, trial_results
from podcast_assets.defs.trial_items import PairRecords, Trainer, score_item, target_of, writing_services
from tests.conftest import PROJECT_ROOT, training_pair_dirs
from tests.dagster_helpers import make_config, run_requested, seeded_artifacts
from tests.fake_llm_server import FakeLLMServer, RecordedRequest, Reply, ok

MODEL = "gpt-4o-mini"
"""A model with a price (core/llm.py PRICES_PER_MTOK), so the fake usage figures cost money."""
TRAINING = {"validation_share": 0.5, "max_length_passes": 1}
USAGE = {  # (input, output) tokens each reply reports
    llm_tasks.WRITER_TASK: (3_000, 900),
    llm_typer.TYPING_TASK: (1_200, 150),
    llm_tasks.COVERAGE_TASK: (1_500, 80),
    llm_tasks.QUALITY_TASK: (80_000, 150),  # the paper is sent whole: the dearest call of an item
}
QUALITY = {
    "engagement": 64,
    "clarity": 71,
    "accuracy": 83,
    "suggestions": ["Ask the guest one more question."],
}


# --------------------------------------------------------------------------- the module's pairs and store


def reference_seconds(pair: Path) -> float:
    return probe_audio(find_audio(pair), max_seconds=7200).header_duration or float("inf")


@dataclass(frozen=True)
class World:
    pairs_dir: Path
    base: Path
    pair_ids: list[str]
    """The pair whose reference is shortest first (the one every test uses), then the next shortest."""
    writer_reply: dict
    """A script of the first pair's paper as the LLM writer answers it (the offline writer's: speakable)."""

    @property
    def pair(self) -> str:
        return self.pair_ids[0]

    def other_pair(self) -> str:
        if len(self.pair_ids) < 2:
            pytest.skip("needs two real pairs (../shared/data/pairs); only the bundled example is here")
        return self.pair_ids[1]

    def store_copy(self, tmp_path: Path) -> Path:
        """The prepared store copied for one test, hard-linked: the store replaces files, never edits them."""

        def link(src: str, dst: str) -> None:
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)

        return Path(shutil.copytree(self.base, tmp_path / "artifacts", copy_function=link))

    def config(self, artifacts: Path, llm_url: str | None = None, **training: object):
        llm = {"provider": "openai_compatible", "model": MODEL, "base_url": llm_url} if llm_url else {}
        return make_config(self.pairs_dir, artifacts, llm=llm, training={**TRAINING, **training})


@pytest.fixture(scope="module")
def world(tmp_path_factory, ingested) -> World:
    session_config, _ = ingested
    root = tmp_path_factory.mktemp("training-faults")
    pairs = sorted(training_pair_dirs(), key=reference_seconds)[:2]
    for pair in pairs:
        shutil.copytree(pair, root / "pairs" / pair.name)
    base = seeded_artifacts(root / "base", session_config.storage.root)
    config = make_config(root / "pairs", base, training=TRAINING)
    defs = build_definitions(config)
    with dg.instance_for_test() as instance:
        _, pair_runs = run_requested(defs, instance, training_pairs_sensor)
        _, aggregate_runs = run_requested(defs, instance, aggregate_sensor)
    assert all(r.success for r in [*pair_runs.values(), *aggregate_runs.values()])
    store = LocalArtifactStore(base)
    profile = load_current(store)
    pair_ids = [p.name for p in pairs]
    assert sorted(profile.pairs_used) == sorted(pair_ids)
    graph = store.read_model(document_graph_path(pair_ids[0]), DocumentGraph)
    version = config_library(config, store).get(REFINED, 1)
    offline = writer.write_script(
        graph, profile, version.settings, target_seconds=45, prompt_version=version.ref, pair_id=pair_ids[0]
    )
    reply = {
        "segments": [
            {"type": s.type, "speaker": s.speaker, "text": s.text, "figures": [], "concepts": s.concepts[:3]}
            for s in offline.segments
        ]
    }
    return World(root / "pairs", base, pair_ids, reply)


def config_library(config, store: LocalArtifactStore):
    return build_resources(config)["training"].library(store)


# --------------------------------------------------------------------------- the fake LLM, by task


def _system(request: RecordedRequest) -> str:
    return next(m["content"] for m in request.json()["messages"] if m["role"] == "system")


def task_of(request: RecordedRequest) -> str:
    system = _system(request)
    if system.startswith(llm_tasks.WRITER_SYSTEM):
        return llm_tasks.WRITER_TASK
    if system.startswith(llm_typer.SYSTEM_PROMPT):
        return llm_typer.TYPING_TASK
    if system.startswith(llm_tasks.JUDGE_SYSTEM):
        return llm_tasks.COVERAGE_TASK if '"title": "CoverageReply"' in system else llm_tasks.QUALITY_TASK
    raise AssertionError(f"unexpected request: {system[:80]}")


def schema_literals(request: RecordedRequest, prop: str) -> list[str]:
    """The values the reply schema sent with the request allows for property `prop` (its enum or const)."""
    schema = json.loads(_system(request).split("this JSON schema:\n", 1)[1])
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            spec = node.get("properties", {}).get(prop)
            if isinstance(spec, dict):
                found.extend(spec.get("enum", [spec["const"]] if "const" in spec else []))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return list(dict.fromkeys(found))


class ScriptedLLM:
    """Answers each request by its task (the system prompt says which): the writer with `writer_reply`, the
    segment typer and the coverage judge with the ids their schema asks for, the quality judge with QUALITY;
    usage figures from USAGE. `hooks[task]` runs before that task is answered (raising drops the request)."""

    def __init__(self, server: FakeLLMServer, writer_reply: dict):
        self.server = server
        self.writer_reply = writer_reply
        self.hooks: dict[str, Callable[[RecordedRequest], None]] = {}
        server.push(*[Reply(body=self._answer) for _ in range(200)])

    def _answer(self, request: RecordedRequest) -> bytes:
        task = task_of(request)
        if hook := self.hooks.get(task):
            hook(request)
        if task == llm_tasks.WRITER_TASK:
            text = json.dumps(self.writer_reply)
        elif task == llm_typer.TYPING_TASK:
            ids = schema_literals(request, "segment_id")
            types = ["intro", *["methodology"] * (len(ids) - 2), "conclusion"][: len(ids)]
            text = json.dumps(
                {"segments": [{"segment_id": i, "type": t, "confidence": 0.8} for i, t in zip(ids, types)]}
            )
        elif task == llm_tasks.COVERAGE_TASK:
            ids = schema_literals(request, "id")
            text = json.dumps(
                {"levels": [{"id": i, "level": 2 if n % 2 == 0 else 0} for n, i in enumerate(ids)]}
            )
        else:
            text = json.dumps(QUALITY)
        tokens_in, tokens_out = USAGE[task]
        reply = ok("openai", text, input_tokens=tokens_in, output_tokens=tokens_out)
        return reply.body  # type: ignore[return-value]

    def count(self, task: str, since: int = 0) -> int:
        return sum(task_of(r) == task for r in self.server.requests[since:])

    def cost(self, since: int = 0) -> float:
        """What the requests since `since` cost at the usage figures they were answered with."""
        return sum(cost_of(MODEL, *USAGE[task_of(r)]) for r in self.server.requests[since:])


# --------------------------------------------------------------------------- running a trial item


def materialize_trial(config, pair_id: str, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [trial_results], partition_key=pair_id, instance=instance, resources=build_resources(config),
        raise_on_error=False,
    )  # fmt: skip


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    return failure.step_failure_data.user_failure_data.description


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} if root.is_dir() else set()


def trainer_for(config) -> tuple[Trainer, TrainingSession]:
    """The Trainer trial_results builds, outside Dagster, and the (new or current) session."""
    resources = build_resources(config)
    store = LocalArtifactStore(config.storage.root)
    training = resources["training"]
    session = ensure_session(store, training)
    library = training.library(store)
    trainer = Trainer(
        store, current_profile(store), library, resources["asr"], resources["tts"], resources["llm"], training
    )
    return trainer, session


def score_pair(pairs_dir: str, artifacts: str, pair_id: str, llm_url: str) -> tuple[TrialItem, bool]:
    """score_item on the current trial of the session, as trial_results calls it. Also the child process's
    entry point in the kill test."""
    llm = {"provider": "openai_compatible", "model": MODEL, "base_url": llm_url}
    trainer, session = trainer_for(make_config(Path(pairs_dir), Path(artifacts), llm=llm, training=TRAINING))
    return score_item(
        trainer, PairRecords.load(trainer.store, pair_id), trial_id=session.current.trial_id,
        split=session.split[pair_id], version=trainer.library.get(REFINED, session.current.prompt_version),
        target_depth=session.target_depth,
    )  # fmt: skip


# --------------------------------------------------------------------------- spend cap (catalogue 17)


def test_the_spend_cap_from_config_stops_the_trial_and_keeps_the_finished_item(world, tmp_path):
    first_pair, second_pair = world.pair, world.other_pair()
    artifacts = world.store_copy(tmp_path)
    budget = 0.01
    assert cost_of(MODEL, *USAGE[llm_tasks.QUALITY_TASK]) > budget, "the quality judge's usage passes the cap"
    with FakeLLMServer() as server:
        llm = ScriptedLLM(server, world.writer_reply)
        config = world.config(artifacts, server.openai_url, budget_usd=budget)
        assert build_resources(config)["llm"].budget_usd == budget, (
            "training.budget_usd reaches the LLM resource"
        )
        with dg.instance_for_test() as instance:
            instance.add_dynamic_partitions(training_pairs.name, world.pair_ids)
            first = materialize_trial(config, first_pair, instance)
            asked = len(server.requests)
            second = materialize_trial(config, second_pair, instance)
        assert first.success, "the first item finishes: each of its calls was asked while under the cap"
        assert len(server.requests) == asked, "the call past the cap sent no request"
        assert llm.count(llm_tasks.WRITER_TASK) == llm.count(llm_tasks.COVERAGE_TASK) == 1
        assert llm.count(llm_tasks.QUALITY_TASK) == 1
        spent = llm.cost()

    error = failure_text(second)
    assert "script_writer: the LLM budget of $0.01 is used up" in error and "no request made" in error
    assert f"${spent:.4f} spent" in error and "raise budget_usd" in error
    store = LocalArtifactStore(artifacts)
    session = load_session(store)
    assert session_failures(store, session) == {"t001": {second_pair: error}}
    assert trial_complete(store, session, "t001"), "the failed pair counts as done: the summary can decide"
    assert not store.exists(item_path(session, "t001", second_pair))
    item = store.read_model(item_path(session, "t001", first_pair), TrialItem)
    assert item.llm_usd == pytest.approx(spent) and spent >= budget
    assert (item.details.coverage_method, item.details.quality_method) == ("llm-judge", "llm-judge")
    assert (item.details.engagement, item.details.clarity, item.details.accuracy) == (64, 71, 83)
    assert store.exists(item.audio_path) and store.read_model(item.script_path, Script).writer == (
        f"llm:openai_compatible/{MODEL}"
    )
    [mat] = first.asset_materializations_for_node("trial_results")
    assert mat.metadata["llm_usd"].value == pytest.approx(spent)


# --------------------------------------------------------------------------- schema errors: no audio


BAD_SCRIPTS = {
    "unknown segment type": lambda good: {"segments": [{**good["segments"][0], "type": "outro"}]},
    "no segments": lambda good: {"segments": []},
}


@pytest.mark.parametrize("case", list(BAD_SCRIPTS))
def test_a_script_reply_breaking_the_schema_fails_the_partition_before_any_audio(case, world, tmp_path):
    artifacts = world.store_copy(tmp_path)
    blobs_before = files_under(artifacts / "blobs")
    rejected_before = files_under(artifacts / "cache" / "llm" / "rejected")
    with FakeLLMServer() as server:
        llm = ScriptedLLM(server, BAD_SCRIPTS[case](world.writer_reply))
        config = world.config(artifacts, server.openai_url)
        with dg.instance_for_test() as instance:
            instance.add_dynamic_partitions(training_pairs.name, world.pair_ids)
            result = materialize_trial(config, world.pair, instance)
        assert [task_of(r) for r in server.requests] == [llm_tasks.WRITER_TASK] * 2, (
            "one ask, one re-ask, no judge"
        )
        assert llm.count(llm_typer.TYPING_TASK) == 0

    error = failure_text(result)
    assert "script_writer: the model's reply did not match ScriptReply after 2 ask(s)" in error
    assert "segments" in error and "read the kept reply" in error
    assert files_under(artifacts / "blobs") == blobs_before, "no audio (nor script) blob was written"
    assert files_under(artifacts / "tmp") == set(), "no audio left in the work folder"
    assert files_under(artifacts / "cache" / "trial_scripts") == set(), "the refused script is not kept"
    store = LocalArtifactStore(artifacts)
    session = load_session(store)
    assert session_failures(store, session) == {"t001": {world.pair: error}}
    assert not store.exists(item_path(session, "t001", world.pair))
    [rejected] = files_under(artifacts / "cache" / "llm" / "rejected") - rejected_before
    kept = (artifacts / "cache" / "llm" / "rejected" / rejected).read_text()
    assert kept.count("--- ask") == 2, "both bad replies are kept for the user to read"


# ----------------------------------------------------------------------- kill while judging (catalogue 18)


def test_a_run_killed_while_the_quality_judge_is_asked_resumes_from_the_caches(world, tmp_path):
    artifacts = world.store_copy(tmp_path)
    before = {
        kind: files_under(artifacts / "cache" / kind)
        for kind in ("llm", "trial_scripts", "trial_speech", "trial_transcripts", ITEM_CACHE)
    }
    blobs_before = files_under(artifacts / "blobs")
    with FakeLLMServer() as server:
        llm = ScriptedLLM(server, world.writer_reply)
        child: dict[str, subprocess.Popen] = {}

        def kill(request: RecordedRequest) -> None:
            """The quality judge's request has arrived: SIGKILL the run before it gets any answer."""
            child["run"].send_signal(signal.SIGKILL)
            child["run"].wait()
            del llm.hooks[llm_tasks.QUALITY_TASK]
            raise ConnectionAbortedError("the client was killed")

        llm.hooks[llm_tasks.QUALITY_TASK] = kill
        args = json.dumps([str(world.pairs_dir), str(artifacts), world.pair, server.openai_url])
        code = (
            "import json, sys; from tests.test_training_faults import score_pair; "
            "score_pair(*json.loads(sys.argv[1]))"
        )
        with open(tmp_path / "child.log", "wb") as log:
            child["run"] = subprocess.Popen(
                [sys.executable, "-c", code, args], cwd=PROJECT_ROOT, stdout=log, stderr=log
            )
            returncode = child["run"].wait(timeout=600)
        assert returncode == -signal.SIGKILL, (tmp_path / "child.log").read_text()[-3000:]

        killed = {task: llm.count(task) for task in USAGE}
        assert (
            killed[llm_tasks.WRITER_TASK]
            == killed[llm_tasks.COVERAGE_TASK]
            == killed[llm_tasks.QUALITY_TASK]
            == 1
        )
        new = {kind: files_under(artifacts / "cache" / kind) - before[kind] for kind in before}
        received = len(server.requests) - 1  # every reply but the quality judge's arrived and was cached
        assert len([f for f in new["llm"] if not f.startswith("rejected")]) == received
        assert len(new["trial_scripts"]) == 1, "the written script was kept"
        assert new[ITEM_CACHE] == set(), "the judged item is absent, not half made"
        assert len(new["trial_speech"]) == 1 and len(new["trial_transcripts"]) == 1, (
            "speech and round trip kept"
        )
        [spoken_audio] = files_under(artifacts / "blobs") - blobs_before
        assert spoken_audio.endswith(".mp3"), (
            "the only new blob is the whole spoken audio, stored before judging"
        )
        store = LocalArtifactStore(artifacts)
        session = load_session(store)
        assert not store.exists(item_path(session, "t001", world.pair))

        asked = len(server.requests)
        item, cached = score_pair(str(world.pairs_dir), str(artifacts), world.pair, server.openai_url)
        resumed = {task: llm.count(task, since=asked) for task in USAGE}
        assert not cached
        audio_blobs = {f for f in files_under(artifacts / "blobs") - blobs_before if f.endswith(".mp3")}
        assert audio_blobs == {spoken_audio}, "not spoken again"
        assert resumed[llm_tasks.WRITER_TASK] == 0, (
            "the script came from the cache: the writer was not paid twice"
        )
        assert resumed[llm_tasks.COVERAGE_TASK] == 0, "the coverage judgement came from the reply cache"
        assert resumed[llm_tasks.QUALITY_TASK] == 1, "the reply lost with the killed run is asked again"
        # The speech and its round-trip transcript come from the caches, so the typer's question is the same
        # one and is answered from the reply cache: no question whose answer arrived is asked again.
        assert task_of(server.requests[asked - 1]) == llm_tasks.QUALITY_TASK
        answered = {r.body for r in server.requests[: asked - 1]}
        assert not [task_of(r) for r in server.requests[asked:] if r.body in answered]
        assert item.llm_usd == pytest.approx(llm.cost(since=asked)), (
            "replies served from the cache cost nothing"
        )
        assert item.llm_usd < llm.cost(), "the resumed item paid less than a whole item"
        assert (item.details.quality_method, item.details.engagement) == ("llm-judge", 64)

        again, cached = score_pair(str(world.pairs_dir), str(artifacts), world.pair, server.openai_url)
        assert cached and again.key == item.key and len(server.requests) == asked + sum(resumed.values())


# --------------------------------------------------------------------------- a paper with no key concepts


def test_a_paper_with_no_key_concepts_fails_its_partition_and_no_other(world, tmp_path):
    other = world.other_pair()
    artifacts = world.store_copy(tmp_path)
    store = LocalArtifactStore(artifacts)
    graph = store.read_model(document_graph_path(world.pair), DocumentGraph)
    store.write_model(document_graph_path(world.pair), graph.model_copy(update={"key_concepts": []}))
    config = world.config(artifacts)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(training_pairs.name, world.pair_ids)
        failed = materialize_trial(config, world.pair, instance)
        scored = materialize_trial(config, other, instance)

    error = failure_text(failed)
    assert "the paper has no key concepts, so concept coverage cannot be scored" in error
    assert "replace the PDF with one that has a text layer" in error
    assert scored.success
    session = load_session(store)
    assert session_failures(store, session) == {"t001": {world.pair: error}}
    assert trial_complete(store, session, "t001")
    item = store.read_model(item_path(session, "t001", other), TrialItem)
    assert item.details.concepts_covered or item.details.concepts_missed, (
        "the other pair was scored on its concepts"
    )


# --------------------------------------------------------------------------- a hand-edited script


def test_a_hand_edited_script_is_spoken_and_scored_without_writing(world, tmp_path):
    config = world.config(world.store_copy(tmp_path))
    trainer, session = trainer_for(config)
    pair = PairRecords.load(trainer.store, world.pair)
    version = trainer.library.get(REFINED, session.current.prompt_version)
    depth, _ = target_of(trainer.profile, session.target_depth, pair.reference.duration)
    concepts = trainer.profile.depth_targets[depth].key_concepts
    write, refit, speak = writing_services(
        trainer,
        pair.graph,
        version,
        target_seconds=45,
        depth=depth,
        concepts=[],
        pair_id=world.pair,
        calls=None,
    )
    written = write()
    edited_line = "Here is a sentence the editor added by hand to explain the method in plain words."
    kept = written.segments[:3]
    edited = written.model_copy(
        update={"segments": [*kept[:-1], ScriptSegment(**{**kept[-1].model_dump(), "text": edited_line})]}
    )
    writes: list[int] = []

    def must_not_write() -> Script:
        writes.append(1)
        return write()

    settings = trainer.training.settings()
    services = Services(
        write=must_not_write,
        refit=refit,
        speak=speak,
        transcribe=lambda audio: trainer.asr.transcribe(audio),
        analyse=lambda transcript: analyse_and_type(world.pair, transcript, pair.graph),
        judge_coverage=None,
        judge_quality=None,
        score=lambda *, script, spoken, spoken_seconds, spoken_segments, coverage, quality: scoring.score(
            script_text=script.text, writer_types=[s.type for s in script.segments], spoken=spoken,
            spoken_seconds=spoken_seconds, spoken_segments=spoken_segments,
            reference_seconds=pair.reference.duration, reference_segments=pair.reference_segments,
            reference_text=pair.reference.text, graph=pair.graph, style=trainer.profile.style_variants["all"],
            weights=trainer.training.weights(), key_concepts=concepts, coverage=coverage, quality=quality,
        ),
    )  # fmt: skip
    pace = version.settings.words_per_minute
    checks = SpeechChecks(
        target_seconds=edited.word_count / pace * 60, tolerance=settings.length_tolerance,
        max_passes=settings.max_length_passes, max_wer=settings.max_round_trip_wer, words_per_minute=pace,
    )  # fmt: skip
    outcome = run_item(
        services,
        checks,
        work_dir=tmp_path,
        store=trainer.store,
        key="hand-edited",
        audio_format="mp3",
        script=edited,
    )
    assert writes == [], "the writer was not called"
    assert outcome.script == edited and outcome.speech.script_words == edited.word_count
    assert trainer.store.exists(outcome.audio_path) and outcome.speech.audio_seconds > 0
    heard = outcome.transcript.text.lower()
    assert "editor added by hand" in heard, "the edited text is what was spoken"
    assert outcome.speech.round_trip_wer <= settings.max_round_trip_wer
    assert 0 <= outcome.losses.total and outcome.details.quality_method == "rubric"
    assert not trainer.store.exists("cache/trial_scripts/hand-edited.json"), "not cached as a written script"
