"""A loopback stand-in for the OpenAI and Anthropic HTTP APIs, scripted per test.

The real SDK clients talk to it through `base_url` (respx does not intercept the httpx2-based SDKs).
Each request takes the next scripted `Reply` from a queue, whatever its path; an empty queue answers
500. Every request is recorded (path, headers, body) so tests can count requests and look for leaks.

    with FakeLLMServer() as server:
        server.push(rate_limited("openai"), ok("openai", '{"x": 1}'))
        client = OpenAI(base_url=server.openai_url, api_key="k", max_retries=0)
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

Provider = Literal["openai", "anthropic"]


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)

    @property
    def api_key(self) -> str | None:
        """The key as sent in `Authorization: Bearer` (OpenAI) or `x-api-key` (Anthropic)."""
        if key := self.headers.get("x-api-key"):
            return key
        auth = self.headers.get("authorization", "")
        return auth.removeprefix("Bearer ") or None


@dataclass
class Reply:
    """One scripted answer. `body` may be a callable of the request (to echo what the client sent)."""

    status: int = 200
    body: bytes | Callable[[RecordedRequest], bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)
    action: Literal["respond", "hang", "drop"] = "respond"
    hang_s: float = 30.0
    content_type: str = "application/json"


def ok(provider: Provider, text: str, *, input_tokens: int = 1000, output_tokens: int = 200) -> Reply:
    """A 200 completion whose assistant text is `text`, with realistic ids and usage."""
    if provider == "openai":
        body = {
            "id": "chatcmpl-fake123",
            "object": "chat.completion",
            "created": 1735689600,
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": input_tokens,
                "completion_tokens": output_tokens,
                "total_tokens": input_tokens + output_tokens,
            },
            "system_fingerprint": "fp_fake",
        }
    else:
        body = {
            "id": "msg_fake123",
            "type": "message",
            "role": "assistant",
            "model": "claude-3-5-haiku-20241022",
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        }
    return Reply(body=json.dumps(body).encode())


def error(provider: Provider, status: int, message: str, *, headers: dict[str, str] | None = None) -> Reply:
    """An API error in the provider's wire format."""
    kind = {400: "invalid_request_error", 401: "authentication_error", 429: "rate_limit_error"}.get(
        status, "api_error"
    )
    if provider == "openai":
        body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
    else:
        body = {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_fake"}
    return Reply(status=status, body=json.dumps(body).encode(), headers=headers or {})


def rate_limited(provider: Provider, retry_after: str | None = None) -> Reply:
    return error(
        provider, 429, "Rate limit reached", headers={"retry-after": retry_after} if retry_after else None
    )


def unauthorized_echoing_key(provider: Provider) -> Reply:
    """A 401 whose message quotes the key it received, as some proxies do: a leak test's worst case."""

    def body(request: RecordedRequest) -> bytes:
        reply = error(provider, 401, f"Incorrect API key provided: {request.api_key}")
        return reply.body  # type: ignore[return-value]

    return Reply(status=401, body=body)


def html_page() -> Reply:
    """A 200 from a captive portal or a misconfigured proxy."""
    return Reply(body=b"<!DOCTYPE html><html><body><h1>Welcome</h1></body></html>", content_type="text/html")


def truncated(provider: Provider) -> Reply:
    """A 200 whose JSON body stops half way (a dropped stream behind a proxy)."""
    full = ok(provider, '{"title": "x"}').body
    return Reply(body=full[: len(full) // 2])  # type: ignore[index]


def hang(seconds: float = 30.0) -> Reply:
    """Accept the request and answer nothing for `seconds` (longer than the client's timeout)."""
    return Reply(action="hang", hang_s=seconds)


def drop() -> Reply:
    """Read the request, then close the connection without a response."""
    return Reply(action="drop")


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hung up (timeout, dropped connection) is part of the script, not an error."""


class FakeLLMServer:
    """A threaded HTTP server on 127.0.0.1 at a free port; use as a context manager."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._queue: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def openai_url(self) -> str:
        """The OpenAI SDK's base_url (it appends /chat/completions)."""
        return f"{self.url}/v1"

    def base_url(self, provider: Provider) -> str:
        return self.openai_url if provider == "openai" else self.url

    def push(self, *replies: Reply) -> None:
        with self._lock:
            self._queue.extend(replies)

    def __enter__(self) -> FakeLLMServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()

    def _next(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            if self._queue:
                return self._queue.popleft()
        return Reply(
            status=500,
            body=b'{"error": {"message": "fake server: no scripted reply left", "type": "server_error"}}',
        )

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                request = RecordedRequest(
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length),
                )
                if request.path not in ("/v1/chat/completions", "/v1/messages"):
                    self._send(
                        Reply(status=404, body=b'{"error": {"message": "not found", "type": "not_found"}}'),
                        request,
                    )
                    return
                reply = server._next(request)
                if reply.action == "hang":
                    server._stop.wait(reply.hang_s)
                    self.close_connection = True
                elif reply.action == "drop":
                    self.close_connection = True
                    self.connection.close()
                else:
                    self._send(reply, request)

            def _send(self, reply: Reply, request: RecordedRequest) -> None:
                body = reply.body(request) if callable(reply.body) else reply.body
                self.send_response(reply.status)
                self.send_header("content-type", reply.content_type)
                self.send_header("content-length", str(len(body)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        return Handler
