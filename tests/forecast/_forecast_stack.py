"""What the forecast tests share besides fixtures: the running stack and its constants
(a module of its own: test modules cannot import a ``conftest`` by name reliably)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sentinel.forecast.exporter import Signal
from sentinel.forecast.prometheus_process import PrometheusProcess

PERIOD = 3600.0
"""The test exporter's season: one hour, a calendar period at 15 s granularity."""
HISTORY = 3 * 3600.0


@dataclass
class Stack:
    """A running exporter and Prometheus, and where Sentinel is expected to listen."""

    prometheus: PrometheusProcess
    exporter_target: str
    sentinel_port: int
    signals: list[Signal]
    removable: dict[str, float]
    """Label value -> value of the ``test_temp_gauge`` series the exporter serves; delete a
    key and the series disappears from the next scrape."""

    @property
    def url(self) -> str:
        return self.prometheus.url


def scrape_ready(url: str, query: str) -> Any:
    """The result of an instant query, or ``None`` while it is empty."""
    import httpx

    data = httpx.get(f"{url}/api/v1/query", params={"query": query}, timeout=5).json()
    return data["data"]["result"] or None
