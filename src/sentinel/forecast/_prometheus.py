"""A small client of the Prometheus HTTP API (standard library only)."""

from __future__ import annotations

import json
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode
from urllib.request import Request, urlopen

MAX_POINTS = 11_000
"""Prometheus refuses a range query of more points than this per series."""


class PrometheusError(RuntimeError):
    """Prometheus could not be reached or refused the query."""


class PrometheusClient:
    """``GET``s against one Prometheus."""

    def __init__(self, url: str, timeout: float) -> None:
        self.url, self.timeout = url.rstrip("/"), timeout

    def raw(self, path: str, params: list[tuple[str, str]]) -> tuple[int, bytes, str]:
        """Status, body and content type of ``GET path?params`` (any status)."""
        query = urlencode(params)
        request = Request(f"{self.url}{path}" + (f"?{query}" if query else ""))
        try:
            with urlopen(request, timeout=self.timeout) as resp:
                return resp.status, resp.read(), resp.headers.get("content-type", "")
        except HTTPError as exc:
            return exc.code, exc.read(), exc.headers.get("content-type", "")
        except (URLError, OSError) as exc:
            raise PrometheusError(f"Prometheus at {self.url} is unreachable: {exc}") from None

    def api(self, path: str, params: list[tuple[str, str]]) -> Any:
        """The ``data`` of a successful API answer."""
        status, body, _ = self.raw(path, params)
        try:
            doc = json.loads(body)
        except ValueError:
            raise PrometheusError(f"Prometheus answered {status} with no JSON") from None
        if doc.get("status") != "success":
            raise PrometheusError(
                f"Prometheus refused {path}: {doc.get('errorType', status)}: {doc.get('error')}"
            )
        return doc["data"]

    def range(self, query: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        """``query_range`` results (``metric``, ``values``), split to respect ``MAX_POINTS``."""
        merged: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
        chunk = step * (MAX_POINTS - 1)
        t = start
        while t <= end:
            stop = min(end, t + chunk)
            data = self.api(
                "/api/v1/query_range",
                [
                    ("query", query),
                    ("start", f"{t:.3f}"),
                    ("end", f"{stop:.3f}"),
                    ("step", f"{step:g}"),
                ],
            )
            for item in data["result"]:
                key = tuple(sorted(item["metric"].items()))
                merged.setdefault(key, {"metric": item["metric"], "values": []})["values"] += item[
                    "values"
                ]
            t = stop + step
        return list(merged.values())

    def metric_type(self, metric: str) -> str:
        """The metric's type from the metadata API (``counter``, ``gauge``...) or ``""``."""
        data = self.api("/api/v1/metadata", [("metric", metric)])
        entries = data.get(metric) or []
        return str(entries[0].get("type", "")) if entries else ""
