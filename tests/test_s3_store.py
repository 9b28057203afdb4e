"""The artifact store on a real S3 API: moto in server mode on 127.0.0.1, started here, spoken to over HTTP by
boto3 exactly as AWS or MinIO would be. The same behaviour is asserted of the local store."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import ClassVar

import boto3
import dagster as dg
import pytest

from podcast_assets.core.analysis.models import MatchVerdict
from podcast_assets.core.analysis.profile_store import load_current
from podcast_assets.core.config import StorageSettings
from podcast_assets.core.errors import StorageError, StorageUnavailable
from podcast_assets.core.storage import LocalArtifactStore
from podcast_assets.definitions import build_definitions
from podcast_assets.defs.jobs import PAIR_JOB_NAME
from podcast_assets.resources.storage import open_store
from tests.conftest import training_pair_dirs
from tests.dagster_helpers import make_config, seeded_artifacts

BUCKET = "podcast-assets-test"
SECRET = "canary-secret-0b1e7c"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    moto_server = pytest.importorskip("moto.server", reason="moto[server] is in the test extra")
    saved = {k: __import__("os").environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    import os

    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY=SECRET, AWS_DEFAULT_REGION="us-east-1")
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def s3_settings(endpoint: str, mirror, prefix: str, **kw) -> StorageSettings:
    return StorageSettings(kind="s3", root=mirror, bucket=BUCKET, prefix=prefix, endpoint_url=endpoint, **kw)


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path, s3_endpoint):
    if request.param == "local":
        return LocalArtifactStore(tmp_path / "local")
    return open_store(s3_settings(s3_endpoint, tmp_path / "mirror", f"t/{tmp_path.name}"))


def test_both_stores_write_read_list_and_delete_alike(store):
    verdict = MatchVerdict(passed=True, rule="r", figures={"x": 1.0}, description="d")
    store.write_model("training_pairs/a/verdict.json", verdict)
    store.write_bytes("training_pairs/a/notes.txt", b"hello")
    blob = store.put_blob(b"\x89PNG fake", "png")
    assert blob.startswith("blobs/") and store.put_blob(b"\x89PNG fake", "png") == blob, "content-addressed"
    assert store.exists("training_pairs/a/notes.txt") and not store.exists("training_pairs/a/missing.json")
    assert store.list("training_pairs/a") == ["training_pairs/a/notes.txt", "training_pairs/a/verdict.json"]
    assert store.list("nothing/here") == []
    with pytest.raises(StorageError, match="never overwritten"):
        store.write_bytes("training_pairs/a/notes.txt", b"again", replace=False)
    assert store.read_bytes("training_pairs/a/notes.txt") == b"hello"
    _, cached = store.get_or_create("k", "1", MatchVerdict, lambda: verdict)
    assert not cached and store.get_or_create("k", "1", MatchVerdict, lambda: 1 / 0) == (verdict, True)
    store.delete("training_pairs/a/notes.txt")
    assert not store.exists("training_pairs/a/notes.txt")
    with pytest.raises(StorageError, match="not found"):
        store.read_bytes("training_pairs/a/notes.txt")
    with pytest.raises(StorageError, match="inside the store"):
        store.write_bytes("../escape.txt", b"x")


def test_a_file_written_beside_the_store_is_published_whole(store):
    target = store.path("videos/a/v.mp4")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"a finished video")
    store.publish("videos/a/v.mp4")
    assert store.exists("videos/a/v.mp4") and store.read_bytes("videos/a/v.mp4") == b"a finished video"


def test_another_machine_reads_what_one_wrote(s3_endpoint, tmp_path):
    settings = s3_settings(s3_endpoint, tmp_path / "machine-a", "shared")
    open_store(settings).put_blob(b"audio bytes", "mp3")
    other = open_store(settings.model_copy(update={"root": tmp_path / "machine-b"}))
    [rel] = other.list("blobs")
    assert other.local(rel).read_bytes() == b"audio bytes" and other.local(rel).is_relative_to(tmp_path / "machine-b")


def test_a_black_holed_endpoint_fails_within_its_timeouts(tmp_path):
    """Reliability fact 8: an endpoint that accepts connections and never answers fails in bounded time, as a
    retryable error naming the endpoint."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted = []
    stop = threading.Event()

    def hold():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])  # never answered
            except OSError:
                continue

    threading.Thread(target=hold, daemon=True).start()
    endpoint = f"http://127.0.0.1:{listener.getsockname()[1]}"
    store = open_store(s3_settings(endpoint, tmp_path / "m", "p", connect_timeout_seconds=1,
                                   read_timeout_seconds=1, max_attempts=2))  # fmt: skip
    started = time.monotonic()
    try:
        with pytest.raises(StorageUnavailable, match="did not answer") as info:
            store.write_bytes("a.json", b"{}")
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        listener.close()
    assert info.value.retryable and endpoint.split("//")[1] not in SECRET
    assert elapsed < 10, f"bounded by 2 attempts of 1 s timeouts, not minutes ({elapsed:.1f} s)"
    assert SECRET not in str(info.value)


def test_the_same_train_gives_the_same_aggregate_on_s3_and_on_disk(s3_endpoint, ingested, tmp_path):
    """`podcast-assets train --no-trials` on one pair, once with the local store and once with S3 (the session's
    caches put in the bucket, as a team's bucket has them): the same aggregated profile."""
    session_config, _ = ingested
    pair = min(training_pair_dirs(), key=lambda p: p.stat().st_size)
    shutil.copytree(pair, tmp_path / "pairs" / pair.name)
    seeded = seeded_artifacts(tmp_path / "seed", session_config.storage.root)
    prefix = "aggregate-test"
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    for path in (p for p in seeded.rglob("*") if p.is_file()):
        client.upload_file(str(path), BUCKET, f"{prefix}/{path.relative_to(seeded).as_posix()}")

    profiles = {}
    for kind in ("local", "s3"):
        project = tmp_path / kind
        (project / "configs").mkdir(parents=True)
        storage = {"kind": kind, "root": str(project / "artifacts")}
        if kind == "s3":
            storage |= {"bucket": BUCKET, "prefix": prefix, "endpoint_url": s3_endpoint}
        else:
            shutil.copytree(seeded, project / "artifacts")
        config = project / "configs" / "pipeline.yaml"
        config.write_text(json.dumps({"pairs_dir": str(tmp_path / "pairs"), "storage": storage}))
        env = {**os.environ, "DAGSTER_HOME": str(project / "home"), "PODCAST_ASSETS_CONFIG": str(config)}
        out = subprocess.run([str(BIN / "podcast-assets"), "train", "--no-trials"], cwd=project, env=env,
                             capture_output=True, text=True, timeout=900, check=False)  # fmt: skip
        assert out.returncode == 0, out.stdout + out.stderr
        store = open_store(StorageSettings.model_validate(storage))
        profiles[kind] = load_current(store).model_dump(mode="json", exclude={"created_at"})
    on_s3 = client.list_objects_v2(Bucket=BUCKET, Prefix=f"{prefix}/profiles/")["Contents"]
    assert {o["Key"].rsplit("/", 1)[1] for o in on_s3} >= {"current.json", "aggregated_v1.json"}
    assert json.dumps(profiles["s3"], sort_keys=True) == json.dumps(profiles["local"], sort_keys=True)


class _Refusing(__import__("http.server").server.BaseHTTPRequestHandler):
    """An S3 endpoint that refuses every request with 403, echoing the request's Authorization header (which
    names the access key) in its error body, as a careless proxy might."""

    seen: ClassVar[list[str]] = []

    def _refuse(self):
        self.seen.append(self.headers.get("Authorization") or "")
        body = (f"<Error><Code>InvalidAccessKeyId</Code><Message>refused {self.headers.get('Authorization')}"
                "</Message></Error>").encode()  # fmt: skip
        self.send_response(403)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _refuse

    def log_message(self, *args):
        pass


def test_a_canary_key_through_a_run_refused_by_s3_appears_nowhere(ingested, tmp_path, monkeypatch):
    """Reliability item 24 with S3: the run fails naming the refusal and the fix; the key is nowhere in the event
    log, the metadata, the mirror or DAGSTER_HOME."""
    import http.server

    canary = "AKIACANARY7F3A9B1C5D"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", canary)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", canary + "secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    pair = min(training_pair_dirs(), key=lambda p: p.stat().st_size)
    shutil.copytree(pair, tmp_path / "pairs" / pair.name)
    storage = {"kind": "s3", "root": str(tmp_path / "mirror"), "bucket": BUCKET, "max_attempts": 1,
               "endpoint_url": f"http://127.0.0.1:{server.server_address[1]}"}  # fmt: skip
    defs = build_definitions(make_config(tmp_path / "pairs", tmp_path / "mirror", storage=storage))
    home = tmp_path / "dagster_home"
    home.mkdir()
    try:
        with dg.instance_for_test(temp_dir=str(home)) as instance:
            instance.add_dynamic_partitions("training_pairs", [pair.name])
            result = defs.resolve_job_def(PAIR_JOB_NAME).execute_in_process(
                partition_key=pair.name, instance=instance, raise_on_error=False
            )
            events = [str(e) for e in instance.all_logs(result.run_id)]
    finally:
        server.shutdown()
    assert not result.success
    assert any(canary in a for a in _Refusing.seen), "the key was really sent"
    failure = next(e for e in result.all_events if e.is_step_failure)
    description = failure.step_failure_data.user_failure_data.description
    assert "S3 refused" in description and "credentials" in description
    assert not any(canary in e for e in events), "the key is in the event log"
    for root in (home, tmp_path / "mirror"):
        for path in root.rglob("*"):
            if path.is_file():
                assert canary.encode() not in path.read_bytes(), path


def test_llm_replies_are_cached_in_the_bucket_so_another_machine_pays_nothing(s3_endpoint, tmp_path, monkeypatch):
    from podcast_assets.resources.llm import LLMResource
    from podcast_assets.resources.storage import ArtifactStoreResource
    from tests.fake_llm_server import FakeLLMServer, ok
    from tests.test_llm_client import VALID, Review

    monkeypatch.setenv("PODCAST_ASSETS_TEST_LLM_KEY", "sk-test")
    storage = s3_settings(s3_endpoint, tmp_path / "machine-a", "llm-shared")

    def llm(machine: str, server: FakeLLMServer) -> LLMResource:
        settings = storage.model_copy(update={"root": tmp_path / machine})
        return LLMResource(
            provider="openai", model="gpt-4o-mini", base_url=server.base_url("openai"),
            api_key_env="PODCAST_ASSETS_TEST_LLM_KEY", cache_dir=str(tmp_path / machine / "cache" / "llm"),
            shared_cache=ArtifactStoreResource.from_settings(settings), max_attempts=1,
        )  # fmt: skip

    def ask(resource: LLMResource):
        return resource.complete_json(task="judge", system="You review papers.", prompt="Review it.", schema=Review)

    with FakeLLMServer() as server:
        server.push(ok("openai", VALID))
        first, record = ask(llm("machine-a", server))
        again, cached = ask(llm("machine-b", server))
        assert len(server.requests) == 1, "the second machine was served from the bucket"
    assert first == again and not record.cached and cached.cached and cached.cost_usd == 0
    keys = [o["Key"] for o in boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(
        Bucket=BUCKET, Prefix="llm-shared/cache/llm/")["Contents"]]  # fmt: skip
    assert len(keys) == 1


class _Switch:
    """A TCP proxy on 127.0.0.1 that black-holes connections (accepts, never answers) until `recover()`, then
    forwards them to the real S3 server: an outage and its end."""

    def __init__(self, target_port: int):
        self.target_port, self.recovered = target_port, threading.Event()
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(32)
        self.held: list[socket.socket] = []
        self.live: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def recover(self) -> None:
        self.recovered.set()

    def outage(self) -> None:
        """From now on nothing answers, kept-alive connections included."""
        self.recovered.clear()
        for s in self.live:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.recovered.is_set():
                self.held.append(client)
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self.live += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.listener.close()
        for s in self.held:
            s.close()


def test_after_an_outage_a_retry_succeeds_and_nothing_was_lost(s3_endpoint, tmp_path):
    """Reliability item 21: S3 black-holed -> the write fails within its timeouts, what was stored before is
    kept; once S3 answers again the same call succeeds."""
    switch = _Switch(int(s3_endpoint.rsplit(":", 1)[1]))
    switch.recover()
    store = open_store(s3_settings(switch.endpoint, tmp_path / "mirror", "outage", connect_timeout_seconds=1,
                                   read_timeout_seconds=1, max_attempts=2))  # fmt: skip
    store.write_bytes("training_pairs/a/before.json", b'{"kept": true}')
    switch.outage()
    try:
        with pytest.raises(StorageUnavailable):
            store.write_bytes("training_pairs/a/during.json", b"{}")
        assert store.path("training_pairs/a/before.json").read_bytes() == b'{"kept": true}', "local copy kept"
        switch.recover()  # S3 answers again
        store.write_bytes("training_pairs/a/during.json", b"{}")
    finally:
        switch.close()
    fresh = open_store(s3_settings(s3_endpoint, tmp_path / "other-machine", "outage"))
    assert fresh.list("training_pairs/a") == ["training_pairs/a/before.json", "training_pairs/a/during.json"]


def test_a_full_disk_under_the_mirror_is_a_clear_error_and_leaves_no_partial_file(s3_endpoint, tmp_path):
    """Reliability item 19 for the S3 store: the download into the mirror fails half-way with ENOSPC."""
    import errno

    settings = s3_settings(s3_endpoint, tmp_path / "machine-a", "full-disk")
    rel = open_store(settings).put_blob(b"a long podcast" * 1000, "mp3")
    reader = open_store(settings.model_copy(update={"root": tmp_path / "machine-b"}))

    def full_disk(bucket, key, filename, **kw):
        Path(filename).write_bytes(b"a long pod")
        raise OSError(errno.ENOSPC, "No space left on device")

    reader.client.download_file = full_disk
    with pytest.raises(StorageError, match="No space left") as info:
        reader.local(rel)
    assert "free disk space" in str(info.value)
    assert [p for p in (tmp_path / "machine-b").rglob("*") if p.is_file()] == [], "nothing partial in the mirror"
