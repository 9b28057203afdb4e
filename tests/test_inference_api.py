"""The inference API (POST /api/type-segments, POST /api/judge) served by a real uvicorn server on 127.0.0.1 over
an artifact store holding real pairs' papers, their references' segments and a profile learned from them: the
answers are the pipeline's own (the same types, the same rubric scores), a distilled ONNX typer is served when
asked for, bad requests say what to send, and no page token is needed where nothing changes."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from podcast_assets.core.analysis.aggregate import learn_aggregated_profile
from podcast_assets.core.analysis.alignment import analyse_pair, segment_evidence
from podcast_assets.core.analysis.learned_typer import Evaluation, fit
from podcast_assets.core.analysis.profile_store import publish
from podcast_assets.core.analysis.profiles import structure_profile, style_profile
from podcast_assets.core.analysis.selection import PairRecords, Selection
from podcast_assets.core.analysis.typer_export import (
    ONNX_TYPER,
    OnnxTyper,
    card_for,
    export_onnx,
    typer_folder,
)
from podcast_assets.core.config import PipelineConfig
from podcast_assets.core.review.store import ReviewStore
from podcast_assets.core.storage import LocalArtifactStore, pair_record_path
from podcast_assets.core.training.rubric import quality_rubric
from podcast_assets.web.review_app import create_app
from tests.test_review_api import serving


@pytest.fixture(scope="module")
def served_store(real_pairs, tmp_path_factory):
    """An artifact store as the pipeline leaves it: each real pair's paper and analysed reference, and the
    aggregated profile learned from them. (store, {pair_id: (transcription, graph, segments)})."""
    store = LocalArtifactStore(tmp_path_factory.mktemp("served"))
    pairs = {}
    for pair_id, (transcription, graph) in sorted(real_pairs.items()):
        segments = analyse_pair(pair_id, transcription, graph)
        store.write_model(pair_record_path(pair_id, "document_graph"), graph)
        store.write_model(pair_record_path(pair_id, "aligned_segments"), segments)
        pairs[pair_id] = (transcription, graph, segments)
    records = [
        PairRecords(s, structure_profile(s, t), style_profile(s, t)) for t, _, s in pairs.values()
    ]
    publish(store, learn_aggregated_profile(Selection(used=records), depths=PipelineConfig().depth_targets,
                                            version=1, created_at=datetime.now(UTC).isoformat()))  # fmt: skip
    return store, pairs


@pytest.fixture
def api(served_store, tmp_path):
    store, pairs = served_store
    with serving(create_app(ReviewStore(tmp_path / "review.sqlite"), artifacts=store)) as url:
        yield url, store, pairs


def _posted(segments) -> list[dict]:
    return [{"start": s.start, "end": s.end, "text": s.text} for s in segments]


def test_types_are_the_pipelines_and_need_no_token(api):
    url, _store, pairs = api
    pair_id, (transcription, _graph, segments) = next(iter(pairs.items()))
    body = {"segments": _posted(segments.segments), "pair": pair_id, "duration": transcription.duration}
    answer = httpx.post(f"{url}/api/type-segments", json=body, timeout=120)  # no X-Review-Token, no Origin
    assert answer.status_code == 200, answer.text
    typed = answer.json()
    assert typed["typer"] == segments.classifier and typed["model_sha256"] is None  # auto: no distilled typer yet
    assert [s["type"] for s in typed["segments"]] == [s.type for s in segments.segments]
    assert all(0 <= s["confidence"] <= 1 and s["scores"] for s in typed["segments"])
    unaligned = httpx.post(f"{url}/api/type-segments", json={"segments": body["segments"]}, timeout=120)
    assert unaligned.status_code == 200 and len(unaligned.json()["segments"]) == len(segments.segments)
    # the exemption is for the inference paths only: a change still needs the page's token
    assert httpx.put(f"{url}/api/entries/1", json={"text": "x", "version": 1}).status_code == 403


def test_the_judge_is_the_rubric_a_trial_scores_with(api):
    url, store, pairs = api
    (own_id, (own, graph, reference)), (other_id, (other, _, _)) = list(pairs.items())[:2] if len(pairs) > 1 else (
        pytest.skip("judging another paper's podcast needs two real pairs (../shared/data/pairs)"))  # fmt: skip
    posted = [{"start": s.start, "end": s.end, "text": s.text, "speaker": s.speaker,
               "words": [{"word": w.word, "start": w.start, "end": w.end} for w in s.words]} for s in own.segments]  # fmt: skip
    answer = httpx.post(f"{url}/api/judge", json={"pair": own_id, "segments": posted, "duration": own.duration},
                        timeout=300)  # fmt: skip
    assert answer.status_code == 200, answer.text
    judged = answer.json()
    from podcast_assets.core.analysis.profile_store import load_current

    style = load_current(store).style_variants["all"]
    expected = quality_rubric(script_text=own.text, spoken=own, spoken_segments=analyse_pair(own_id, own, graph),
                              graph=graph, style=style, reference_segments=reference)  # fmt: skip
    assert judged["judge"] == "rubric"
    assert (judged["engagement"], judged["clarity"], judged["accuracy"]) == pytest.approx(
        (expected.engagement, expected.clarity, expected.accuracy), abs=1e-6
    )
    # another paper's podcast, judged against this paper, is less accurate (its claims are not this paper's)
    theirs = [{"start": s.start, "end": s.end, "text": s.text} for s in other.segments]
    against = httpx.post(f"{url}/api/judge", json={"pair": own_id, "segments": theirs}, timeout=300).json()
    assert against["accuracy"] < judged["accuracy"], (own_id, other_id, against["accuracy"], judged["accuracy"])


def test_a_distilled_typer_is_served_when_asked_for(api):
    url, store, pairs = api
    pair_id, (transcription, graph, segments) = next(iter(pairs.items()))
    body = {"segments": _posted(segments.segments), "pair": pair_id, "duration": transcription.duration}
    missing = httpx.post(f"{url}/api/type-segments", json={**body, "typer": "distilled"}, timeout=120)
    assert missing.status_code == 404 and "distilled_models" in missing.json()["detail"]

    spans = [(s.start, s.end, s.text) for s in segments.segments]
    evidence = segment_evidence(spans, graph, duration=transcription.duration)
    typer = fit([(evidence, graph, [s.type for s in segments.segments])])
    onnx = export_onnx(typer)
    card = card_for(typer, onnx, trained_on={pair_id: "test"}, segments=len(evidence),
                    evaluation=Evaluation(folds=[], cue=0.5, learned=0.4, majority=0.3, macro_f1=0.2,
                                          cue_macro_f1=0.3, per_type=[], confusion_seconds={}),
                    beats_cue_typer=False, parity_segments=len(evidence), created_at=datetime.now(UTC).isoformat())  # fmt: skip
    folder = typer_folder(card.model_sha256)
    store.write_bytes(f"{folder}/model.onnx", onnx)
    store.write_model(f"{folder}/card.json", card)
    try:
        served = httpx.post(f"{url}/api/type-segments", json={**body, "typer": "distilled"}, timeout=120).json()
        assert served["typer"] == ONNX_TYPER and served["model_sha256"] == card.model_sha256
        direct = OnnxTyper.load(onnx, card)(evidence, graph)
        assert [s["type"] for s in served["segments"]] == [label.type for label in direct.labels]
        # auto keeps the cue typer, since this card did not beat it leave-one-pair-out
        auto = httpx.post(f"{url}/api/type-segments", json=body, timeout=120).json()
        assert auto["typer"] == segments.classifier
    finally:
        for rel in store.list("models"):
            store.delete(rel)


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"segments": []}, 422, "no segments posted"),
        ({"segments": [{"start": 5, "end": 9, "text": "b"}, {"start": 1, "end": 4, "text": "a"}]}, 422, "time order"),
        ({"segments": [{"start": 0, "end": 3, "text": "  "}]}, 422, "has no text"),
        ({"segments": [{"start": 0, "end": 3, "text": "a"}], "pair": "../etc"}, 422, "not allowed"),
        ({"segments": [{"start": 0, "end": 3, "text": "a"}], "pair": "no-such-pair"}, 404, "no document_graph"),
        ({"segments": [{"start": 0, "end": 3, "text": "a"}], "duration": 1}, 422, "ends before the last segment"),
        ({"segments": "text"}, 422, "list"),
    ],
)
def test_bad_requests_say_what_to_send(api, body, status, says):
    url, _store, _pairs = api
    answer = httpx.post(f"{url}/api/type-segments", json=body, timeout=60)
    assert answer.status_code == status, answer.text
    assert says in str(answer.json()["detail"])


def test_the_judge_needs_a_profile(real_pairs, tmp_path):
    pair_id, (transcription, graph) = next(iter(real_pairs.items()))
    store = LocalArtifactStore(tmp_path / "artifacts")
    store.write_model(pair_record_path(pair_id, "document_graph"), graph)
    store.write_model(pair_record_path(pair_id, "aligned_segments"), analyse_pair(pair_id, transcription, graph))
    with serving(create_app(ReviewStore(tmp_path / "review.sqlite"), artifacts=store)) as url:
        answer = httpx.post(f"{url}/api/judge", json={"pair": pair_id, "segments": [
            {"start": 0, "end": 4, "text": "Welcome to the show."}]}, timeout=60)  # fmt: skip
    assert answer.status_code == 404 and "train --no-trials" in answer.json()["detail"]
