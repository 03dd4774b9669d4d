"""Security headers and request size limits of the HTTP server, over real sockets."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sentinel.server._hardening import (
    MAX_BODY_BYTES,
    MAX_HEADER_BYTES,
    MAX_TARGET_BYTES,
    SECURITY_HEADERS,
)


@pytest.fixture
def http(server: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.http_url, timeout=30) as c:
        yield c


def _raw(server: Any, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` whole, then read the answer to the end; a reset fails the test."""
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=30) as c:
        c.sendall(request)
        c.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := c.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def _assert_secured(headers: Any) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert headers[name] == value, name


def test_every_kind_of_response_carries_the_security_headers(
    server: Any, http: httpx.Client
) -> None:
    for path in (
        "/",
        "/directives",
        "/api/v1/overview",
        "/static/app.js",
        "/docs",
        "/openapi.json",
    ):
        r = http.get(path)
        assert r.status_code == 200, path
        _assert_secured(r.headers)
    for path, status in (("/no/such/page", 404), ("/api/v1/gpus?limit=0", 400)):
        r = http.get(path)
        assert r.status_code == status
        _assert_secured(r.headers)
    csp = SECURITY_HEADERS["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert SECURITY_HEADERS["X-Frame-Options"] == "DENY"


def test_a_long_request_target_gets_414(server: Any, http: httpx.Client) -> None:
    fits = http.get("/api/v1/gpus", params={"host": "h" * (MAX_TARGET_BYTES - 100)})
    assert fits.status_code == 200
    r = http.get("/api/v1/gpus", params={"host": "h" * (MAX_TARGET_BYTES + 1)})
    assert r.status_code == 414
    assert "request target" in r.json()["error"]
    _assert_secured(r.headers)
    # Far past what h11 buffers: still an answer, not a connection reset.
    target = b"/api/v1/gpus?host=" + b"h" * 4_000_000
    status, headers, body = _raw(server, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 414
    assert "request target" in json.loads(body)["error"]
    assert headers["x-frame-options"] == "DENY"


def test_large_headers_get_431(server: Any, http: httpx.Client) -> None:
    r = http.get("/api/v1/overview", headers={"X-Padding": "p" * (MAX_HEADER_BYTES + 1)})
    assert r.status_code == 431
    assert "headers" in r.json()["error"]
    request = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Padding: " + b"p" * 4_000_000 + b"\r\n\r\n"
    status, _, body = _raw(server, request)
    assert status == 431
    assert "send fewer or shorter headers" in json.loads(body)["error"]


def test_a_large_body_gets_413_and_the_server_answers_on(server: Any, http: httpx.Client) -> None:
    url = "/api/v1/directives/review"
    r = http.post(url, content=b"[" + b" " * MAX_BODY_BYTES + b"]")
    assert r.status_code == 413
    assert f"{MAX_BODY_BYTES:,}" in r.json()["error"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the server counts as it reads
        for _ in range(4):
            yield b" " * (MAX_BODY_BYTES // 2)

    r = http.post(url, content=chunks())
    assert r.status_code == 413
    assert http.get("/api/v1/overview").status_code == 200


def test_a_request_that_is_not_http_gets_400(server: Any) -> None:
    status, _, body = _raw(server, b"GET / HTTP/1.1\r\nno colon here\r\n\r\n")
    assert status == 400
    assert "not valid HTTP/1.1" in json.loads(body)["error"]
