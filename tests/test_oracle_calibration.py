"""The oracle's calibration and labelling assets on the real hand-labelled pairs, with the real SDK talking to the
loopback fake LLM, scripted to mislabel one type (FAIL, naming it) or to agree with the hand labels (PASS, then a
fresh round passes and only then may the oracle label every segment)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml

from podcast_assets.cli import main
from podcast_assets.core.analysis.alignment import analyse_pair
from podcast_assets.core.analysis.evidence import SegmentEvidence
from podcast_assets.core.analysis.models import AlignedSegments
from podcast_assets.core.analysis.typer_export import OnnxTyper, TyperCard
from podcast_assets.core.ingest.models import DocumentGraph
from podcast_assets.core.oracle import calibration as cal
from podcast_assets.core.oracle.labelling import OracleLabels
from podcast_assets.core.storage import LocalArtifactStore
from podcast_assets.definitions import build_resources
from podcast_assets.defs.analysis import aligned_segments_path
from podcast_assets.defs.ingest import document_graph_path, transcription_path
from podcast_assets.defs.oracle import CALIBRATION_CHECK, distilled_models, oracle_calibration, oracle_labels
from podcast_assets.defs.partitions import training_pairs
from podcast_assets.resources.oracle import OracleSettingsResource
from tests.dagster_helpers import make_config
from tests.fake_llm_server import FakeLLMServer, RecordedRequest, Reply, ok
from tests.test_llm_analysis import resources_with_llm

LABELS = cal.labelled_pairs(Path(__file__).parent / "data")


@pytest.fixture
def labelled_project(real_pairs, ingested, tmp_path):
    """A store of this test's own with the aligned segments of every real pair that has hand labels, and a labels
    folder with those pairs' labels. Returns (config, {segment text: its hand label})."""
    config, _ = ingested
    pairs = sorted(set(real_pairs) & set(LABELS))
    if not pairs:
        pytest.skip("no real pair with hand labels in tests/data was ingested")
    store = LocalArtifactStore(tmp_path / "artifacts")
    shared = LocalArtifactStore(config.storage.root)
    labels_dir = tmp_path / "labels"
    labels_dir.mkdir()
    truth = {}
    for pair_id in pairs:
        for rel in (document_graph_path(pair_id), transcription_path(pair_id)):
            store.write_bytes(rel, shared.read_bytes(rel))
        segments = analyse_pair(pair_id, *real_pairs[pair_id])
        store.write_model(aligned_segments_path(pair_id), segments)
        shutil.copy(LABELS[pair_id], labels_dir / LABELS[pair_id].name)
        spans = [(lb.start, lb.end, lb.type) for lb in cal.load_labels(LABELS[pair_id])]
        truth.update({s.text: cal.covering_label(s.start, s.end, spans)[0] for s in segments.segments})
    own = make_config(config.pairs_dir, store.root, oracle={"labels_dir": str(labels_dir), "sample": 40,
                      "segment_typing": {"min_support": 2}})  # fmt: skip
    return own, pairs, truth


def scripted(truth: dict[str, str], wrong: dict[str, str]) -> Reply:
    """A reply typing each segment of the prompt as its hand label, or `wrong[label]` for those labels (read when
    the request comes: the test changes it between runs)."""

    def body(request: RecordedRequest) -> bytes:
        prompt = request.json()["messages"][-1]["content"]
        found = re.findall(r"\[(s\d{3})\] [\d.]+-[\d.]+ s of [\d.]+ s\n(.*?)(?=\n\n\[s\d{3}\]|\n<<<END)", prompt, re.S)
        said = [(i, truth.get(text, "methodology")) for i, text in found]
        reply = {"segments": [{"segment_id": i, "type": wrong.get(t, t), "confidence": 0.9} for i, t in said]}
        return ok("openai", json.dumps(reply), input_tokens=900, output_tokens=120).body

    return Reply(body=body)


def run(asset, resources, instance, **config):
    return dg.materialize([asset], instance=instance, resources=resources, raise_on_error=False,
                          run_config={"ops": {asset.key.path[-1]: {"config": config}}})  # fmt: skip


def test_calibration_fails_naming_the_mislabelled_type_then_passes_and_gates_labelling(
    labelled_project, tmp_path, monkeypatch, capsys
):
    config, pairs, truth = labelled_project
    with FakeLLMServer() as server, dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(training_pairs.name, pairs)
        resources = resources_with_llm(config, server, "openai", tmp_path / "llm-cache")
        resources["oracle"] = OracleSettingsResource.from_config(config)
        wrong = {"methodology": "key_finding"}
        server.push(*[scripted(truth, wrong)] * 60)
        failed = run(oracle_calibration, resources, instance, seed=0)
        [check] = failed.get_asset_check_evaluations()
        assert failed.success and check.check_name == CALIBRATION_CHECK and not check.passed
        assert "FAIL" in check.description and "mislabels methodology" in check.description

        before = len(server.requests)
        refused = run(oracle_labels, resources, instance)
        assert not refused.success and len(server.requests) == before, "no labelling call before calibration passed"
        step = next(e for e in refused.all_events if e.is_step_failure)
        assert "may not label at scale" in step.step_failure_data.user_failure_data.description

        wrong.clear()
        passed = run(oracle_calibration, resources, instance, seed=1)
        fresh = run(oracle_calibration, resources, instance, seed=2, fresh=True)
        for result in (passed, fresh):
            [check] = result.get_asset_check_evaluations()
            assert check.passed, check.description
        [mat] = fresh.asset_materializations_for_node("oracle_calibration")
        assert mat.metadata["may_label_at_scale"].value is True and mat.metadata["round"].value == "fresh"

        labelled = run(oracle_labels, resources, instance)
        assert labelled.success

        # the command line says the same, with its exit status, from a settings file
        wrong["methodology"] = "key_finding"
        settings = config.model_dump(mode="json", exclude={"source"})
        settings["llm"] = {"provider": "openai_compatible", "model": "fake-model", "base_url": server.base_url("openai")}
        path = tmp_path / "configs" / "pipeline.yaml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(yaml.safe_dump(settings))
        monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
        capsys.readouterr()
        assert main(["--config", str(path), "oracle", "calibrate", "--seed", "5"]) == 1
        out = capsys.readouterr().out
        assert "calibration round, seed 5: FAIL" in out and "the oracle mislabels methodology" in out
        assert re.search(r"s\d{3}.*: methodology -> key_finding", out), "the disagreements are listed"
    store = LocalArtifactStore(config.storage.root)
    reports = sorted(store.list("oracle/segment_typing/segment_typing-v1"))
    rounds = [store.read_model(r, cal.CalibrationReport) for r in reports if r.endswith(".json")]
    assert [r.verdict for r in rounds] == ["FAIL", "PASS", "PASS", "FAIL"]
    assert not set(rounds[2].sample) & set(rounds[1].sample), "the fresh sample is disjoint from the calibration one"
    assert all(r.usage.calls >= 1 for r in rounds) and rounds[0].usage.cost_usd is None  # fake-model has no price
    [labels_rel] = [r for r in store.list("oracle/segment_typing/labels") if r.endswith(".json")]
    made = store.read_model(labels_rel, OracleLabels)
    assert len(made.labels) == len(truth), "every segment of every labelled pair"
    assert {lb.split for lb in made.labels} == {"train", "validation", "test"} or len(made.labels) < 10
    assert sum(lb.type == truth[lb.text] for lb in made.labels) == len(made.labels)


def test_the_distilled_typer_is_evaluated_exported_to_onnx_and_labels_as_scikit_learn_does(labelled_project):
    config, pairs, truth = labelled_project
    if len(pairs) < 2:
        pytest.skip("leave-one-pair-out needs two hand-labelled real pairs (../shared/data/pairs)")
    resources = build_resources(config)
    with dg.instance_for_test() as instance:
        result = dg.materialize([distilled_models], instance=instance, resources=resources)
    [mat] = result.asset_materializations_for_node("distilled_models")
    [check] = result.get_asset_check_evaluations()
    assert check.passed, check.description
    meta = {k: v.value for k, v in mat.metadata.items()}
    assert meta["pairs"] == len(pairs) and meta["segments"] == len(truth)
    assert "data:image/png;base64," in meta["confusion"], "the confusion matrix is a picture in the UI"
    assert meta["beats_cue_typer"] == (meta["learned_typer_accuracy"] > meta["cue_typer_accuracy"])
    store = LocalArtifactStore(config.storage.root)
    card = store.read_model(str(Path(meta["path"]).relative_to(config.storage.root)), TyperCard)
    onnx = store.read_bytes(str(Path(meta["path"]).with_name("model.onnx").relative_to(config.storage.root)))
    assert card.parity_segments == len(truth) and sorted(card.trained_on) == pairs
    served = OnnxTyper.load(onnx, card)
    [held] = [f for f in card.evaluation.folds if f.pair_id == pairs[0]]
    assert 0.0 <= held.learned <= 1.0 and held.segments > 0
    evidence = store.read_model(aligned_segments_path(pairs[0]), AlignedSegments).segments
    assert len(served([SegmentEvidence(id=s.id, start=s.start, end=s.end, text=s.text, audio_duration=evidence[-1].end)
                       for s in evidence], store.read_model(document_graph_path(pairs[0]), DocumentGraph)).labels) == len(evidence)

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{store.path('mlflow/mlflow.db')}")
    [run] = client.search_runs([client.get_experiment_by_name("podcast-assets").experiment_id])
    assert run.data.tags["model_sha256"] == card.model_sha256, "the model's training is logged to MLflow"
    assert run.data.metrics["learned_accuracy"] == pytest.approx(card.evaluation.learned)
    assert {a.path for a in client.list_artifacts(run.info.run_id)} == {"card.json", "confusion.png"}


@pytest.mark.parametrize(("given", "says"), [("0", "at least 1 segment, not 0"), ("-3", "not -3"), ("x", "not a whole number")])
def test_a_sample_of_no_segments_is_refused_before_anything_runs(given, says, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["oracle", "calibrate", "--sample", given])
    assert stopped.value.code == 2 and says in capsys.readouterr().err
