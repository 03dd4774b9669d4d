"""Runs test helpers: a real server hosting the runs domain, and raw HTTP requests (so bad
input can be sent)."""

from __future__ import annotations

import gzip
import json
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import Request, urlopen

from sentinel_testing import OPERATOR_TOKEN, start_server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunsServer:
    """A real Sentinel server hosting the runs domain alone, with two runs identities."""

    url: str
    domain: Any
    token: str
    """A token of scope ``runs`` (identity ``tracker-a``)."""
    other_token: str
    """A token of scope ``runs`` of another identity (``tracker-b``)."""
    operator_token: str = OPERATOR_TOKEN


def start_runs_server(tmp_path: Path, db_url: str, settings: Any = None) -> tuple[RunsServer, Any]:
    """``sentinel serve --domains runs`` on free ports (its body limits and error handling
    included); returns the server's handle and the function that stops it."""
    domain_settings = {"runs": settings} if settings is not None else {}
    server = start_server(tmp_path, db_url, domains=("runs",), domain_settings=domain_settings)
    found = RunsServer(
        url=server.http_url,
        domain=server.domains["runs"],
        token=server.tokens.create("runs", name="tracker-a")[1],
        other_token=server.tokens.create("runs", name="tracker-b")[1],
    )
    return found, server.stop


def csv_text(seconds: int = 120, gpus: int = 1) -> str:
    """A plausible run's CSV (the demo's generator, which lives on the server side)."""
    from sentinel.runs._demo import synthetic_csv

    return synthetic_csv(seconds, cores=2.0, memory_mib=4000, gpus=gpus, start=1.7e9, seed=7)


def call(
    url: str,
    method: str = "POST",
    *,
    token: str | None = None,
    body: Any = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """Send a request; returns the status and the decoded JSON answer."""
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    req = Request(url, data=data, method=method)
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def gz(body: Any) -> bytes:
    return gzip.compress(json.dumps(body).encode())
