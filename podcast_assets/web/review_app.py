"""The transcript review page and its JSON API (FastAPI, one server-rendered template, plain JavaScript; no
front-end build step). `podcast-assets review` serves it on 127.0.0.1:8080 unless configured otherwise.

API (the seed's):
    GET    /api/entries                 paginated, filtered: pair, status (all|unreviewed|reviewed|deleted),
                                        order (active|time), offset, limit
    GET    /api/entries/next            the entry after `after` (or before it, with backwards=true) in that order
    GET    /api/entries/{id}            one entry with its words, waveform, volume and edit history
    GET    /api/entries/{id}/audio      its audio clip as WAV (16 kHz mono)
    GET    /api/stats                   reviewed / total, per pair
    GET    /api/training                the training panel: ready segments, model in use, last run, progress, log
    POST   /api/training/runs           start `podcast-assets asr finetune` (409 while one runs)
    PUT    /api/entries/{id}            {"text", "version", "reviewed"?}: save (409 if `version` is stale)
    DELETE /api/entries/{id}?version=   drop it from review and training (409 if `version` is stale, 422
                                        without one)
    POST   /api/entries/{id}/review     {"version", "reviewed"?}: mark reviewed (or not)
    POST   /api/type-segments           the inference API (web/inference.py): segment types of a posted transcript
    POST   /api/judge                   and its offline quality judgement; served with the artifact store

Who may ask (web/guard.py, in front of every route): a request whose Host is not 127.0.0.1, localhost, [::1]
or the configured host, with the port it arrived on, is answered 421 (a page that rebinds its name to
127.0.0.1 reads nothing); a PUT, POST or DELETE whose Origin (or Referer) is another site's, or that lacks the
X-Review-Token header holding this server's token (made at start, put in the page's
`<meta name="review-token">`, sent by review.js), is answered 403 (the inference API's POSTs, which change
nothing, excepted); a body over 1 MB, 413.

Errors are JSON `{"detail": ...}`: 404 unknown id (or an id that is not a number), 409 conflict (with the
entry as it now is), 413 body too large, 421 foreign Host, 403 foreign origin or no token, 422 text refused
(empty, too long, or holding a lone surrogate, a control character or a bidirectional override: the reason
says which) or the entry's audio damaged, 503 database locked or read-only.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from podcast_assets.core.analysis.models import SEGMENT_TYPES
from podcast_assets.core.review.audio import ClipError
from podcast_assets.core.review.database import ReviewStoreError, ReviewStoreUnavailable
from podcast_assets.core.review.store import (
    EntryNotFound,
    InvalidText,
    Order,
    ReviewConflict,
    ReviewStore,
    Status,
)
from podcast_assets.core.serving import ServingError
from podcast_assets.core.storage import LocalArtifactStore
from podcast_assets.web.guard import RequestGuard, new_token
from podcast_assets.web.inference import PATHS as INFERENCE_PATHS
from podcast_assets.web.inference import inference_router
from podcast_assets.web.training_panel import TrainingBusy, TrainingControl

HERE = Path(__file__).parent
_ID = re.compile(r"[0-9]{1,18}")


class SaveBody(BaseModel):
    text: str
    version: int = Field(description="The entry's version the text was edited from.")
    reviewed: bool | None = None
    segment_type: str | None = Field(
        default=None, description="What the stretch does (intro, methodology, ...); '' clears it; absent: unchanged."
    )


class ReviewBody(BaseModel):
    version: int
    reviewed: bool = True


def _entry_id(raw: str) -> int:
    if not _ID.fullmatch(raw):
        raise EntryNotFound(f"no review entry {raw!r}")
    return int(raw)


def create_app(
    store: ReviewStore,
    training: TrainingControl | None = None,
    *,
    host: str = "127.0.0.1",
    artifacts: LocalArtifactStore | None = None,
) -> FastAPI:
    """The app over `store`; with `training`, the page's recogniser training panel and its API; with `artifacts`,
    the inference API over the pipeline's artifacts. `host`: the address it is served on, accepted as a Host name
    beside the loopback ones."""
    token = new_token()
    app = FastAPI(title="podcast-assets transcript review", docs_url="/api/docs", redoc_url=None)
    app.add_middleware(RequestGuard, names=[host], token=token, compute_only=INFERENCE_PATHS if artifacts else ())
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Jinja2Templates(directory=HERE / "templates")

    @app.exception_handler(ReviewStoreError)
    async def store_error(request: Request, exc: ReviewStoreError) -> JSONResponse:
        if isinstance(exc, EntryNotFound):
            return JSONResponse({"detail": exc.message}, status_code=404)
        if isinstance(exc, ReviewConflict):
            return JSONResponse({"detail": exc.message, "current": exc.current}, status_code=409)
        if isinstance(exc, InvalidText):
            return JSONResponse({"detail": exc.message}, status_code=422)
        if isinstance(exc, ReviewStoreUnavailable):
            return JSONResponse({"detail": str(exc)}, status_code=503)
        return JSONResponse({"detail": str(exc)}, status_code=500)

    @app.exception_handler(ServingError)
    async def serving_error(request: Request, exc: ServingError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404 if exc.missing else 422)

    @app.exception_handler(ClipError)
    async def clip_error(request: Request, exc: ClipError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.get("/", response_class=HTMLResponse)
    def page(
        request: Request,
        id: str | None = None,
        pair: str | None = None,
        status: Status = "unreviewed",
        order: Order = "active",
    ) -> HTMLResponse:
        entry = (
            store.get(_entry_id(id))
            if id
            else store.next_entry(None, pair_id=pair or None, status=status, order=order)
        )
        every = store.stats()
        return templates.TemplateResponse(
            request,
            "review.html",
            {
                "entry": entry,
                "stats": store.stats(pair) if pair else every,
                "pairs": [p["pair_id"] for p in every["pairs"]],
                "pair": pair or "",
                "status": status,
                "order": order,
                "training": training is not None,
                "segment_types": SEGMENT_TYPES,
                "token": token,
            },
        )

    @app.get("/api/entries")
    def entries(
        pair: str | None = None,
        status: Status = "all",
        order: Order = "active",
        offset: int = 0,
        limit: int = 50,
    ) -> dict[str, Any]:
        offset, limit = max(offset, 0), min(max(limit, 1), 500)
        found, total = store.list_entries(
            pair_id=pair or None, status=status, order=order, offset=offset, limit=limit
        )
        return {"entries": found, "total": total, "offset": offset, "limit": limit}

    @app.get("/api/entries/next")
    def next_entry(
        after: str | None = None,
        pair: str | None = None,
        status: Status = "unreviewed",
        order: Order = "active",
        backwards: bool = False,
    ) -> Response:
        found = store.next_entry(
            _entry_id(after) if after else None,
            pair_id=pair or None,
            status=status,
            order=order,
            backwards=backwards,
        )
        return JSONResponse(found) if found else Response(status_code=204)

    @app.get("/api/entries/{entry_id}")
    def entry(entry_id: str) -> dict[str, Any]:
        return store.get(_entry_id(entry_id))

    @app.get("/api/entries/{entry_id}/audio")
    def audio(entry_id: str) -> Response:
        return Response(
            store.audio_wav(_entry_id(entry_id)),
            media_type="audio/wav",
            headers={"Cache-Control": "no-store"},
        )

    @app.get("/api/stats")
    def stats(pair: str | None = None) -> dict[str, Any]:
        return store.stats(pair or None)

    @app.put("/api/entries/{entry_id}")
    def save(entry_id: str, body: SaveBody) -> dict[str, Any]:
        return store.save(
            _entry_id(entry_id), body.text, version=body.version, reviewed=body.reviewed, segment_type=body.segment_type
        )

    @app.delete("/api/entries/{entry_id}")
    def delete(entry_id: str, version: int) -> Response:
        store.delete(_entry_id(entry_id), version=version)
        return Response(status_code=204)

    @app.post("/api/entries/{entry_id}/review")
    def review(entry_id: str, body: ReviewBody) -> dict[str, Any]:
        return store.mark_reviewed(_entry_id(entry_id), version=body.version, reviewed=body.reviewed)

    @app.get("/api/training")
    def training_status() -> dict[str, Any]:
        if training is None:
            raise EntryNotFound("this server has no training panel")
        return training.status(store)

    @app.post("/api/training/runs", status_code=202)
    def start_training() -> Response:
        if training is None:
            raise EntryNotFound("this server has no training panel")
        try:
            started = training.start()
        except TrainingBusy as exc:
            return JSONResponse({"detail": str(exc)}, status_code=409)
        return JSONResponse({"started_at": started["started_at"], "pid": started["pid"]}, status_code=202)

    if artifacts is not None:
        app.include_router(inference_router(artifacts))
    return app
