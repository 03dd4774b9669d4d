"""gRPC servicers (grpc.aio) for the fleet API and the agent protocol.

They translate between ``sentinel.v1`` messages and the engine, and map engine errors
to status codes: a validation error is INVALID_ARGUMENT, an unknown GPU NOT_FOUND, an
engine that could not persist UNAVAILABLE (which the SDK retries).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Future
from typing import Any, TypeVar

import grpc

from sentinel.fleet.engine import queries
from sentinel.fleet.engine.engine import (
    EngineNotFound,
    EngineUnavailable,
    EngineValidationError,
    FleetEngine,
)
from sentinel.server.auth import Authorizer
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
        who = await self.auth.aidentify(context)
        if request.action == types_pb2.QUARANTINE_ACTION_CONDEMN:
            who = await self.auth.arequire_operator(context, "issuing CONDEMN")
        return await _guard(
            context,
            lambda: _wait(
                self.engine.issue_directive(
                    request, identity="" if who.via == "anonymous" else who.name
                )
            ),
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
        return await _guard(
            context, lambda: asyncio.to_thread(queries.verify_chain, self.engine, request)
        )

    async def GetTrustGraph(self, request: Any, context: Any) -> types_pb2.TrustGraphSnapshot:
        return await _guard(context, lambda: queries.trust_graph(self.engine))

    async def UpdateConfig(self, request: Any, context: Any) -> types_pb2.ConfigAck:
        who = await self.auth.aidentify(context)
        if not request.initiated_by:
            request.initiated_by = who.name
        return await _guard(context, lambda: _wait(self.engine.update_config(request)))

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

    def __init__(self, engine: FleetEngine, fanout: _Fanout) -> None:
        self.engine = engine
        self.fanout = fanout

    async def RegisterAgent(self, request: Any, context: Any) -> agent_pb2.RegisterAgentResponse:
        eng = self.engine
        return await _guard(context, lambda: _wait(eng.submit_registration(request)))

    async def Heartbeat(self, request: Any, context: Any) -> agent_pb2.HeartbeatResponse:
        version = await _guard(context, lambda: self.engine.heartbeat(request.agent_id))
        return agent_pb2.HeartbeatResponse(config_version=version)

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
        async def run() -> agent_pb2.ReportAck:
            _batch_size(len(items))
            return await _wait(submit(list(items)))

        return await _guard(context, run)

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
        agent = eng.state.agents.get(request.agent_id)
        if agent is None:
            await context.abort(
                grpc.StatusCode.NOT_FOUND,
                f"agent {request.agent_id!r} is not registered; register first",
            )
        host = agent.hostname if agent else ""
        with self.fanout.subscribe() as q:
            if request.config_version < eng.config.config_version:
                yield agent_pb2.AgentCommand(config=eng.config)
            for d in await asyncio.to_thread(queries.latest_applied_directives, eng, host):
                yield agent_pb2.AgentCommand(directive=d)
            for d in list(eng.pending.values()):
                if d.gpu.hostname == host:
                    yield agent_pb2.AgentCommand(directive=d)
            while True:
                kind, payload = await q.get()
                if kind == "config":
                    yield agent_pb2.AgentCommand(config=payload)
                elif kind == "directive" and payload.gpu.hostname == host:
                    yield agent_pb2.AgentCommand(directive=payload)
                elif kind == "tmr" and any(p.hostname == host for p in payload.participants):
                    yield agent_pb2.AgentCommand(tmr=payload)

    async def AckConfig(self, request: Any, context: Any) -> agent_pb2.AckConfigResponse:
        agent_id = str(uuid.uuid5(uuid.NAMESPACE_DNS, request.component_id))
        return await _guard(context, lambda: _wait(self.engine.ack_config(request, agent_id)))
