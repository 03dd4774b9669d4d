"""What every HTTP response carries and how big a request may be.

Browsers get a Content-Security-Policy the dashboard and ``/docs`` work under (scripts,
styles and fonts only from this server, no inline script, no framing). Requests get
explicit size limits answered with the status that names the problem: 414 for the
request target, 431 for the headers, 413 for the body. Without them, h11 accepts any
request head that arrives in one read, answers one that spans reads with a bare 400,
and closes with the rest of the request unread, which the client sees as a connection
reset instead of an answer.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

MAX_TARGET_BYTES = 8 * 1024
"""Longest request target (path and query) answered; longer ones get 414."""
MAX_HEADER_BYTES = 32 * 1024
"""Most header bytes (names and values) answered; more get 431."""
MAX_HEAD_BYTES = 64 * 1024
"""Most bytes h11 buffers for an unfinished request head before answering 414 or 431."""
MAX_BODY_BYTES = 1024 * 1024
"""Largest request body read, unless a domain allows more under a path; larger gets 413."""

_LINGER_S = 2.0
_LINGER_BYTES = 64 * 1024 * 1024

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
_RAW_HEADERS = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _too_big_head(target_bytes: int, header_bytes: int) -> tuple[int, str] | None:
    if target_bytes > MAX_TARGET_BYTES:
        return 414, (
            f"the request target is {target_bytes:,} bytes, more than the "
            f"{MAX_TARGET_BYTES:,} this server reads; send fewer or shorter query parameters"
        )
    if header_bytes > MAX_HEADER_BYTES:
        return 431, (
            f"the request headers are {header_bytes:,} bytes, more than the "
            f"{MAX_HEADER_BYTES:,} this server reads; send fewer or shorter headers"
        )
    return None


def _too_big_body(size: int | None, limit: int) -> str:
    told = f"{size:,} bytes, more than" if size is not None else "larger than"
    return (
        f"the request body is {told} the {limit:,} bytes this server reads here; send less at once"
    )


def _json_error(status: int, message: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
    body = json.dumps({"error": message}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *_RAW_HEADERS,
    ]
    return headers, body


async def _answer(send: Send, status: int, message: str) -> None:
    headers, body = _json_error(status, message)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Hardening:
    """ASGI middleware: security headers and ``Server-Timing: app;dur=<ms>`` (the time until
    the response started) on every response, size limits on every request. Pure ASGI: a
    Starlette ``BaseHTTPMiddleware`` costs a task group and memory streams per request.

    Args:
        app: The application.
        body_limits: Largest body in bytes per path prefix (the longest matching prefix
            wins); other paths get ``MAX_BODY_BYTES``.
    """

    def __init__(self, app: ASGIApp, body_limits: Mapping[str, int] | None = None) -> None:
        self.app = app
        self._limits = sorted((body_limits or {}).items(), key=lambda kv: -len(kv[0]))

    def _body_limit(self, path: str) -> int:
        return next((n for prefix, n in self._limits if path.startswith(prefix)), MAX_BODY_BYTES)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        answered = False  # by this middleware, instead of the app
        started = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            if answered:
                return
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in _RAW_HEADERS if k not in present]
                ms = (time.perf_counter() - started) * 1000
                extra.append((b"server-timing", f"app;dur={ms:.2f}".encode()))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        target = len(scope.get("raw_path", b"")) + len(scope.get("query_string", b""))
        headers = scope.get("headers", [])
        refusal = _too_big_head(target, sum(len(k) + len(v) for k, v in headers))
        length = next((v for k, v in headers if k == b"content-length"), None)
        limit = self._body_limit(scope.get("path", ""))
        if refusal is None and length is not None and length.isdigit():
            if int(length) > limit:
                refusal = 413, _too_big_body(int(length), limit)
        if refusal is not None:
            await _answer(send, *refusal)
            return

        received = 0

        async def counted() -> Message:
            nonlocal received, answered
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # A body without Content-Length: answer 413 now, and tell the app the
                    # client is gone so it stops reading; what it answers is dropped.
                    await _answer(send, 413, _too_big_body(None, limit))
                    answered = True
                    return {"type": "http.disconnect"}
            return message

        await self.app(scope, counted, send_with_headers)


class LimitedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, answering a request head h11 refuses with 414, 431 or 400.

    The answer is followed by a lingering close: the server stops writing, then reads and
    discards what the client still sends (up to a bound) before closing, so that the
    client reads the answer instead of a connection reset. Use it with
    ``h11_max_incomplete_event_size=MAX_HEAD_BYTES``.
    """

    _lingering = False
    _discarded = 0

    def send_400_response(self, msg: str) -> None:
        head, _ = self.conn.trailing_data
        line_end = head.find(b"\r\n")
        status, message = 400, f"the request is not valid HTTP/1.1 ({msg.rstrip('.')})"
        if len(head) > MAX_HEAD_BYTES:
            # Past the limit one of the two parts is over its own, smaller limit.
            target = len(head) if line_end < 0 else line_end
            status, message = _too_big_head(target, len(head) - target) or (status, message)
        headers, body = _json_error(status, message)
        self.transport.write(
            b"".join(
                (
                    f"HTTP/1.1 {status} {_PHRASES[status]}\r\n".encode(),
                    *(k + b": " + v + b"\r\n" for k, v in headers),
                    b"connection: close\r\n\r\n",
                    body,
                )
            )
        )
        self._linger()

    def _linger(self) -> None:
        self._lingering = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(_LINGER_S, self.transport.close)

    def data_received(self, data: bytes) -> None:
        if not self._lingering:
            super().data_received(data)
            return
        self._discarded += len(data)
        if self._discarded > _LINGER_BYTES:
            self.transport.close()

    def eof_received(self) -> None:
        if self._lingering:
            self.transport.close()


_PHRASES = {400: "Bad Request", 414: "URI Too Long", 431: "Request Header Fields Too Large"}
