"""The server process: engine, gRPC (fleet API + agent protocol) and HTTP on one event loop."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import socket
import threading
from dataclasses import dataclass

import grpc
import uvicorn
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from sentinel.core.auth import OPEN_MODE_WARNING, Authorizer, TokenCheck
from sentinel.core.db import make_engine, migrate
from sentinel.core.identity import TokenStore
from sentinel.fleet._edge import EdgeValidation
from sentinel.fleet.engine.engine import EngineUnavailable, FleetEngine
from sentinel.fleet.engine.policy import EnginePolicy
from sentinel.fleet.gateway import AgentServicer, FleetServicer, _Fanout
from sentinel.server._hardening import MAX_HEAD_BYTES, LimitedH11Protocol
from sentinel.server._ports import PortUnavailable, check_port
from sentinel.server.http import create_app
from sentinel.server.ledger_guard import LedgerGuard
from sentinel.server.settings import ServerSettings
from sentinel.server.tls import server_credentials
from sentinel.v1 import agent_pb2, agent_pb2_grpc, fleet_pb2, fleet_pb2_grpc

log = logging.getLogger("sentinel.server")

_SERVICES = (
    fleet_pb2.DESCRIPTOR.services_by_name["FleetService"].full_name,
    agent_pb2.DESCRIPTOR.services_by_name["AgentService"].full_name,
)


_TICK_SECONDS = 5.0
_HEALTH_SECONDS = 0.5


@dataclass
class _Bound:
    grpc_port: int
    http_port: int


class SentinelServer:
    """Runs the whole server in a background thread; ``start`` returns once it listens.

    Ports of 0 pick free ones; ``grpc_port`` and ``http_port`` tell which after ``start``.
    """

    def __init__(self, settings: ServerSettings, policy: EnginePolicy | None = None) -> None:
        self.settings = settings
        db = make_engine(settings.resolved_database_url)
        migrate(db)
        base = policy or EnginePolicy()
        if settings.extra:
            base = base.with_overrides(settings.extra)
        self.engine = FleetEngine(db, base, batch_size=settings.ledger_batch_size)
        self.ledger_guard = LedgerGuard(settings, self.engine.ledger)  # verify, then checkpoint
        self.tokens = TokenStore(db)
        self.authorizer = Authorizer(
            settings.operator_subjects,
            settings.operator_tokens,
            store=self.tokens,
            open_mode=settings.open_mode,
        )
        if settings.open_mode:
            log.warning(OPEN_MODE_WARNING)
        self._credentials = server_credentials(settings)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._bound = _Bound(0, 0)

    @property
    def grpc_port(self) -> int:
        return self._bound.grpc_port

    @property
    def http_port(self) -> int:
        return self._bound.http_port

    @property
    def address(self) -> str:
        return f"{self.settings.host}:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"http://{self.settings.host}:{self.http_port}"

    def start(self) -> SentinelServer:
        self.engine.start()
        # The loaded fleet and the libraries are long-lived: keep them out of the cyclic
        # collector, whose full passes otherwise pause requests for 100-300 ms.
        gc.collect()
        gc.freeze()
        self._thread = threading.Thread(target=self._main, name="sentinel-server", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self.engine.stop()
            raise self._error
        self.ledger_guard.start()
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.engine.stop()
        self.ledger_guard.stop()
        self.engine.db.dispose()

    def __enter__(self) -> SentinelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        s = self.settings
        fanout = _Fanout(self.engine, self._loop)
        server = grpc.aio.server(
            interceptors=[TokenCheck(self.authorizer), EdgeValidation()],
            options=[("grpc.so_reuseport", 0)],
        )
        fleet_pb2_grpc.add_FleetServiceServicer_to_server(
            FleetServicer(self.engine, self.authorizer, fanout), server
        )
        agent_pb2_grpc.add_AgentServiceServicer_to_server(
            AgentServicer(self.engine, self.authorizer, fanout), server
        )
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        for name in (*_SERVICES, ""):
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        reflection.enable_server_reflection(
            (*_SERVICES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
        target = f"{s.host}:{s.grpc_port}"
        try:
            if self._credentials is None:
                grpc_port = server.add_insecure_port(target)
            else:
                grpc_port = server.add_secure_port(target, self._credentials)
        except RuntimeError:
            # gRPC says only "Failed to bind"; a bind of our own finds the OS's reason.
            await server.stop(None)
            check_port("gRPC", s.host, s.grpc_port)
            raise
        # IPPROTO_TCP, so asyncio turns Nagle off on accepted connections: without it a small
        # response waits ~40 ms for the client's delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((s.host, s.http_port))
        except OSError as exc:
            sock.close()
            await server.stop(None)
            raise PortUnavailable("HTTP", s.host, s.http_port, exc) from exc
        http = uvicorn.Server(
            uvicorn.Config(
                create_app(self.engine, self.authorizer),
                http=LimitedH11Protocol,
                h11_max_incomplete_event_size=MAX_HEAD_BYTES,
                log_level="warning",
                lifespan="off",
                # Open event streams (dashboards) must not hold up a stop.
                timeout_graceful_shutdown=2,
            )
        )
        await server.start()
        http_task = asyncio.create_task(http.serve(sockets=[sock]))
        while not http.started and not http_task.done():
            await asyncio.sleep(0.01)
        if http_task.done():
            await http_task
        self._bound = _Bound(grpc_port, sock.getsockname()[1])
        ticker = asyncio.create_task(self._tick())
        watcher = asyncio.create_task(self._watch_health(health_servicer))
        self._ready.set()
        await self._stop.wait()
        ticker.cancel()
        watcher.cancel()
        for name in (*_SERVICES, ""):
            await health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        http.should_exit = True
        await server.stop(grace=2)
        await http_task
        fanout.close()

    async def _watch_health(self, health_servicer: health.aio.HealthServicer) -> None:
        """Keep the gRPC health status in step with the engine: NOT_SERVING while it refuses
        writes, so load balancers and `grpc_health_probe` see what ``/healthz`` says."""
        serving = True
        while True:
            await asyncio.sleep(_HEALTH_SECONDS)
            engine = self.engine
            healthy = engine.running and not engine.unavailable and engine.ledger.fault is None
            if healthy != serving:
                serving = healthy
                status = health_pb2.HealthCheckResponse.SERVING
                if not healthy:
                    status = health_pb2.HealthCheckResponse.NOT_SERVING
                for name in (*_SERVICES, ""):
                    await health_servicer.set(name, status)

    async def _tick(self) -> None:
        """Drive the engine's time-based policy (deep tests, TMR canaries)."""
        while True:
            await asyncio.sleep(_TICK_SECONDS)
            try:
                await asyncio.wrap_future(self.engine.tick())
            except EngineUnavailable as exc:  # the database is away; /healthz says so
                log.warning("engine tick skipped: %s", exc)
            except Exception:
                log.exception("engine tick failed")


def run_server(settings: ServerSettings) -> None:
    """Run until SIGINT or SIGTERM (what ``sentinel serve`` does)."""
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    server = SentinelServer(settings).start()
    log.info(
        "Sentinel serving gRPC on %s and HTTP on %s (database %s)",
        server.address,
        server.http_url,
        settings.resolved_database_url.split("@")[-1],
    )
    print(f"Sentinel is up: gRPC {server.address}, HTTP {server.http_url}", flush=True)  # noqa: T201
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    server.stop()
