"""The review page's API latency with 10,000 segments in the store.

    python bench/review.py [--entries 10000] [--requests 200]

Fills a temporary review store with `--entries` segments: 6-second clips of real podcast audio (the shared pairs'
podcasts, else the bundled example's) with real text (the paragraphs of their papers), spread over pairs of 400
segments like a 40-minute podcast. Then serves the page with uvicorn on 127.0.0.1, as `podcast-assets review`
does, and times `--requests` HTTP requests per endpoint over one keep-alive connection. Prints p50 and p99 in ms
per endpoint. Target: p99 under 100 ms for every endpoint a page turn uses (next, entry, audio, save, stats).
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import uvicorn

from podcast_assets.core.ingest.audio import decode_audio
from podcast_assets.core.ingest.pdf.document import read_document
from podcast_assets.core.review.audio import SAMPLE_RATE, make_clip
from podcast_assets.core.review.store import FillSegment, ReviewStore
from podcast_assets.web.review_app import create_app

ROOT = Path(__file__).resolve().parents[1]
PER_PAIR = 400
TARGET_MS = 100.0


def sources() -> list[Path]:
    shared = ROOT.parent / "shared" / "data" / "pairs"
    folders = sorted(p for p in shared.iterdir() if p.is_dir()) if shared.is_dir() else []
    return folders or sorted(p for p in (ROOT / "examples" / "pairs").iterdir() if p.is_dir())


def material(folder: Path) -> tuple[np.ndarray, list[str]]:
    audio = next(p for p in folder.iterdir() if p.name.startswith("podcast"))
    graph, _ = read_document(folder / "paper.pdf", min_chars_per_page=200)
    sentences = [s for atom in graph.atoms for s in atom.text.split(". ") if 30 < len(s) < 140]
    return decode_audio(audio), sentences


def fill(store: ReviewStore, count: int) -> float:
    started = time.perf_counter()
    clips_by_source = []
    for folder in sources():
        samples, sentences = material(folder)
        clips = [make_clip(samples[i : i + 6 * SAMPLE_RATE]) for i in range(0, len(samples) - 6 * SAMPLE_RATE, 6 * SAMPLE_RATE)]
        clips_by_source.append((clips, sentences))
    rng = random.Random(7)
    for pair in range((count + PER_PAIR - 1) // PER_PAIR):
        clips, sentences = clips_by_source[pair % len(clips_by_source)]
        segments = []
        for n in range(min(PER_PAIR, count - pair * PER_PAIR)):
            text = sentences[(pair * PER_PAIR + n) % len(sentences)]
            words = [(w, n * 6 + k * 0.4, n * 6 + k * 0.4 + 0.35, rng.uniform(0.3, 1.0)) for k, w in enumerate(text.split())]
            priority = sum(1 - w[3] for w in words)
            segments.append(FillSegment(n, n * 6.0, n * 6.0 + 5.9, text, words, clips[n % len(clips)], priority, []))
        store.fill(f"pair-{pair:03d}", f"audio-{pair}", segments)
    return time.perf_counter() - started


def serve(store: ReviewStore) -> tuple[uvicorn.Server, int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(store), host="127.0.0.1", port=port, log_level="error"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, port


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = ReviewStore(Path(tmp) / "review.sqlite")
        seconds = fill(store, args.entries)
        size = (Path(tmp) / "review.sqlite").stat().st_size / 1e6
        print(f"store: {store.stats()['total']:,} entries in {seconds:.1f} s, {size:.0f} MB (clips included)")
        server, port = serve(store)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        rng = random.Random(1)
        ids = [e["id"] for e in store.list_entries(status="all", order="time", limit=args.entries)[0]]
        versions = {}
        connection.request("GET", "/")
        page = connection.getresponse().read().decode()
        token = re.search(r'name="review-token" content="([^"]+)"', page)[1]

        def call(method: str, path: str, body: dict | None = None) -> None:
            payload = json.dumps(body).encode() if body is not None else None
            headers = {"Content-Type": "application/json"} if payload else {}
            if method != "GET":
                headers["X-Review-Token"] = token  # as the page's script sends it
            connection.request(method, path, body=payload, headers=headers)
            reply = connection.getresponse()
            data = reply.read()
            if reply.status >= 400:
                raise SystemExit(f"{method} {path}: {reply.status} {data[:200]!r}")
            if method == "PUT":
                entry = json.loads(data)
                versions[entry["id"]] = entry["version"]

        def save() -> tuple[str, str, dict]:
            entry_id = rng.choice(ids)
            return "PUT", f"/api/entries/{entry_id}", {"text": "a corrected line of speech", "version": versions.get(entry_id, 1)}

        endpoints = {
            "GET /api/entries (page 1, active order)": lambda: ("GET", "/api/entries?limit=50", None),
            "GET /api/entries (deep page, one pair)": lambda: ("GET", f"/api/entries?limit=50&offset=300&pair=pair-{rng.randrange(len(ids) // PER_PAIR):03d}&order=time", None),
            "GET /api/entries/next": lambda: ("GET", f"/api/entries/next?after={rng.choice(ids)}&status=all", None),
            "GET /api/entries/{id}": lambda: ("GET", f"/api/entries/{rng.choice(ids)}", None),
            "GET /api/entries/{id}/audio": lambda: ("GET", f"/api/entries/{rng.choice(ids)}/audio", None),
            "GET /api/stats": lambda: ("GET", "/api/stats", None),
            "PUT /api/entries/{id}": save,
            "GET / (the page)": lambda: ("GET", f"/?id={rng.choice(ids)}", None),
        }  # fmt: skip
        print(f"{'endpoint':44} {'p50 ms':>8} {'p99 ms':>8}   ({args.requests} requests each, 127.0.0.1, keep-alive)")
        worst = 0.0
        for name, make in endpoints.items():
            times = []
            for _ in range(args.requests):
                method, path, body = make()
                started = time.perf_counter()
                call(method, path, body)
                times.append((time.perf_counter() - started) * 1000)
            times.sort()
            p50, p99 = statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]
            worst = max(worst, p99)
            print(f"{name:44} {p50:8.1f} {p99:8.1f}")
        server.should_exit = True
        print(f"worst p99: {worst:.1f} ms; target {TARGET_MS:.0f} ms: {'met' if worst < TARGET_MS else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
