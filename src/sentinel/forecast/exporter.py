"""Synthetic service metrics with a daily season, a trend and noise, as a Prometheus
exporter and as backfill history: the demo's data and the tests'.

Values are a pure function of time (noise from a hash of the timestamp's step), so the
backfilled past and the live scrapes describe one consistent series.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

DAY = 86400.0


def _noise(name: str, t: float, every: float = 15.0) -> float:
    """A standard-normal-ish value fixed per ``every`` seconds (sum of 4 uniforms)."""
    digest = hashlib.blake2b(f"{name}:{int(t // every)}".encode(), digest_size=8).digest()
    return (sum(digest[i] for i in range(4)) / 255.0 - 2.0) * math.sqrt(3)


@dataclass(frozen=True)
class Signal:
    """One synthetic series: a name, labels, its kind and its value at time ``t``."""

    name: str
    labels: dict[str, str]
    kind: str
    """``gauge`` or ``counter`` (then ``value`` is the running total)."""
    value: Callable[[float], float]


def service_signals(route: str = "/checkout", period: float = DAY) -> list[Signal]:
    """A latency gauge, a request counter and a queue-depth gauge of a web service."""

    def latency(t: float) -> float:
        season = 0.06 * math.sin(2 * math.pi * t / period) + 0.02 * math.sin(
            4 * math.pi * t / period
        )
        return 0.25 + season + 1e-8 * (t % (30 * DAY)) + 0.01 * _noise("lat" + route, t)

    def requests_total(t: float) -> float:
        # The integral of 40 + 25 sin(2 pi t / period) requests per second.
        return 40 * t - 25 * period / (2 * math.pi) * math.cos(2 * math.pi * t / period) + 1e6

    def queue(t: float) -> float:
        return max(
            0.0, 20 + 12 * math.sin(2 * math.pi * (t - period / 6) / period) + 2 * _noise("q", t)
        )

    labels = {"route": route}
    return [
        Signal("demo_request_latency_seconds", labels, "gauge", latency),
        Signal("demo_http_requests_total", labels, "counter", requests_total),
        Signal("demo_queue_depth", {}, "gauge", queue),
    ]


def openmetrics(
    signals: Sequence[Signal], start: float, end: float, step: float, extra: dict[str, str]
) -> str:
    """History of ``signals`` from ``start`` to ``end`` every ``step`` seconds, with
    ``extra`` labels (the scrape's ``job`` and ``instance``), for ``promtool`` backfilling."""
    lines: list[str] = []
    families = sorted({(s.name, s.kind) for s in signals})
    for name, kind in families:
        family = name.removesuffix("_total") if kind == "counter" else name
        lines.append(f"# TYPE {family} {kind}")
        for s in (s for s in signals if s.name == name):
            labels = ",".join(f'{k}="{v}"' for k, v in sorted({**s.labels, **extra}.items()))
            t = start
            while t <= end:
                lines.append(f"{name}{{{labels}}} {s.value(t):.6f} {t:.3f}")
                t += step
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


class SignalCollector:
    """A ``prometheus_client`` collector of ``signals`` evaluated at scrape time."""

    def __init__(self, signals: Sequence[Signal], clock: Callable[[], float]) -> None:
        self.signals, self.clock = list(signals), clock

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        now = self.clock()
        for s in self.signals:
            names = sorted(s.labels)
            if s.kind == "counter":
                fam: Any = CounterMetricFamily(s.name.removesuffix("_total"), s.name, labels=names)
            else:
                fam = GaugeMetricFamily(s.name, s.name, labels=names)
            fam.add_metric([s.labels[k] for k in names], s.value(now))
            yield fam


def serve_signals(signals: Sequence[Signal], clock: Callable[[], float]) -> tuple[Any, int]:
    """An exporter of ``signals`` on a free loopback port; returns ``(server, port)``."""
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry()
    registry.register(SignalCollector(signals, clock))  # type: ignore[arg-type]
    server, _ = start_http_server(0, addr="127.0.0.1", registry=registry)
    return server, int(server.server_address[1])
