"""LLM test helpers: small labelled streams, servers hosting the LLM domain, raw HTTP."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import Request, urlopen

from sentinel_testing import OPERATOR_TOKEN, start_server

from sentinel.llm.settings import LlmSettings

START = 1_750_000_000 // 3600 * 3600
"""Event time at which test streams begin (a whole hour)."""

FAST = LlmSettings(
    window_s=60,
    warmup_windows=10,
    history_windows=60,
    min_events=15,
    lstm="off",
    persist_interval_s=0.0,
)
"""Settings for short test streams: a 10-minute warm-up at 1 event/s per key."""


@dataclass
class LlmServer:
    """A real Sentinel server hosting the LLM domain, and an ingestion token."""

    url: str
    server: Any
    token: str
    operator_token: str = OPERATOR_TOKEN

    @property
    def domain(self) -> Any:
        return self.server.domains["llm"]


def start_llm_server(tmp_path: Path, db_url: str = "", settings: LlmSettings = FAST) -> LlmServer:
    server = start_server(tmp_path, db_url, domains=("llm",), domain_settings={"llm": settings})
    return LlmServer(server.http_url, server, server.tokens.create("llm", name="app-a")[1])


def call(
    url: str,
    method: str = "GET",
    *,
    token: str | None = None,
    body: bytes | None = None,
    content_type: str = "application/json",
) -> tuple[int, bytes, str]:
    """One HTTP request; ``(status, body, content type)`` whatever the status."""
    req = Request(url, data=body, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        req.add_header("Content-Type", content_type)
    try:
        with urlopen(req, timeout=60) as resp:
            return resp.status, resp.read(), resp.headers.get("content-type", "")
    except HTTPError as exc:
        return exc.code, exc.read(), exc.headers.get("content-type", "")


def call_json(url: str, method: str = "GET", **kwargs: Any) -> tuple[int, Any]:
    status, body, _ = call(url, method, **kwargs)
    return status, json.loads(body) if body else None
