"""The server process: the enabled domains, one gRPC server and one HTTP app on one event loop."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import uvicorn
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from sentinel.core.auth import OPEN_MODE_WARNING, Authorizer, TokenCheck
from sentinel.core.db import make_engine, migrate
from sentinel.core.domain import Domain, Host, Related, domain_class, installed, parse_domains
from sentinel.core.identity import TokenStore
from sentinel.core.pages import make_templates
from sentinel.core.settings import ServerSettings
from sentinel.server._hardening import MAX_HEAD_BYTES, LimitedH11Protocol
from sentinel.server._ports import PortUnavailable, check_port
from sentinel.server.http import create_app
from sentinel.server.tls import server_credentials

log = logging.getLogger("sentinel.server")

_HEALTH_SECONDS = 0.5
_TEMPLATES = Path(__file__).parent / "templates"


@dataclass
class _Bound:
    grpc_port: int
    http_port: int


class SentinelServer:
    """Hosts the enabled domains in a background thread; ``start`` returns once it listens.

    Ports of 0 pick free ones; ``grpc_port`` and ``http_port`` tell which after ``start``.
    The attributes a domain exports (``Domain.attributes``, e.g. the fleet's ``engine``)
    are reachable on the server object.
    """

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        names = parse_domains(settings.domains) if settings.domains else installed()
        db = make_engine(settings.resolved_database_url)
        migrate(db)
        self.db = db
        self.tokens = TokenStore(db)
        self.authorizer = Authorizer(
            settings.operator_subjects,
            settings.operator_tokens,
            store=self.tokens,
            open_mode=settings.open_mode,
        )
        if settings.open_mode:
            log.warning(OPEN_MODE_WARNING)
        classes = [domain_class(name) for name in names]
        templates = make_templates(
            _TEMPLATES, {c.name: path for c in classes if (path := c.templates()) is not None}
        )
        self.host = Host(settings, db, self.authorizer, self.tokens, templates, self._related)
        self.domains: dict[str, Domain] = {}
        try:
            for cls in classes:
                self.domains[cls.name] = cls(self.host)
        except BaseException:
            db.dispose()
            raise
        self._credentials = server_credentials(settings)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._bound = _Bound(0, 0)

    def __getattr__(self, name: str) -> Any:
        for domain in self.__dict__.get("domains", {}).values():
            if name in domain.attributes:
                return getattr(domain, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _related(self, kind: str, key: str) -> list[Related]:
        found: list[Related] = []
        for domain in self.domains.values():
            try:
                found.extend(domain.related(kind, key))
            except Exception:  # one domain's trouble must not break another's page
                log.exception("%s could not list what concerns %s %s", domain.name, kind, key)
        return found

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
        started: list[Domain] = []
        try:
            for domain in self.domains.values():
                domain.start()
                started.append(domain)
        except BaseException:
            self._stop_domains(started)
            raise
        # What was loaded at start is long-lived: keep it out of the cyclic collector,
        # whose full passes otherwise pause requests for 100-300 ms.
        gc.collect()
        gc.freeze()
        self._thread = threading.Thread(target=self._main, name="sentinel-server", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._stop_domains(started)
            raise self._error
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._stop_domains(list(self.domains.values()))
        self.db.dispose()

    def _stop_domains(self, domains: list[Domain]) -> None:
        for domain in reversed(domains):
            try:
                domain.stop()
            except Exception:
                log.exception("stopping the %s domain failed", domain.name)

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
        domains = list(self.domains.values())
        server = grpc.aio.server(
            interceptors=[
                TokenCheck(self.authorizer),
                *(i for d in domains for i in d.grpc_interceptors()),
            ],
            options=[("grpc.so_reuseport", 0)],
        )
        services = [name for d in domains for name in d.add_grpc(server)]
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        for name in (*services, ""):
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        reflection.enable_server_reflection(
            (*services, health.SERVICE_NAME, reflection.SERVICE_NAME), server
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
                create_app(self.host, domains),
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
        background = [asyncio.ensure_future(t) for d in domains for t in d.tasks()]
        background.append(asyncio.create_task(self._watch_health(health_servicer, services)))
        self._ready.set()
        await self._stop.wait()
        for task in background:
            task.cancel()
        for name in (*services, ""):
            await health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        http.should_exit = True
        await server.stop(grace=2)
        await http_task
        for domain in domains:
            await domain.aclose()

    def healthy(self) -> bool:
        """Whether every domain serves without a problem."""
        return all((h := d.health()).running and not h.problems for d in self.domains.values())

    async def _watch_health(
        self, health_servicer: health.aio.HealthServicer, services: list[str]
    ) -> None:
        """Keep the gRPC health status in step with the domains: NOT_SERVING while one of them
        cannot serve, so load balancers and `grpc_health_probe` see what ``/healthz`` says."""
        serving = True
        while True:
            await asyncio.sleep(_HEALTH_SECONDS)
            healthy = self.healthy()
            if healthy != serving:
                serving = healthy
                status = health_pb2.HealthCheckResponse.SERVING
                if not healthy:
                    status = health_pb2.HealthCheckResponse.NOT_SERVING
                for name in (*services, ""):
                    await health_servicer.set(name, status)


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
