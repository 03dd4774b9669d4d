"""The forecast part of ``sentinel up``: a synthetic service exporter with two days of
backfilled history, a real Prometheus scraping it and the server's ``/metrics``, with a
``remote_read`` entry pointing back at the server, and watches on three of its series."""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sentinel.core.domain import Demo
from sentinel.forecast.config import WatchConfig
from sentinel.forecast.exporter import openmetrics, serve_signals, service_signals
from sentinel.forecast.prometheus_process import PrometheusProcess, free_port

log = logging.getLogger(__name__)

HISTORY_S = 2 * 86400
DEMO_WATCHES = (
    WatchConfig(metric="demo_request_latency_seconds", labels={"route": "/checkout"}),
    WatchConfig(metric="demo_http_requests_total", labels={"route": "/checkout"}),
    WatchConfig(metric="demo_queue_depth", horizon="15m", drift_threshold_mode="relative"),
)


def demo_prometheus_port() -> int:
    """The port the demo's Prometheus will listen on (chosen before the server starts)."""
    return free_port()


class ForecastDemo(Demo):
    """Runs the exporter and Prometheus for as long as ``sentinel up`` runs."""

    def __init__(self, http_url: str, prometheus_port: int) -> None:
        self.http_url, self.port = http_url, prometheus_port
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._prometheus: PrometheusProcess | None = None
        self._exporter: Any = None
        self.problem = ""

    def start(self) -> None:
        signals = service_signals()
        try:
            self._exporter, port = serve_signals(signals, time.time)
            self._dir = tempfile.TemporaryDirectory(prefix="sentinel-demo-prometheus-")
            target = f"127.0.0.1:{port}"
            sentinel = self.http_url.split("://", 1)[1]
            prom = PrometheusProcess(
                Path(self._dir.name),
                scrape=[
                    {"job_name": "demo-api", "static_configs": [{"targets": [target]}]},
                    {
                        "job_name": "sentinel",
                        "honor_labels": True,
                        "static_configs": [{"targets": [sentinel]}],
                    },
                ],
                remote_read=[
                    {"url": f"{self.http_url}/forecast/prometheus/api/v1/read", "read_recent": True}
                ],
                port=self.port,
            )
            now = time.time()
            prom.backfill(
                openmetrics(
                    signals,
                    now - HISTORY_S,
                    now - 120,
                    60.0,
                    {"job": "demo-api", "instance": target},
                )
            )
            self._prometheus = prom.start()
        except (FileNotFoundError, RuntimeError, OSError) as exc:
            self.problem = f"forecast demo without Prometheus: {exc}"
            log.warning("%s", self.problem)

    def stop(self) -> None:
        if self._prometheus is not None:
            self._prometheus.stop()
        if self._exporter is not None:
            self._exporter.shutdown()
            self._exporter.server_close()
        if self._dir is not None:
            self._dir.cleanup()

    def describe(self) -> Sequence[str]:
        if self.problem:
            return (self.problem,)
        return (
            f"Forecasts: {self.http_url}/forecast (Prometheus at http://127.0.0.1:{self.port}, "
            f"Grafana data source URL {self.http_url}/forecast/prometheus)",
        )
