"""The engine's own Prometheus metrics, in a registry per engine (tests run several)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sentinel.fleet.engine.enums import GpuState

if TYPE_CHECKING:
    from sentinel.fleet.engine.engine import FleetEngine


class _Live(Collector):
    """Gauges read from the engine at scrape time."""

    def __init__(self, engine: FleetEngine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[Metric]:
        eng = self._engine
        depth = GaugeMetricFamily(
            "sentinel_ingest_queue_depth", "Operations waiting for the engine's writer."
        )
        depth.add_metric([], eng.queue_depth)
        yield depth
        ledger = GaugeMetricFamily("sentinel_ledger_entries", "Entries in the audit ledger.")
        ledger.add_metric([], len(eng.ledger))
        yield ledger
        gpus = GaugeMetricFamily("sentinel_gpus", "GPUs by lifecycle state.", labels=["state"])
        for s in GpuState:
            gpus.add_metric([s.name], eng.state.state_count.get(s, 0))
        yield gpus
        agents = GaugeMetricFamily("sentinel_active_agents", "Agents with a recent heartbeat.")
        agents.add_metric([], eng.active_agents())
        yield agents
        degraded = GaugeMetricFamily(
            "sentinel_engine_degraded",
            "1 while the database is away and the engine refuses new operations.",
        )
        degraded.add_metric([], 1 if eng.unavailable else 0)
        yield degraded


class EngineMetrics:
    """Counters the engine updates, plus a window of recent ingest latencies for p99."""

    def __init__(self, engine: FleetEngine) -> None:
        self.registry = CollectorRegistry()
        self.reports = Counter(
            "sentinel_reports_ingested",
            "Agent reports (probe, anomaly, TMR, telemetry) applied to the engine state.",
            registry=self.registry,
        )
        self.latency = Histogram(
            "sentinel_ingest_latency_seconds",
            "Time from a report batch reaching the engine to its state update committing.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )
        self.verifications = Counter(
            "sentinel_chain_verifications",
            "Audit chain verifications by result.",
            ["result"],
            registry=self.registry,
        )
        self.verify_seconds = Histogram(
            "sentinel_chain_verification_seconds",
            "Duration of audit chain verifications.",
            registry=self.registry,
        )
        self.outage_seconds = Counter(
            "sentinel_engine_outage_seconds",
            "Time the engine spent waiting for the database to come back.",
            registry=self.registry,
        )
        self.refused_operations = Counter(
            "sentinel_engine_refused_operations",
            "Operations that failed on their own (the database refused their data, or they "
            "raised) and were undone without touching the rest of their batch.",
            registry=self.registry,
        )
        self.recent_latencies: deque[float] = deque(maxlen=100_000)
        self.registry.register(_Live(engine))

    def observe_ingest(self, reports: int, seconds: float) -> None:
        self.reports.inc(reports)
        self.latency.observe(seconds)
        self.recent_latencies.append(seconds)

    def observe_verify(self, valid: bool, seconds: float) -> None:
        self.verifications.labels(result="valid" if valid else "invalid").inc()
        self.verify_seconds.observe(seconds)
