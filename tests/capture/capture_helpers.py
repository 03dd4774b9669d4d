"""What the capture tests share: the server's issues and events through its API."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sentinel_testing import wait_for

REPO = "acme/shop"
"""The repository the ``server`` fixture's key reports for."""


def issues(server: Any, **query: str) -> list[dict[str, Any]]:
    """The server's issues through its API (every status unless ``status`` is given)."""
    answer = httpx.get(server.http_url + "/api/v1/capture/issues", params={"status": "", **query})
    answer.raise_for_status()
    return list(answer.json()["issues"])


def events_of(server: Any, issue_id: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{server.http_url}/api/v1/capture/issues/{issue_id}/events")
    answer.raise_for_status()
    return list(answer.json()["events"])


def wait_for_events(server: Any, n: int, **query: str) -> list[dict[str, Any]]:
    """Wait until the server holds ``n`` events in all; returns the issues."""
    return wait_for(
        lambda: (
            (found := issues(server, **query))
            and sum(i["event_count"] for i in found) >= n
            and found
        ),
        f"{n} events on the server",
    )


class ScriptedGateway:
    """A local HTTP server answering ``POST /api/v1/exceptions`` with scripted statuses.

    For the dispatcher's retry behaviour (5xx, 429 with ``Retry-After``), which the real
    gateway shows only under faults; every request is recorded with its arrival time.
    """

    def __init__(self, answers: list[tuple[int, dict[str, str]]]) -> None:
        import time
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.answers = list(answers)
        self.requests: list[tuple[float, dict[str, str], dict[str, Any]]] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                gateway.requests.append((time.monotonic(), dict(self.headers), json.loads(body)))
                status, headers = gateway.answers.pop(0) if gateway.answers else (202, {})
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(json.dumps({"error": f"scripted {status}"}).encode())

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextmanager
def serve_asgi(app: Any) -> Iterator[str]:
    """``app`` served by a real uvicorn on a free port; yields its base URL."""
    import socket

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, "the app's uvicorn to listen")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def need(module: str, install: str) -> Any:
    """``module`` imported; else skip, or fail under CI (``CI`` set) saying how to install it."""
    import importlib
    import os

    import pytest

    try:
        return importlib.import_module(module)
    except ImportError:
        message = f"{module} is not installed: `pip install '{install}'` (the test extra has it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
