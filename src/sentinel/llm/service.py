"""The LLM detector service as a domain of the server: ingest routes, the Kafka consumer,
pages, its home card, GPU links and its demo."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sentinel.core.domain import Card, Demo, Domain, Health, Host, NavEntry, Related
from sentinel.core.events import GpuAnomaly
from sentinel.core.events import Severity as EventSeverity
from sentinel.llm import pages, routes
from sentinel.llm.consumer import KafkaWorker
from sentinel.llm.findings import GpuReport
from sentinel.llm.ingest import LlmIngest
from sentinel.llm.settings import LlmSettings
from sentinel.llm.types import Severity

if TYPE_CHECKING:
    from fastapi import APIRouter

_SEVERITY: dict[Severity, EventSeverity] = {
    Severity.LOW: "info",
    Severity.MEDIUM: "warning",
    Severity.HIGH: "high",
    Severity.CRITICAL: "critical",
}


class LlmDomain(Domain):
    """LLM telemetry (seed 004): events over HTTP, OTLP or Kafka; anomalies; pages."""

    name = "llm"
    package = "sentinel.llm"
    attributes = ("llm",)

    def __init__(self, host: Host) -> None:
        super().__init__(host)
        self.settings: LlmSettings = (
            host.settings.domain_settings.get("llm") or LlmSettings.from_env()
        )
        self.llm = LlmIngest(host.db, self.settings)
        """Detection and storage without transport (``server.llm``)."""
        self.workers = [KafkaWorker(self.llm, self.settings)] if self.settings.kafka_brokers else []
        self.llm.on_gpu_report(self._publish)

    def _publish(self, report: GpuReport) -> None:
        """A model's answers drifting on one GPU alone is evidence against that GPU: publish it
        on the host, where the fleet (when hosted) records it as an anomaly of the GPU."""
        self.host.events.publish(
            GpuAnomaly(
                anomaly_id=report.anomaly_id,
                gpu_uuid=report.gpu_uuid,
                source="llm",
                severity=_SEVERITY[report.severity],
                score=report.score,
                threshold=report.threshold,
                timestamp=report.timestamp,
                detail=f"{report.service} / {report.model}: {report.detail}",
            )
        )

    def nav(self) -> Sequence[NavEntry]:
        return (NavEntry("LLM", "/llm", "llm"),)

    def routers(self) -> Sequence[APIRouter]:
        return (
            routes.router(self.llm, self.host.authorizer),
            pages.router(self.llm.store, self.host.templates, self.settings.window_s),
        )

    def body_limits(self) -> Mapping[str, int]:
        """Event batches and trace exports are larger than the server's 1 MiB default."""
        limit = self.settings.max_body_bytes
        return {"/api/v1/llm": limit, "/v1/traces": limit}

    def start(self) -> None:
        for w in self.workers:
            w.start()

    def stop(self) -> None:
        for w in self.workers:
            w.stop()
        self.llm.persist()

    def health(self) -> Health:
        problems = [w.problem for w in self.workers if w.problem]
        details: dict[str, Any] = {
            "llm_events": self.llm.events,
            "llm_gpu_reports": self.llm.gpu_reports,
        }
        if self.workers:
            details["llm_kafka_partitions"] = [p for w in self.workers for p in w.assigned]
        return Health(problems=problems, details=details)

    def status_line(self) -> str:
        counts = self.llm.store.counts()
        return f"llm: {self.llm.events:,} events, {sum(counts.values()):,} anomalies"

    def card(self) -> Card | None:
        counts = self.llm.store.counts()
        recent, total = self.llm.store.search(limit=5)
        worst = max((a.severity for a in recent), default=Severity.LOW)
        return Card(
            title="LLM telemetry",
            href="/llm",
            figures=[("anomalies", f"{total:,}"), ("events", f"{self.llm.events:,}")]
            + [(t.replace("_", " "), f"{n:,}") for t, n in sorted(counts.items())[:4]],
            status="bad" if worst >= Severity.HIGH else ("warn" if recent else "ok"),
            note="" if total else "No anomaly yet: send events with sentinel.llm.SentinelClient.",
            items=[
                (
                    f"{a.type.value.replace('_', ' ')}: {a.service} / {a.model}",
                    f"{a.severity.value}, {a.method.value}",
                    f"/llm/anomalies/{a.anomaly_id}",
                )
                for a in recent
            ],
        )

    def related(self, kind: str, key: str) -> Sequence[Related]:
        if kind != "gpu":
            return ()
        found, _ = self.llm.store.search(gpu_uuid=key, limit=20)
        return [
            Related(
                domain="llm",
                label=f"LLM output drift on {a.service} / {a.model}",
                detail=f"{a.severity.value}, {a.start:%Y-%m-%d %H:%M} UTC",
                href=f"/llm/anomalies/{a.anomaly_id}",
            )
            for a in found
        ]

    def demo(self, server: Any) -> Demo | None:
        from sentinel.llm._demo import LlmDemo

        return LlmDemo(server.http_url, self.host.tokens, self.settings)


SERVICE = LlmDomain
