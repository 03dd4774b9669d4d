"""Forecasts as Prometheus metrics, and the standalone HTTP server of ``Sentinel.start()``.

``{metric}_sentinel_predicted`` (and ``_lower``/``_upper`` when enabled) carry the series'
own labels plus ``sentinel_horizon``, ``sentinel_version`` and ``sentinel_step`` (1-based).
A scrape sees the forecast made at the last cycle; the values belong to future times, which
is why the remote-read endpoint exists as well.
"""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from sentinel.forecast.engine import Sentinel


class ForecastCollector(Collector):
    """Yields the latest forecast of every series of a :class:`Sentinel`."""

    def __init__(self, sentinel: Sentinel) -> None:
        self.sentinel = sentinel

    def collect(self) -> Iterator[GaugeMetricFamily]:
        bounds = self.sentinel.config.emit_confidence_bounds
        families: dict[str, GaugeMetricFamily] = {}

        def family(name: str, labels: list[str], doc: str) -> GaugeMetricFamily:
            key = f"{name}|{','.join(labels)}"
            if key not in families:
                families[key] = GaugeMetricFamily(name, doc, labels=labels)
            return families[key]

        for state in self.sentinel.series():
            f = state.forecast
            if f is None:
                continue
            names = sorted(state.labels)
            extra = ["sentinel_horizon", "sentinel_version", "sentinel_step"]
            label_names = names + extra
            parts = [("", f.values, "Sentinel's forecast")]
            if bounds and f.lower is not None and f.upper is not None:
                parts += [
                    ("_lower", f.lower, "Lower bound (90 %)"),
                    ("_upper", f.upper, "Upper bound (90 %)"),
                ]
            for suffix, values, doc in parts:
                g = family(f"{state.metric}_sentinel_predicted{suffix}", label_names, doc)
                for step, value in enumerate(values.tolist(), start=1):
                    g.add_metric(
                        [state.labels[k] for k in names]
                        + [state.watch.horizon, f.version, str(step)],
                        value,
                    )
        yield from families.values()


class _Handler(BaseHTTPRequestHandler):
    server: Any

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _params(self, body: bytes = b"") -> tuple[str, list[tuple[str, str]]]:
        url = urlsplit(self.path)
        params = parse_qsl(url.query, keep_blank_values=True)
        if body and "form" in self.headers.get("content-type", ""):
            params += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        return url.path, params

    def do_GET(self) -> None:
        self._answer(b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self._answer(self.rfile.read(min(length, 16 * 1024 * 1024)), post=True)

    def _answer(self, body: bytes, post: bool = False) -> None:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        from sentinel.forecast import query, remote_read

        path, params = self._params(body)
        sentinel = self.server.sentinel
        if path == "/metrics":
            self._send(200, generate_latest(self.server.registry), CONTENT_TYPE_LATEST)
        elif path == "/api/v1/read" and post:
            status, data, headers = remote_read.answer(sentinel, body, dict(self.headers))
            self._send(status, data, headers.pop("Content-Type"), headers)
        elif path.startswith("/api/v1/"):
            status, data, content_type = query.answer(
                sentinel, path.removeprefix("/api/v1/"), params
            )
            self._send(status, data, content_type)
        else:
            self._send(
                404, b"not found: /metrics, /api/v1/... and /api/v1/read are served\n", "text/plain"
            )


def serve(sentinel: Sentinel, host: str, port: int) -> ThreadingHTTPServer:
    """Start the standalone server in a daemon thread; returns it (``shutdown()`` stops)."""
    from prometheus_client import CollectorRegistry

    server = ThreadingHTTPServer((host, port), _Handler)
    server.daemon_threads = True
    registry = CollectorRegistry()
    registry.register(ForecastCollector(sentinel))
    server.sentinel = sentinel  # type: ignore[attr-defined]
    server.registry = registry  # type: ignore[attr-defined]
    Thread(target=server.serve_forever, name="sentinel-emitter", daemon=True).start()
    return server
