"""gRPC servicers (grpc.aio) for the fleet API and the agent protocol.

They translate between ``sentinel.v1`` messages and the engine, and map engine errors
to status codes: a validation error is INVALID_ARGUMENT, an unknown GPU NOT_FOUND, an
engine that could not persist UNAVAILABLE (which the SDK retries).

They also decide who may do what (``sentinel.core.auth`` says who is calling): reads are
open to everyone; directives, reviews, configuration and chain verification take an
operator; an agent registers, reports, subscribes and acknowledges only for its own host
and that host's GPUs. What the ledger records as the initiator is always the
authenticated identity; a name typed into the request is kept as a note in the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Future
from typing import Any, TypeVar

import grpc

from sentinel.core.auth import OPERATOR_HINT, Authorizer, refusal
from sentinel.core.identity import Identity
from sentinel.fleet.engine import queries
from sentinel.fleet.engine.engine import (
    EngineNotFound,
    EngineUnavailable,
    EngineValidationError,
    FleetEngine,
)
from sentinel.fleet.engine.state import agent_id_of
from sentinel.v1 import agent_pb2, agent_pb2_grpc, fleet_pb2, fleet_pb2_grpc, types_pb2

log = logging.getLogger("sentinel.fleet.gateway")

T = TypeVar("T")

_MAX_BATCH = 10_000
_STREAM_QUEUE = 10_000


async def _guard(context: grpc.aio.ServicerContext, fn: Callable[[], T | Awaitable[T]]) -> T:
    """Run ``fn`` (awaiting what it returns, if awaitable) and turn engine errors into the
    documented status codes."""
    try:
        result = fn()
        return await result if inspect.isawaitable(result) else result  # type: ignore[return-value]
    except EngineValidationError as exc:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
    except EngineNotFound as exc:
        await context.abort(grpc.StatusCode.NOT_FOUND, str(exc).strip("'\""))
    except EngineUnavailable as exc:
        await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
    raise AssertionError("unreachable")  # abort always raises


async def _wait(fut: Future[T]) -> T:
    return await asyncio.wrap_future(fut)


class _Fanout:
    """Delivers engine events (written on the writer thread) to asyncio subscribers."""

    def __init__(self, engine: FleetEngine, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._subs: set[asyncio.Queue[tuple[str, Any]]] = set()
        self._remove = engine.add_listener(self._on_event)

    def _on_event(self, kind: str, payload: Any) -> None:
        for q in list(self._subs):
            self._loop.call_soon_threadsafe(_offer, q, (kind, payload))

    @contextlib.contextmanager
    def subscribe(self) -> Any:
        q: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(_STREAM_QUEUE)
        self._subs.add(q)
        try:
            yield q
        finally:
            self._subs.discard(q)

    def close(self) -> None:
        self._remove()


def _offer(q: asyncio.Queue[tuple[str, Any]], item: tuple[str, Any]) -> None:
    try:
        q.put_nowait(item)
    except asyncio.QueueFull:  # a stalled subscriber loses events, not the engine
        log.warning("event stream subscriber is not keeping up; dropping an event")


_REPORTER_HINT = f"an agent's token or certificate, or {OPERATOR_HINT}"
_DEFAULT_INITIATORS = frozenset({"sentinel-sdk", "sentinel-cli"})
"""What the SDK and the CLI send as ``initiated_by`` when nobody is named: not worth a note."""


def _with_note(reason: str, typed: str, who: Identity) -> str:
    """``reason``, plus the name the caller typed when it is not the authenticated one."""
    if not typed or typed == who.name or typed in _DEFAULT_INITIATORS:
        return reason
    return f"{reason} (note: initiated_by={typed})"


def _action(value: int) -> str:
    """The name of a QuarantineAction, for messages; the number if it has none."""
    try:
        name = types_pb2.QuarantineAction.Name(value)  # type: ignore[arg-type]
    except ValueError:
        return f"action {value}"
    return name.removeprefix("QUARANTINE_ACTION_")


def _batch_size(n: int) -> None:
    if n > _MAX_BATCH:
        raise EngineValidationError(f"a batch may hold at most {_MAX_BATCH} reports, got {n}")


class FleetServicer(fleet_pb2_grpc.FleetServiceServicer):
    """The client-facing API of seed 000."""

    def __init__(self, engine: FleetEngine, auth: Authorizer, fanout: _Fanout) -> None:
        self.engine = engine
        self.auth = auth
        self.fanout = fanout

    async def QueryGpuHealth(self, request: Any, context: Any) -> types_pb2.GpuHealth:
        return await _guard(context, lambda: queries.gpu_health(self.engine, request.gpu_uuid))

    async def QueryFleetHealth(self, request: Any, context: Any) -> types_pb2.FleetHealthSummary:
        return await _guard(
            context,
            lambda: queries.fleet_health(
                self.engine,
                request.hostname_prefix,
                request.model_filter,
                list(request.state_filter),
            ),
        )

    async def ListGpus(self, request: Any, context: Any) -> fleet_pb2.ListGpusResponse:
        return await _guard(
            context,
            lambda: queries.list_gpus(
                self.engine,
                request.hostname_prefix,
                request.model_filter,
                list(request.state_filter),
                request.limit,
                request.page_token,
            ),
        )

    async def GetGpuHistory(self, request: Any, context: Any) -> fleet_pb2.GpuHistoryResponse:
        return await _guard(
            context, lambda: asyncio.to_thread(queries.gpu_history, self.engine, request)
        )

    async def IssueQuarantine(self, request: Any, context: Any) -> types_pb2.DirectiveResponse:
        who = await self.auth.arequire_operator(context, f"issuing {_action(request.action)}")
        request.reason = _with_note(request.reason, request.initiated_by, who)
        request.initiated_by = who.name
        return await _guard(
            context, lambda: _wait(self.engine.issue_directive(request, identity=who.name))
        )

    async def ListDirectives(self, request: Any, context: Any) -> fleet_pb2.ListDirectivesResponse:
        return await _guard(
            context,
            lambda: asyncio.to_thread(
                queries.list_directives,
                self.engine,
                request.pending_only,
                request.gpu_uuid,
                request.limit,
            ),
        )

    async def ReviewDirective(self, request: Any, context: Any) -> types_pb2.DirectiveResponse:
        what = "approving a directive" if request.approve else "rejecting a directive"
        who = await self.auth.arequire_operator(context, what)
        return await _guard(
            context,
            lambda: _wait(
                self.engine.review_directive(
                    request.directive_id, request.approve, who.name, request.comment
                )
            ),
        )

    async def QueryAuditTrail(self, request: Any, context: Any) -> fleet_pb2.AuditQueryResponse:
        return await _guard(
            context, lambda: asyncio.to_thread(queries.audit_trail, self.engine, request)
        )

    async def VerifyChain(self, request: Any, context: Any) -> fleet_pb2.ChainVerificationResult:
        await self.auth.arequire_operator(context, "verifying the audit chain")
        return await _guard(
            context, lambda: asyncio.to_thread(queries.verify_chain, self.engine, request)
        )

    async def GetTrustGraph(self, request: Any, context: Any) -> types_pb2.TrustGraphSnapshot:
        return await _guard(context, lambda: queries.trust_graph(self.engine))

    async def UpdateConfig(self, request: Any, context: Any) -> types_pb2.ConfigAck:
        who = await self.auth.arequire_operator(context, "changing the configuration")
        request.reason = _with_note(request.reason, request.initiated_by, who)
        request.initiated_by = who.name
        return await _guard(context, lambda: _wait(self.engine.update_config(request)))

    async def ListConfigAcks(self, request: Any, context: Any) -> fleet_pb2.ListConfigAcksResponse:
        return await _guard(
            context,
            lambda: asyncio.to_thread(queries.config_acks, self.engine, request.update_id),
        )

    async def StreamEvents(
        self, request: Any, context: Any
    ) -> AsyncIterator[types_pb2.QuarantineDirective]:
        host, action = request.hostname_filter, request.action_filter
        with self.fanout.subscribe() as q:
            while True:
                kind, payload = await q.get()
                if kind != "directive":
                    continue
                if host and payload.gpu.hostname != host:
                    continue
                if action and payload.action != action:
                    continue
                yield payload


class AgentServicer(agent_pb2_grpc.AgentServiceServicer):
    """The agent side of the protocol: registration, reports, commands."""

    def __init__(self, engine: FleetEngine, auth: Authorizer, fanout: _Fanout) -> None:
        self.engine = engine
        self.auth = auth
        self.fanout = fanout

    async def RegisterAgent(self, request: Any, context: Any) -> agent_pb2.RegisterAgentResponse:
        eng = self.engine
        host = request.hostname
        who = await self.auth.arequire_host(context, host, f"registering host {host!r}")
        if not who.operator:
            for reg in request.gpus:
                g = eng.state.gpus.get(reg.gpu.uuid)
                if g is not None and g.hostname != host:
                    await context.abort(
                        grpc.StatusCode.PERMISSION_DENIED,
                        f"GPU {reg.gpu.uuid} is registered to host {g.hostname!r}; moving it "
                        f"to {host!r} takes an operator: register it with an operator's token",
                    )
        return await _guard(context, lambda: _wait(eng.submit_registration(request)))

    async def Heartbeat(self, request: Any, context: Any) -> agent_pb2.HeartbeatResponse:
        await self._own_agent(context, request.agent_id, "sending a heartbeat")
        version = await _guard(context, lambda: self.engine.heartbeat(request.agent_id))
        return agent_pb2.HeartbeatResponse(config_version=version)

    async def _own_agent(self, context: Any, agent_id: str, what: str) -> str:
        """The host of agent ``agent_id``; aborts unless it exists and the caller may act
        for it."""
        agent = self.engine.state.agents.get(agent_id)
        if agent is None:
            who = await self.auth.aidentify(context)
            if who.kind == "anonymous":  # anonymous callers learn nothing about agents
                await context.abort(*refusal(who, what, _REPORTER_HINT))
            await context.abort(
                grpc.StatusCode.NOT_FOUND, f"agent {agent_id!r} is not registered; register first"
            )
            raise AssertionError("unreachable")  # abort always raises
        await self.auth.arequire_host(context, agent.hostname, f"{what} as {agent_id}")
        return agent.hostname

    async def ReportProbeResults(self, request: Any, context: Any) -> agent_pb2.ReportAck:
        return await self._report(context, request.reports, self.engine.submit_probe_results)

    async def ReportAnomalies(self, request: Any, context: Any) -> agent_pb2.ReportAck:
        return await self._report(context, request.reports, self.engine.submit_anomalies)

    async def ReportTmrResults(self, request: Any, context: Any) -> agent_pb2.ReportAck:
        return await self._report(context, request.reports, self.engine.submit_tmr_results)

    async def ReportTelemetry(self, request: Any, context: Any) -> agent_pb2.ReportAck:
        return await self._report(context, request.samples, self.engine.submit_telemetry)

    async def _report(
        self, context: Any, items: Any, submit: Callable[[Any], Future[agent_pb2.ReportAck]]
    ) -> agent_pb2.ReportAck:
        who = await self.auth.aidentify(context)
        if who.kind not in ("agent", "operator"):
            await context.abort(*refusal(who, "reporting results", _REPORTER_HINT))

        async def run() -> agent_pb2.ReportAck:
            _batch_size(len(items))
            refused: list[str] = []
            kept = [item for item in items if self._may_report(who, item, refused)]
            ack = await _wait(submit(kept)) if kept else agent_pb2.ReportAck()
            ack.rejected.extend(refused)
            return ack

        return await _guard(context, run)

    def _may_report(self, who: Identity, item: Any, refused: list[str]) -> bool:
        """Whether ``who`` may report ``item``; if not, says why in ``refused``.

        An agent reports only for GPUs registered to its host, and deep-test results count
        only from that agent (an operator's would decide a CONDEMN by hand).
        """
        label = getattr(item, "report_id", "") or item.gpu_uuid
        g = self.engine.state.gpus.get(item.gpu_uuid)
        if g is None or (who.operator and not getattr(item, "deep_test", False)):
            return True  # unknown GPUs are the engine's to refuse
        if who.operator:
            refused.append(
                f"{label}: deep-test results count only from the agent of host {g.hostname!r}"
            )
            return False
        if g.hostname != who.host:
            refused.append(
                f"{label}: GPU {item.gpu_uuid} is registered to host {g.hostname!r}, not to "
                f"{who.host!r} whose agent sent it"
            )
            return False
        return True

    async def Subscribe(self, request: Any, context: Any) -> AsyncIterator[agent_pb2.AgentCommand]:
        eng = self.engine
        if not request.agent_id:
            # A config-only listener: monitors in user processes follow sampling rates
            # and thresholds without registering as an agent.
            with self.fanout.subscribe() as q:
                if request.config_version < eng.config.config_version:
                    yield agent_pb2.AgentCommand(config=eng.config)
                while True:
                    kind, payload = await q.get()
                    if kind == "config":
                        yield agent_pb2.AgentCommand(config=payload)
        host = await self._own_agent(context, request.agent_id, "subscribing")
        with self.fanout.subscribe() as q:
            if request.config_version < eng.config.config_version:
                yield agent_pb2.AgentCommand(config=eng.config)
            for d in await asyncio.to_thread(queries.latest_applied_directives, eng, host):
                yield agent_pb2.AgentCommand(directive=d)
            for d in list(eng.pending.values()):
                if d.gpu.hostname == host:
                    yield agent_pb2.AgentCommand(directive=d)
            for change in queries.suspect_gpus(eng, host):
                yield agent_pb2.AgentCommand(state=change)
            while True:
                kind, payload = await q.get()
                if kind == "config":
                    yield agent_pb2.AgentCommand(config=payload)
                elif kind == "directive" and payload.gpu.hostname == host:
                    yield agent_pb2.AgentCommand(directive=payload)
                elif kind == "tmr" and any(p.hostname == host for p in payload.participants):
                    yield agent_pb2.AgentCommand(tmr=payload)
                elif kind == "state" and payload.gpu.hostname == host:
                    yield agent_pb2.AgentCommand(state=payload)

    async def AckConfig(self, request: Any, context: Any) -> agent_pb2.AckConfigResponse:
        host = request.component_id
        await self.auth.arequire_host(context, host, f"acknowledging config for host {host!r}")
        agent_id = agent_id_of(host)
        return await _guard(context, lambda: _wait(self.engine.ack_config(request, agent_id)))
