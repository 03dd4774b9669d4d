"""The fleet as a domain of the server: engine, gRPC gateway, REST, pages, ledger guard, demo."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import shutil
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sentinel.core.domain import Card, Demo, Domain, Health, Host, NavEntry
from sentinel.core.events import GpuAnomaly
from sentinel.core.settings import ServerSettings

if TYPE_CHECKING:
    import grpc
    from fastapi import APIRouter
    from prometheus_client.registry import Collector

    from sentinel.fleet.demo import DemoFleet, DemoSpec
    from sentinel.fleet.engine.policy import EnginePolicy

log = logging.getLogger("sentinel.server")

_TICK_SECONDS = 5.0
_SEVERITY = {
    "info": "SEVERITY_INFO",
    "warning": "SEVERITY_WARNING",
    "high": "SEVERITY_HIGH",
    "critical": "SEVERITY_CRITICAL",
}
"""``GpuAnomaly.severity`` as the protocol's ``Severity`` names."""


@dataclass(frozen=True)
class FleetSettings:
    """What an embedder or ``sentinel up`` sets for the fleet beyond ``SENTINEL_ENGINE_*``."""

    policy: EnginePolicy | None = None
    """The engine's policy before ``ServerSettings.extra`` overrides; ``None``: the defaults."""
    demo: DemoSpec | None = None
    """The demo fleet's size and timing; ``None``: 4 hosts × 8 GPUs."""
    demo_overrides: Mapping[str, str] = field(default_factory=dict)
    """Policy overrides of the demo (set by :meth:`FleetDomain.settings_for_demo`)."""


def registered_agents(settings: ServerSettings) -> int:
    """Agents the real fleet's database knows; 0 when it does not exist yet."""
    from sqlalchemy import inspect, text

    from sentinel.core.db import make_engine

    if not settings.database_url and not (settings.data_dir / "sentinel.db").exists():
        return 0  # looking must not create the data dir
    db = make_engine(settings.resolved_database_url)
    try:
        if not inspect(db).has_table("fleet_agents"):
            return 0
        with db.connect() as conn:
            return int(conn.execute(text("SELECT COUNT(*) FROM fleet_agents")).scalar_one())
    finally:
        db.dispose()


def _fleet_settings(settings: ServerSettings) -> FleetSettings:
    found = settings.domain_settings.get("fleet")
    return found if isinstance(found, FleetSettings) else FleetSettings()


class FleetDomain(Domain):
    """GPU silent-data-corruption detection (seed 000)."""

    name = "fleet"
    package = "sentinel.fleet"
    attributes = ("engine", "ledger_guard")

    def __init__(self, host: Host) -> None:
        from sentinel.core.ledger_guard import LedgerGuard
        from sentinel.fleet.engine.engine import FleetEngine
        from sentinel.fleet.engine.policy import EnginePolicy

        super().__init__(host)
        own = _fleet_settings(host.settings)
        policy = (own.policy or EnginePolicy()).with_overrides(
            {**own.demo_overrides, **host.settings.extra}
        )
        self.engine = FleetEngine(host.db, policy, batch_size=host.settings.ledger_batch_size)
        self.ledger_guard = LedgerGuard(host.settings, self.engine.ledger)  # verify, checkpoint
        self._fanout: Any = None
        host.events.subscribe(GpuAnomaly, self.report_gpu_anomaly)

    def report_gpu_anomaly(self, found: GpuAnomaly) -> None:
        """Another domain's evidence against a GPU (an LLM's answers drifting on that GPU
        alone) becomes an inference-monitor anomaly of it, weighted like any other.

        The engine applies it on its writer thread; one it refuses (a GPU it does not know,
        an event time out of its window) is logged there, and the publisher is not held up.
        """
        from google.protobuf.timestamp_pb2 import Timestamp

        from sentinel.v1 import agent_pb2, types_pb2

        stamp = Timestamp()
        stamp.FromNanoseconds(int(found.timestamp * 1e9))
        self.engine.submit_anomalies(
            [
                agent_pb2.AnomalyReport(
                    report_id=f"{found.source}-{found.anomaly_id}",
                    gpu_uuid=found.gpu_uuid,
                    anomaly_type=types_pb2.ANOMALY_TYPE_LOGIT_DRIFT,
                    source=types_pb2.ANOMALY_SOURCE_INFERENCE_MONITOR,
                    severity=_SEVERITY[found.severity],
                    score=found.score,
                    threshold=found.threshold,
                    timestamp=stamp,
                    detail=f"{found.source}: {found.detail}",
                )
            ]
        )

    @classmethod
    def in_use(cls, settings: ServerSettings) -> bool:
        return registered_agents(settings) > 0

    @classmethod
    def settings_for_demo(cls, settings: ServerSettings) -> ServerSettings:
        """Demo timing for the engine, after refusing a demo that would not fit in memory.

        Raises:
            DemoTooLarge: the demo would not fit in this machine's memory.
        """
        from sentinel.fleet.demo import DemoSpec, check_capacity, demo_policy

        own = _fleet_settings(settings)
        spec = own.demo or DemoSpec()
        check_capacity(spec)
        own = dataclasses.replace(own, demo=spec, demo_overrides=demo_policy(spec))
        return dataclasses.replace(
            settings, domain_settings={**settings.domain_settings, "fleet": own}
        )

    def nav(self) -> Sequence[NavEntry]:
        return (
            NavEntry("Fleet", "/fleet", "fleet"),
            NavEntry("Directives", "/directives", "directives"),
            NavEntry("Audit", "/audit", "audit"),
            NavEntry("Trust graph", "/trust", "trust"),
        )

    def routers(self) -> Sequence[APIRouter]:
        from sentinel.fleet.http_api import api_router
        from sentinel.fleet.pages import dashboard_router

        return (
            api_router(self.engine, self.host.authorizer),
            dashboard_router(self.engine, self.host.templates, self.host.related),
        )

    def error_statuses(self) -> Mapping[type[Exception], int]:
        from sentinel.fleet.engine.engine import (
            EngineNotFound,
            EngineUnavailable,
            EngineValidationError,
        )

        return {EngineNotFound: 404, EngineValidationError: 400, EngineUnavailable: 503}

    def grpc_interceptors(self) -> Sequence[grpc.aio.ServerInterceptor]:
        from sentinel.fleet._edge import EdgeValidation

        return (EdgeValidation(),)

    def add_grpc(self, server: grpc.aio.Server) -> Sequence[str]:
        from sentinel.fleet.gateway import AgentServicer, FleetServicer, _Fanout
        from sentinel.v1 import agent_pb2, agent_pb2_grpc, fleet_pb2, fleet_pb2_grpc

        self._fanout = _Fanout(self.engine, asyncio.get_running_loop())
        authorizer = self.host.authorizer
        fleet_pb2_grpc.add_FleetServiceServicer_to_server(
            FleetServicer(self.engine, authorizer, self._fanout), server
        )
        agent_pb2_grpc.add_AgentServiceServicer_to_server(
            AgentServicer(self.engine, authorizer, self._fanout), server
        )
        return (
            fleet_pb2.DESCRIPTOR.services_by_name["FleetService"].full_name,
            agent_pb2.DESCRIPTOR.services_by_name["AgentService"].full_name,
        )

    def collectors(self) -> Sequence[Collector]:
        return (self.engine.metrics.registry,)

    def start(self) -> None:
        self.engine.start()
        self.ledger_guard.start()

    def tasks(self) -> Sequence[Awaitable[None]]:
        return (self._tick(),)

    async def _tick(self) -> None:
        """Drive the engine's time-based policy (deep tests, TMR canaries)."""
        from sentinel.fleet.engine.engine import EngineUnavailable

        while True:
            await asyncio.sleep(_TICK_SECONDS)
            try:
                await asyncio.wrap_future(self.engine.tick())
            except EngineUnavailable as exc:  # the database is away; /healthz says so
                log.warning("engine tick skipped: %s", exc)
            except Exception:
                log.exception("engine tick failed")

    async def aclose(self) -> None:
        if self._fanout is not None:
            self._fanout.close()

    def stop(self) -> None:
        self.engine.stop()
        self.ledger_guard.stop()

    def health(self) -> Health:
        engine = self.engine
        problems = []
        if not engine.running:
            problems.append("engine: writer thread is not running")
        elif engine.unavailable:
            problems.append(f"engine: {engine.unavailable}")
        if engine.ledger.fault is not None:
            problems.append(f"ledger: {engine.ledger.fault_message()}")
        return Health(
            problems=problems,
            details={"gpus": engine.state.total(), "ledger_entries": len(engine.ledger)},
            running=engine.running,
        )

    def status_line(self) -> str:
        from sentinel.fleet.views import fleet_overview

        o = fleet_overview(self.engine)
        c = o.counts
        return (
            f"{o.total_gpus} GPUs: "
            f"{c['HEALTHY']} healthy, {c['SUSPECT']} suspect, {c['QUARANTINED']} quarantined, "
            f"{c['DEEP_TEST']} deep test, {c['CONDEMNED']} condemned | "
            f"SDC {o.sdc_rate:.3f}/GPU-h | reliability {o.average_reliability:.4f} | "
            f"{o.pending_approvals} awaiting approval | {o.active_agents} agents | "
            f"ledger {o.ledger_entries:,}"
        )

    def card(self) -> Card:
        from sentinel.fleet.views import fleet_overview

        o = fleet_overview(self.engine)
        c = o.counts
        bad = c["QUARANTINED"] + c["CONDEMNED"]
        status = "bad" if bad else "warn" if c["SUSPECT"] or o.pending_approvals else "ok"
        note = (
            f"{o.pending_approvals} directive(s) wait for an operator's approval"
            if o.pending_approvals
            else "Nothing waits for approval."
        )
        return Card(
            title="GPU fleet",
            href="/fleet",
            figures=(
                ("GPUs", f"{o.total_gpus:,}"),
                ("healthy", f"{c['HEALTHY']:,}"),
                ("suspect", f"{c['SUSPECT']:,}"),
                ("quarantined", f"{c['QUARANTINED']:,}"),
                ("condemned", f"{c['CONDEMNED']:,}"),
                ("mean reliability", f"{o.average_reliability:.4f}"),
                ("agents", f"{o.active_agents:,}"),
                ("ledger entries", f"{o.ledger_entries:,}"),
            ),
            status=status,
            note=note,
            items=(("Directives", "review", "/directives"),) if o.pending_approvals else (),
        )

    def demo(self, server: Any) -> Demo:
        return _FleetDemo(self, server)


class _FleetDemo(Demo):
    """The simulated fleet of ``sentinel up``: real probe, monitor and TMR code on the CPU."""

    def __init__(self, domain: FleetDomain, server: Any) -> None:
        from sentinel.fleet.demo import DemoFleet, DemoSpec

        host = domain.host
        spec = _fleet_settings(host.settings).demo or DemoSpec()
        agents = host.settings.data_dir / "agents"
        shutil.rmtree(agents, ignore_errors=True)
        self.fleet: DemoFleet = DemoFleet(
            server.address,
            spec,
            data_dir=agents,
            canary=domain.engine.create_tmr_canary,
            agent_token=lambda name: host.tokens.create("agent", host=name)[1],
        )

    def start(self) -> None:
        self.fleet.start()

    def stop(self) -> None:
        self.fleet.stop()

    def describe(self) -> Sequence[str]:
        fleet = self.fleet
        return (
            f"Demo fleet: {len(fleet.all_uuids)} simulated GPUs on the CPU backend; "
            f"faults appear {fleet.spec.fault_delay_s:g} s after start:",
            *(f"  - {s.title} ({s.pattern})" for s in fleet.scenarios),
        )


SERVICE = FleetDomain
