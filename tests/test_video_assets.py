"""The video assets on every real pair: visual_alignments and sync_qa in each pair's run, the sync check, and
`videos` rendered on demand, read back whole, with the figure on screen where the podcast discusses it."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import dagster as dg
import pytest

from podcast_assets.core.ingest.models import DocumentGraph
from podcast_assets.core.storage import LocalArtifactStore
from podcast_assets.core.video.alignment import shifted
from podcast_assets.core.video.models import SyncReport, VisualAlignment
from podcast_assets.core.video.probe import frame_at, probe
from podcast_assets.core.video.render import MAX_AV_GAP_S
from podcast_assets.core.video.sources import alignment_path, sync_report_path
from podcast_assets.definitions import build_definitions
from podcast_assets.defs.jobs import PAIR_JOB_NAME, VIDEO_JOB_NAME
from podcast_assets.defs.video import SYNC_CHECK
from tests.conftest import training_pair_dirs
from tests.core.test_video_alignment import SHIFT_S
from tests.core.test_video_render import figure_similarity
from tests.dagster_helpers import make_config, seeded_artifacts

SMALL = {"width": 320, "height": 180, "fps": 10, "fade_seconds": 0.3, "preset": "ultrafast"}


def _metadata(result: dg.ExecuteInProcessResult, node: str) -> dict:
    [mat] = result.asset_materializations_for_node(node)
    return {k: getattr(v, "value", v) for k, v in mat.metadata.items()}


def _check(result: dg.ExecuteInProcessResult):
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.check_name == SYNC_CHECK]
    return evaluation


@pytest.fixture(scope="module")
def pairs_run(tmp_path_factory, ingested):
    """Every real pair through its pair run (served from the session's caches up to the analysis)."""
    session_config, _ = ingested
    root = tmp_path_factory.mktemp("video")
    pairs = training_pair_dirs()
    for pair in pairs:
        shutil.copytree(pair, root / "pairs" / pair.name)
    artifacts = seeded_artifacts(root / "artifacts", session_config.storage.root)
    defs = build_definitions(make_config(root / "pairs", artifacts, video=SMALL))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("training_pairs", [p.name for p in pairs])
        job = defs.resolve_job_def(PAIR_JOB_NAME)
        runs = {p.name: job.execute_in_process(partition_key=p.name, instance=instance, raise_on_error=False)
                for p in pairs}  # fmt: skip
        yield {"defs": defs, "instance": instance, "store": LocalArtifactStore(artifacts), "runs": runs}


def test_each_pair_run_aligns_visuals_and_checks_their_sync(pairs_run):
    print()
    for pair_id, run in pairs_run["runs"].items():
        assert run.success, pair_id
        store = pairs_run["store"]
        alignment = store.read_model(alignment_path(pair_id), VisualAlignment)
        report = store.read_model(sync_report_path(pair_id), SyncReport)
        meta = _metadata(run, "sync_qa")
        print(f"{pair_id}: sync score {report.sync_score:.1f}, coverage {report.visual_coverage:.3f}, "
              f"quotes {report.quote_timing_accuracy}, figures {report.figure_timing_accuracy} of "
              f"{report.figure_mentions}, {len(report.desync_points)} desync points")  # fmt: skip
        assert meta["sync_score"] == report.sync_score and report.source == alignment.source == "reference"
        assert _check(run).passed, (pair_id, report)
        assert "data:image/png;base64," in _metadata(run, "visual_alignments")["storyboard"]
        assert "data:image/png;base64," in meta["storyboard"]
    assert "videos" not in {
        key.to_user_string()
        for key in pairs_run["defs"].resolve_job_def(PAIR_JOB_NAME).asset_layer.executable_asset_keys
    }, "rendering is on demand, never part of a new pair's run"


def test_the_same_alignment_10_s_late_fails_the_sync_check(pairs_run):
    defs, instance, store = pairs_run["defs"], pairs_run["instance"], pairs_run["store"]
    pair_id = next(iter(pairs_run["runs"]))
    good = store.read_model(sync_report_path(pair_id), SyncReport)
    store.write_model(
        alignment_path(pair_id), shifted(store.read_model(alignment_path(pair_id), VisualAlignment), SHIFT_S)
    )
    result = dg.materialize(
        [a for a in defs.assets if getattr(a, "key", None) == dg.AssetKey("sync_qa")],
        partition_key=pair_id, instance=instance, resources=defs.resources,
    )  # fmt: skip
    late = store.read_model(sync_report_path(pair_id), SyncReport)
    evaluation = _check(result)
    assert not evaluation.passed and "reference" in evaluation.description
    assert late.sync_score <= good.sync_score - 20 and len(late.desync_points) > len(good.desync_points)
    # put the real alignment back for the render test
    job = defs.resolve_job_def(PAIR_JOB_NAME)
    assert job.execute_in_process(partition_key=pair_id, instance=instance).success


def test_rendered_videos_are_whole_and_show_each_figure_when_it_is_discussed(pairs_run):
    defs, instance, store = pairs_run["defs"], pairs_run["instance"], pairs_run["store"]
    job = defs.resolve_job_def(VIDEO_JOB_NAME)
    figures_checked = 0
    print()
    for pair_id in pairs_run["runs"]:
        result = job.execute_in_process(partition_key=pair_id, instance=instance)
        meta = _metadata(result, "videos")
        path = Path(meta["path"])
        media = probe(path)
        alignment = store.read_model(alignment_path(pair_id), VisualAlignment)
        print(f"{pair_id}: {media.video_seconds:.2f} s video, {media.audio_seconds:.2f} s audio, "
              f"{meta['video_seconds_per_render_second']} s of video per second, cues {meta['cues_shown']}")  # fmt: skip
        assert media.codec == "h264" and (media.width, media.height) == (SMALL["width"], SMALL["height"])
        assert abs(media.video_seconds - media.audio_seconds) <= MAX_AV_GAP_S, pair_id
        assert abs(media.audio_seconds - alignment.duration) <= 0.5, pair_id
        assert "data:image/png;base64," in meta["frames"]
        vtt, srt = Path(meta["captions_webvtt"]), Path(meta["captions_srt"])  # beside the video, from its words
        assert vtt.read_text().startswith("WEBVTT") and vtt.with_suffix(".mp4") == path and meta["captions"] > 0
        assert srt.read_text().count(" --> ") == meta["captions"]
        graph = store.read_model(f"training_pairs/{pair_id}/document_graph.json", DocumentGraph)
        images = {f.id: store.path(f.image_path) for f in graph.figures}
        size = (SMALL["width"], SMALL["height"])
        for cue in (c for c in alignment.cues if c.kind == "figure"):
            at = cue.start + SMALL["fade_seconds"] + 0.15  # the mention, once the cross-fade is over
            frame, progress = frame_at(path, at), (at - cue.start) / cue.duration
            scores = {
                fid: figure_similarity(frame, png, size, cue.motion, progress) for fid, png in images.items()
            }
            assert max(scores, key=scores.get) == cue.figure_id, (pair_id, cue, scores)
            assert scores[cue.figure_id] > 0.8, (pair_id, cue, scores[cue.figure_id])
            figures_checked += 1
        again = _metadata(job.execute_in_process(partition_key=pair_id, instance=instance), "videos")
        assert again["rendered_now"] is False and again["path"] == meta["path"], (
            "served from the render cache"
        )
    if not figures_checked:
        pytest.skip("no real podcast discusses a figure (the synthetic render test covers figure frames)")


def test_ffprobe_agrees_that_each_video_is_whole(pairs_run):
    """The same check with ffprobe itself (Debian's ffmpeg, which .ci/run installs): every packet counted,
    the audio and video streams of equal length within 0.1 s, as PyAV read them."""
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        pytest.skip(
            "ffprobe is not installed (Debian's ffmpeg package; .ci/run installs it); PyAV checked the files"
        )
    defs, instance = pairs_run["defs"], pairs_run["instance"]
    job = defs.resolve_job_def(VIDEO_JOB_NAME)
    for pair_id in pairs_run["runs"]:
        path = _metadata(job.execute_in_process(partition_key=pair_id, instance=instance), "videos")["path"]
        out = subprocess.run(
            [ffprobe, "-v", "error", "-count_packets", "-show_entries",
             "stream=codec_type,codec_name,duration,nb_read_packets", "-of", "json", path],
            capture_output=True, text=True, check=True, timeout=120,
        )  # fmt: skip
        streams = {s["codec_type"]: s for s in json.loads(out.stdout)["streams"]}
        video, audio = streams["video"], streams["audio"]
        assert video["codec_name"] == "h264" and audio["codec_name"] == "aac", pair_id
        assert abs(float(video["duration"]) - float(audio["duration"])) <= MAX_AV_GAP_S, (pair_id, streams)
        media = probe(Path(path))
        assert int(video["nb_read_packets"]) == media.frames, pair_id
        assert abs(float(audio["duration"]) - media.audio_seconds) <= 0.05, pair_id
