"""The review server's gate, in front of every route (an ASGI middleware): who may ask, and how much.

- Host: only the names the server is reached by, 127.0.0.1, localhost, [::1] and the configured host, each
  with the port the request arrived on (the listening socket's, ASGI `server`); a Host without a port only
  when that port is 80. A page that rebinds its own name to 127.0.0.1 sends its own name: answered 421,
  GET included, so it can neither read nor change anything.
- State changes (every method but GET, HEAD and OPTIONS): an `Origin` header, or without one a `Referer`, must
  be one of the server's own origins (http://<allowed name>:<port>); and the `X-Review-Token` header must
  hold this server's token, made when the app is made and given only inside the page it serves (a page of
  another origin cannot read it). Either missing or wrong: 403. A POST to one of the `compute_only` paths (the
  inference API: it answers from what is posted and changes nothing) needs neither, so a script can call it; a page
  of another origin may make the server compute, but cannot read the answer.
- Bodies: at most `max_body` bytes. A larger Content-Length is answered 413 without reading the body; a body
  without one (chunked) is counted as it arrives and answered 413 once it passes the limit, so a request never
  holds more than the limit in memory.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from starlette.responses import JSONResponse

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TOKEN_HEADER = "X-Review-Token"
MAX_BODY_BYTES = 1_000_000


def host_name(host: str) -> str:
    """A configured listening address as it appears in a Host header (IPv6 in brackets), lower case."""
    host = host.strip().lower()
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def new_token() -> str:
    return secrets.token_urlsafe(32)


class RequestGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        names: Iterable[str],
        token: str,
        max_body: int = MAX_BODY_BYTES,
        compute_only: Iterable[str] = (),
    ):
        self.app = app
        self.compute_only = frozenset(compute_only)
        self.names = frozenset(host_name(n) for n in (*LOOPBACK_NAMES, *names))
        self.token = token.encode()
        self.max_body = max_body

    def _authorities(self, scope: Scope) -> frozenset[str]:
        """The Host values this request may carry: each allowed name with the port it arrived on."""
        server = scope.get("server")
        if not server or server[1] is None:
            return frozenset()
        port = int(server[1])
        with_port = {f"{name}:{port}" for name in self.names}
        return frozenset(with_port | (self.names if port == 80 else set()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        authorities = self._authorities(scope)
        host = headers.get("host", "").strip().lower()
        if host not in authorities:
            port = scope["server"][1] if scope.get("server") else "<port>"
            allowed = ", ".join(sorted(authorities)) or "none (no listening port)"
            detail = (
                f"this review server answers only to Host {allowed}, not {host or 'no Host'!r}; "
                f"open the page at http://127.0.0.1:{port}/"
            )
            return await _refuse(scope, receive, send, 421, detail)
        changes = scope["method"] not in SAFE_METHODS
        computes = scope["method"] == "POST" and scope["path"] in self.compute_only
        if changes and not computes and (problem := self._state_change_problem(headers, authorities)):
            return await _refuse(scope, receive, send, 403, problem)
        if not changes and "content-length" not in headers and "transfer-encoding" not in headers:
            return await self.app(scope, receive, send)
        declared = headers.get("content-length", "").strip()
        if declared.isdigit() and int(declared) > self.max_body:
            return await _refuse(scope, receive, send, 413, self._too_large(int(declared)))
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            body += message.get("body", b"")
            if len(body) > self.max_body:
                return await _refuse(scope, receive, send, 413, self._too_large(None))
            if not message.get("more_body", False):
                break
        return await self.app(scope, _replay(bytes(body), receive), send)

    def _state_change_problem(self, headers: dict[str, str], authorities: frozenset[str]) -> str | None:
        own = {f"http://{a}" for a in authorities}
        if "origin" in headers:
            origin = headers["origin"].strip().lower()
            if origin not in own:
                return f"refused: a change asked for by a page of another origin ({origin or 'empty'!r})"
        elif "referer" in headers:
            parts = urlsplit(headers["referer"].strip())
            origin = f"{parts.scheme}://{parts.netloc}".lower()
            if origin not in own:
                return (
                    f"refused: a change asked for by a page of another origin ({origin!r}, from its Referer)"
                )
        given = headers.get(TOKEN_HEADER.lower(), "").encode("latin-1")
        if not given:
            return f"refused: a change needs the {TOKEN_HEADER} header the review page sends; reload the page"
        if not secrets.compare_digest(given, self.token):
            return f"refused: the {TOKEN_HEADER} header is not this server's (restarted?); reload the page"
        return None

    def _too_large(self, declared: int | None) -> str:
        if declared is None:
            return f"the request body passed {self.max_body:,} bytes, the most this server takes"
        return f"the request body is {declared:,} bytes, more than the {self.max_body:,} this server takes"


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
    """Answer with `{"detail": ...}`; after a 413 the connection is closed (the rest of the body is never
    read)."""
    headers = {"Connection": "close"} if status == 413 else None
    await JSONResponse({"detail": detail}, status_code=status, headers=headers)(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the body already read in one message, then what the server sends next
    (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
