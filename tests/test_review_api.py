"""The review page's JSON API and server-rendered page, served by a real uvicorn server on 127.0.0.1 over a
store filled from a real pair's transcript, paper and audio: every endpoint, each bad input or fault the issue
names, and who may ask (Host, Origin, the page's token, the body cap)."""

from __future__ import annotations

import io
import re
import socket
import sqlite3
import threading
import time
import wave
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn

from podcast_assets.core.ingest.audio import decode_audio
from podcast_assets.core.review.entries import review_segments
from podcast_assets.core.review.store import ReviewStore
from podcast_assets.web.review_app import create_app
from podcast_assets.web.training_panel import TrainingControl
from tests.conftest import training_pair_dirs


@pytest.fixture(scope="module")
def filled(real_pairs, tmp_path_factory):
    """A review store holding one real pair's segments: (path, pair id, segment count)."""
    pair_id, (transcript, graph) = next(iter(real_pairs.items()))
    audio = next(
        p for p in (training_pair_dirs()[0].parent / pair_id).iterdir() if p.name.startswith("podcast")
    )
    path = tmp_path_factory.mktemp("review") / "review.sqlite"
    ReviewStore(path).fill(
        pair_id, transcript.audio_sha256, review_segments(transcript, decode_audio(audio), graph)
    )
    return path, pair_id, len(transcript.segments)


@contextmanager
def serving(app) -> Iterator[str]:
    """`app` served by uvicorn on 127.0.0.1 (a free port) in a thread, as `podcast-assets review` serves it;
    yields its URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the review server did not come up"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def page_token(url: str) -> str:
    """The token the page carries for its changes, read from the page as review.js reads it."""
    page = httpx.get(f"{url}/").text
    return re.search(r'<meta name="review-token" content="([^"]+)">', page).group(1)


@pytest.fixture
def server(filled, tmp_path) -> Iterator[tuple[str, ReviewStore, str]]:
    """A real server over a fresh copy of the filled store: (url, store, token)."""
    path = tmp_path / "review.sqlite"
    path.write_bytes(filled[0].read_bytes())
    store = ReviewStore(path, busy_timeout=0.2)
    with serving(create_app(store)) as url:
        yield url, store, page_token(url)


@pytest.fixture
def client(server) -> Iterator[httpx.Client]:
    """A client that asks as the page does: from the server's own origin, with its token."""
    url, store, token = server
    with httpx.Client(base_url=url, headers={"Origin": url, "X-Review-Token": token}) as client:
        client.store = store
        yield client


def test_listing_paging_and_filtering(client, filled):
    _, pair_id, count = filled
    first = client.get("/api/entries", params={"limit": 10}).json()
    assert first["total"] == count and len(first["entries"]) == 10
    priorities = [e["priority"] for e in first["entries"]]
    assert priorities == sorted(priorities, reverse=True)  # the active order
    second = client.get("/api/entries", params={"limit": 10, "offset": 10}).json()
    assert not {e["id"] for e in first["entries"]} & {e["id"] for e in second["entries"]}
    in_time = client.get("/api/entries", params={"order": "time", "pair": pair_id, "limit": 500}).json()[
        "entries"
    ]
    assert [e["start"] for e in in_time] == sorted(e["start"] for e in in_time)
    assert client.get("/api/entries", params={"pair": "no-such-pair"}).json()["total"] == 0
    assert client.get("/api/entries", params={"status": "reviewed"}).json()["total"] == 0


def test_an_entry_its_audio_and_the_stats(client):
    entry = client.get("/api/entries", params={"limit": 1}).json()["entries"][0]
    full = client.get(f"/api/entries/{entry['id']}").json()
    assert full["history"] == [] and full["words"] and len(full["peaks"]) > 10
    reply = client.get(f"/api/entries/{entry['id']}/audio")
    assert reply.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(reply.content)) as clip:
        assert (clip.getframerate(), clip.getnchannels(), clip.getsampwidth()) == (16000, 1, 2)
        assert abs(clip.getnframes() / 16000 - full["duration"]) < 0.01
    stats = client.get("/api/stats").json()
    assert (stats["reviewed"], stats["percent"]) == (0, 0.0) and stats["total"] == stats["unreviewed"]


def test_save_review_next_and_delete(client):
    a, b = client.get("/api/entries", params={"limit": 2, "status": "unreviewed"}).json()["entries"]
    saved = client.put(
        f"/api/entries/{a['id']}",
        json={"text": "A corrected sentence.", "version": a["version"], "reviewed": True},
    )
    assert (
        saved.status_code == 200
        and saved.json()["is_reviewed"]
        and saved.json()["text"] == "A corrected sentence."
    )
    assert client.get("/api/stats").json()["reviewed"] == 1
    following = client.get("/api/entries/next", params={"after": a["id"], "status": "unreviewed"}).json()
    assert following["id"] == b["id"]  # review goes on from the entry just saved
    marked = client.post(f"/api/entries/{b['id']}/review", json={"version": b["version"]}).json()
    assert marked["is_reviewed"] and marked["text"] == b["text"]
    assert client.delete(f"/api/entries/{b['id']}", params={"version": marked["version"]}).status_code == 204
    stats = client.get("/api/stats").json()
    assert (stats["reviewed"], stats["deleted"]) == (1, 1)


def test_a_segment_type_is_saved_with_the_text_and_an_unknown_one_is_422(client):
    entry = client.get("/api/entries", params={"limit": 1, "status": "unreviewed"}).json()["entries"][0]
    saved = client.put(f"/api/entries/{entry['id']}",
                       json={"text": entry["text"], "version": entry["version"], "segment_type": "key_finding"})  # fmt: skip
    assert saved.status_code == 200 and saved.json()["segment_type"] == "key_finding"
    refused = client.put(f"/api/entries/{entry['id']}",
                         json={"text": entry["text"], "version": saved.json()["version"], "segment_type": "gossip"})  # fmt: skip
    assert refused.status_code == 422 and "unknown segment type" in refused.json()["detail"]
    assert client.get(f"/api/entries/{entry['id']}").json()["segment_type"] == "key_finding"


def test_two_tabs_saving_the_same_entry(client):
    entry = client.get("/api/entries", params={"limit": 1}).json()["entries"][0]
    first = client.put(f"/api/entries/{entry['id']}", json={"text": "first tab", "version": entry["version"]})
    second = client.put(
        f"/api/entries/{entry['id']}", json={"text": "second tab", "version": entry["version"]}
    )
    assert first.status_code == 200 and second.status_code == 409
    assert "changed elsewhere" in second.json()["detail"] and second.json()["current"]["text"] == "first tab"
    assert client.get(f"/api/entries/{entry['id']}").json()["text"] == "first tab"


@pytest.mark.parametrize("text, message", [("", "empty"), ("  \n ", "empty"), ("word " * 2000, "could hold")])
def test_refused_text(client, text, message):
    entry = client.get("/api/entries", params={"limit": 1}).json()["entries"][0]
    reply = client.put(f"/api/entries/{entry['id']}", json={"text": text, "version": entry["version"]})
    assert reply.status_code == 422 and message in reply.json()["detail"]


@pytest.mark.parametrize("path", ["/api/entries/999999", "/api/entries/..%2F..%2Fetc%2Fpasswd", "/api/entries/1;DROP",
                                  "/api/entries/%2e%2e", "/api/entries/999999/audio", "/api/entries/-1"])  # fmt: skip
def test_unknown_or_malformed_ids_are_404(client, path):
    assert client.get(path).status_code == 404
    assert client.put(path, json={"text": "x", "version": 1}).status_code in (404, 405)


def test_html_in_a_transcript_is_stored_as_typed_and_shown_escaped(client):
    entry = client.get("/api/entries", params={"limit": 1}).json()["entries"][0]
    typed = "<script>window.pwned = 1</script><img src=x onerror=alert(1)>"
    client.put(f"/api/entries/{entry['id']}", json={"text": typed, "version": entry["version"]})
    assert client.get(f"/api/entries/{entry['id']}").json()["text"] == typed
    page = client.get("/", params={"id": entry["id"]}).text
    assert "<script>window.pwned" not in page and "<img src=x" not in page
    assert "&lt;script&gt;window.pwned = 1&lt;/script&gt;" in page  # in the text box, as text


def test_a_damaged_clip_fails_that_entry_only(client):
    first, second = client.get("/api/entries", params={"limit": 2}).json()["entries"]
    with sqlite3.connect(client.store.path) as db:
        db.execute("UPDATE entries SET audio = substr(audio, 1, 200) WHERE id = ?", (first["id"],))
    broken = client.get(f"/api/entries/{first['id']}/audio")
    assert broken.status_code == 422 and "damaged" in broken.json()["detail"]
    assert client.get(f"/api/entries/{second['id']}/audio").status_code == 200
    assert client.get(f"/api/entries/{first['id']}").status_code == 200


def test_a_locked_database_is_503_and_the_save_can_be_repeated(client):
    entry = client.get("/api/entries", params={"limit": 1}).json()["entries"][0]
    holder = sqlite3.connect(client.store.path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        reply = client.put(
            f"/api/entries/{entry['id']}", json={"text": "typed while locked", "version": entry["version"]}
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert (
        reply.status_code == 503
        and "locked" in reply.json()["detail"]
        and "review.sqlite" in reply.json()["detail"]
    )
    again = client.put(
        f"/api/entries/{entry['id']}", json={"text": "typed while locked", "version": entry["version"]}
    )
    assert again.status_code == 200


def test_the_page_renders_the_first_entry_to_review(client):
    top = client.get("/api/entries", params={"limit": 1, "status": "unreviewed"}).json()["entries"][0]
    page = client.get("/").text
    assert (
        f'data-id="{top["id"]}"' in page
        and 'id="progress-bar"' in page
        and f"/api/entries/{top['id']}/audio" in page
    )


# --------------------------------------------------------------------------- who may ask


def first_entry(client: httpx.Client) -> dict:
    return client.get("/api/entries", params={"limit": 1, "order": "time"}).json()["entries"][0]


def test_a_foreign_host_is_refused_on_every_route_and_changes_nothing(server, client):
    """DNS rebinding: a page whose name now points at 127.0.0.1 sends its own name as Host (with our port)."""
    url, store, token = server
    port = url.rsplit(":", 1)[1]
    entry = first_entry(client)
    foreign = (f"evil.example:{port}", "evil.example", f"127.0.0.1.evil.example:{port}", "127.0.0.1",
               f"127.0.0.1:{int(port) + 1}", f"localhost:{port}@evil.example")  # fmt: skip
    for host in foreign:
        asking = {"Host": host, "Origin": f"http://{host}", "X-Review-Token": token}
        for method, path, body in [
            ("GET", "/", None), ("GET", "/api/entries", None), ("GET", f"/api/entries/{entry['id']}", None),
            ("GET", f"/api/entries/{entry['id']}/audio", None), ("GET", "/api/stats", None),
            ("GET", "/static/review.js", None),
            ("PUT", f"/api/entries/{entry['id']}", {"text": "overwritten", "version": entry["version"]}),
            ("DELETE", f"/api/entries/{entry['id']}?version={entry['version']}", None),
            ("POST", f"/api/entries/{entry['id']}/review", {"version": entry["version"]}),
        ]:  # fmt: skip
            reply = httpx.request(method, url + path, json=body, headers=asking)
            assert reply.status_code == 421, (host, method, path, reply.status_code)
            assert "answers only to Host" in reply.json()["detail"] and token not in reply.text
    assert store.get(entry["id"]) == {**entry, "history": []}  # neither saved, reviewed nor deleted
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}", f"[::1]:{port}"):
        assert httpx.get(f"{url}/api/stats", headers={"Host": host}).status_code == 200, host


def test_a_post_from_another_site_starts_no_fine_tuning(filled, tmp_path):
    """Cross-site request forgery: an empty text/plain POST from another origin, with or without a token."""
    (tmp_path / "review.sqlite").write_bytes(filled[0].read_bytes())
    store = ReviewStore(tmp_path / "review.sqlite")
    control = TrainingControl(tmp_path / "artifacts", lambda: "tiny.en", None)
    with serving(create_app(store, control)) as url:
        token = page_token(url)
        for headers in (
            {"Origin": "http://evil.example"},
            {"Origin": "http://evil.example", "X-Review-Token": token},
            {"Origin": "null", "X-Review-Token": token},
            {"Origin": f"http://evil.example:{url.rsplit(':', 1)[1]}", "X-Review-Token": token},
            {"Referer": "http://evil.example/page.html", "X-Review-Token": token},
            {"Origin": url},  # our own page, but without the token
        ):
            reply = httpx.post(
                f"{url}/api/training/runs", content=b"", headers={**headers, "Content-Type": "text/plain"}
            )
            assert reply.status_code == 403, (headers, reply.text)
            assert "another origin" in reply.json()["detail"] or "X-Review-Token" in reply.json()["detail"]
        assert httpx.get(f"{url}/api/training").json()["running"] is False
    assert control._process is None and not (tmp_path / "artifacts" / "asr").exists(), (
        "a fine-tuning run was started"
    )


def test_changes_need_the_token_of_this_server(server, filled):
    url, store, token = server
    entry = httpx.get(f"{url}/api/entries", params={"limit": 1, "order": "time"}).json()["entries"][0]
    with serving(create_app(ReviewStore(filled[0]))) as other_url:
        other_token = page_token(other_url)  # another (or a restarted) server's token
    assert other_token != token
    put = f"{url}/api/entries/{entry['id']}"
    change = {"text": "changed", "version": entry["version"]}
    for headers in ({"Origin": url}, {"Origin": url, "X-Review-Token": other_token}, {"X-Review-Token": ""}):
        for reply in (
            httpx.put(put, json=change, headers=headers),
            httpx.post(f"{put}/review", json={"version": entry["version"]}, headers=headers),
            httpx.delete(put, params={"version": entry["version"]}, headers=headers),
        ):
            assert reply.status_code == 403 and "X-Review-Token" in reply.json()["detail"], (
                headers,
                reply.text,
            )
    assert store.get(entry["id"])["version"] == entry["version"]
    # the right token: from our own origin (or our page as Referer, or a client that sends neither)
    for n, headers in enumerate(({"Origin": url}, {"Referer": f"{url}/?id={entry['id']}"}, {})):
        current = store.get(entry["id"])["version"]
        reply = httpx.put(
            put, json={"text": f"edit {n}", "version": current}, headers={**headers, "X-Review-Token": token}
        )
        assert reply.status_code == 200 and reply.json()["text"] == f"edit {n}", (headers, reply.text)
    assert (
        token in httpx.get(f"{url}/").text and token not in httpx.get(f"{url}/api/entries/{entry['id']}").text
    )


def test_a_body_over_1_mb_is_413_before_it_is_read(client):
    entry = first_entry(client)
    big = b'{"text": "' + b"x" * 5_000_000 + b'", "version": 1}'

    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked, counted as it arrives
        for start in range(0, len(big), 65536):
            yield big[start : start + 65536]

    for content in (big, chunks()):
        reply = client.put(
            f"/api/entries/{entry['id']}", content=content, headers={"Content-Type": "application/json"}
        )
        assert reply.status_code == 413 and "1,000,000" in reply.json()["detail"], reply.text
    assert client.get(f"/api/entries/{entry['id']}").json()["version"] == entry["version"]
    assert client.get("/api/stats").status_code == 200  # and the server goes on


@pytest.mark.parametrize(
    ("escaped", "reason"),
    [
        (r"half \ud800 a pair", "lone surrogate (U+D800) at character 6"),
        (r"\udfff", "lone surrogate (U+DFFF)"),
        (r"a bell \u0007 here", "control character U+0007"),
        (r"nul \u0000", "control character U+0000"),
        (r"escape \u001b[31m red", "control character U+001B"),
        (r"c1 \u0085", "control character U+0085"),
        (r"desserts \u202e stressed", "right-to-left override (U+202E)"),
        (r"isolated \u2067 text \u2069", "right-to-left isolate (U+2067)"),
    ],
)
def test_text_that_cannot_be_stored_is_422_with_the_reason(client, escaped, reason):
    entry = first_entry(client)
    body = f'{{"text": "{escaped}", "version": {entry["version"]}}}'.encode()
    reply = client.put(
        f"/api/entries/{entry['id']}", content=body, headers={"Content-Type": "application/json"}
    )
    assert reply.status_code == 422 and reason in reply.json()["detail"], reply.text
    assert client.get(f"/api/entries/{entry['id']}").json()["version"] == entry["version"]


def test_newlines_tabs_and_right_to_left_script_are_kept(client):
    entry = first_entry(client)
    typed = "first line\nsecond\tline, and Hebrew: שלום"
    reply = client.put(f"/api/entries/{entry['id']}", json={"text": typed, "version": entry["version"]})
    assert reply.status_code == 200 and reply.json()["text"] == "first line second line, and Hebrew: שלום"


def test_delete_takes_the_version_like_a_save(client):
    entry = first_entry(client)
    path = f"/api/entries/{entry['id']}"
    assert client.delete(path).status_code == 422  # no version: refused
    saved = client.put(path, json={"text": "saved in another tab", "version": entry["version"]}).json()
    stale = client.delete(path, params={"version": entry["version"]})
    assert stale.status_code == 409 and stale.json()["current"]["text"] == "saved in another tab"
    assert not client.get(path).json()["is_deleted"]
    assert client.delete(path, params={"version": saved["version"]}).status_code == 204
    assert client.get(path).json()["is_deleted"]
