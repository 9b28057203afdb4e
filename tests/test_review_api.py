"""The review page's JSON API and server-rendered page, over a store filled from a real pair's transcript, paper
and audio: every endpoint, and each bad input or fault the issue names."""

from __future__ import annotations

import io
import sqlite3
import wave

import pytest
from fastapi.testclient import TestClient

from podcast_assets.core.ingest.audio import decode_audio
from podcast_assets.core.review.entries import review_segments
from podcast_assets.core.review.store import ReviewStore
from podcast_assets.web.review_app import create_app
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


@pytest.fixture
def client(filled, tmp_path):
    """A client over a fresh copy of the filled store."""
    path = tmp_path / "review.sqlite"
    path.write_bytes(filled[0].read_bytes())
    store = ReviewStore(path, busy_timeout=0.2)
    with TestClient(create_app(store)) as client:
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
