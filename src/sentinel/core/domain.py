"""What a domain brings to the server, and what the server hands it.

The server is a host; fleet, runs and the other systems are its tenants. Each domain
package holds one small ``service`` module with a :class:`Domain` subclass that says what
it brings: HTTP routers, dashboard pages and their navigation entries, gRPC services,
database migrations, background work, Prometheus collectors, health, a card for the home
page and its part of the ``sentinel up`` demo. The server composes the enabled domains from
one list and knows nothing else about them; a domain never imports ``sentinel.server``.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from sentinel.core.events import Events

if TYPE_CHECKING:
    import grpc
    from fastapi import APIRouter
    from jinja2 import Environment
    from prometheus_client.registry import Collector
    from sqlalchemy import Engine

    from sentinel.core.auth import Authorizer
    from sentinel.core.identity import TokenStore
    from sentinel.core.settings import ServerSettings

DOMAINS = ("fleet", "runs", "capture", "llm", "forecast")
"""The platform's domains, in navigation order; ``sentinel serve`` hosts every installed one
(its package has a ``service`` module) unless ``--domains`` names fewer."""


@dataclass(frozen=True)
class NavEntry:
    """A link in the dashboard's navigation bar."""

    label: str
    href: str
    page: str
    """The ``page`` a template renders with to mark this link as the current one."""


@dataclass(frozen=True)
class Health:
    """A domain's part of ``/healthz`` and of the gRPC health status."""

    problems: Sequence[str] = ()
    """What is wrong, one sentence each; empty when the domain is healthy."""
    details: Mapping[str, Any] = field(default_factory=dict)
    """Figures ``/healthz`` shows at its top level (``gpus``, ``runs``...)."""
    running: bool = True
    """False when the domain cannot serve at all (not merely degraded)."""


@dataclass(frozen=True)
class Card:
    """A domain's summary on the dashboard's home page."""

    title: str
    href: str
    figures: Sequence[tuple[str, str]]
    """``(label, value)`` pairs, most important first."""
    status: str = "ok"
    """``ok``, ``warn`` or ``bad``: the colour of the card's edge."""
    note: str = ""
    """One line under the figures (the most urgent thing to look at)."""
    items: Sequence[tuple[str, str, str]] = ()
    """Recent things worth a click: ``(label, detail, href)``."""


@dataclass(frozen=True)
class Related:
    """Something of one domain that concerns an object of another (a run that used a GPU)."""

    domain: str
    label: str
    detail: str
    href: str


@dataclass
class Host:
    """What the server gives every domain: shared settings, the database, identity, pages."""

    settings: ServerSettings
    db: Engine
    authorizer: Authorizer
    tokens: TokenStore
    templates: Environment
    """The dashboard's Jinja2 environment: ``base.html`` with the navigation bar, the shared
    filters, and every enabled domain's ``templates`` folder."""
    related: Callable[[str, str], list[Related]] = lambda kind, key: []
    """What the other enabled domains hold about ``(kind, key)``, e.g. ``("gpu", uuid)``:
    how one domain's page shows another's objects without importing it."""
    events: Events = field(default_factory=Events)
    """Typed events between domains (``sentinel.core.events``): how one domain's finding
    reaches another, e.g. an LLM's drift on one GPU becoming a fleet anomaly."""


class Demo:
    """A domain's part of ``sentinel up``: simulated activity until real clients arrive."""

    def start(self) -> None:
        """Start producing activity against the running server."""

    def stop(self) -> None:
        """Stop, and release what :meth:`start` took."""

    def describe(self) -> Sequence[str]:
        """Lines for the banner ``sentinel up`` prints."""
        return ()


class Domain:
    """Base class of a domain's service; every hook has a default that brings nothing.

    The server calls, in order: the constructor (after migrations), :meth:`start`, then on
    its event loop :meth:`add_grpc` and :meth:`tasks`; at shutdown :meth:`aclose` on the loop
    and :meth:`stop` after it. Exceptions named by :meth:`error_statuses` become JSON or HTML
    errors with that status and the exception's message.
    """

    name: ClassVar[str]
    """The domain's name in ``--domains`` and on ``/healthz``."""
    package: ClassVar[str]
    """The domain's package; its ``templates`` folder holds its pages. Its tables come from
    Alembic revisions in ``<package>/migrations/versions`` (see ``sentinel.core.db``)."""
    attributes: ClassVar[tuple[str, ...]] = ()
    """Attributes reachable on the server object (``server.engine``), for tests and embedders."""

    def __init__(self, host: Host) -> None:
        self.host = host

    @classmethod
    def templates(cls) -> Path | None:
        """Folder of this domain's dashboard templates (``<package>/templates``)."""
        path = _package_dir(cls.package) / "templates"
        return path if path.is_dir() else None

    @classmethod
    def settings_for_demo(cls, settings: ServerSettings) -> ServerSettings:
        """The settings the server starts with when ``sentinel up`` runs the demo.

        Raise a ``ValueError`` saying why to refuse the demo before anything starts.
        """
        return settings

    @classmethod
    def in_use(cls, settings: ServerSettings) -> bool:
        """Whether real clients use this database already (then ``sentinel up`` runs no demo).

        Looking must create nothing: no data dir, no database file.
        """
        return False

    def nav(self) -> Sequence[NavEntry]:
        return ()

    def routers(self) -> Sequence[APIRouter]:
        """HTTP routes: REST under ``/api/...`` and dashboard pages."""
        return ()

    def error_statuses(self) -> Mapping[type[Exception], int]:
        return {}

    def body_limits(self) -> Mapping[str, int]:
        """Largest request body, in bytes, per URL path prefix, where 1 MiB is too small."""
        return {}

    def grpc_interceptors(self) -> Sequence[grpc.aio.ServerInterceptor]:
        """Interceptors for the shared gRPC server, after the token check."""
        return ()

    def add_grpc(self, server: grpc.aio.Server) -> Sequence[str]:
        """Add servicers to ``server``; return their full service names (health, reflection)."""
        return ()

    def collectors(self) -> Sequence[Collector]:
        """Prometheus collectors whose samples ``/metrics`` serves."""
        return ()

    def start(self) -> None:
        """Start background workers that live outside the event loop (threads)."""

    def tasks(self) -> Sequence[Awaitable[None]]:
        """Coroutines run on the server's event loop until it stops (then cancelled)."""
        return ()

    async def aclose(self) -> None:
        """Release what lives on the event loop, after the servers stopped."""

    def stop(self) -> None:
        """Stop background workers; called once, after the event loop ended."""

    def health(self) -> Health:
        return Health()

    def status_line(self) -> str:
        """One line for the live summary ``sentinel up`` prints; empty for none."""
        return ""

    def card(self) -> Card | None:
        """The home page's summary of this domain."""
        return None

    def related(self, kind: str, key: str) -> Sequence[Related]:
        """This domain's objects that concern ``key`` of ``kind`` (``"gpu"``: a GPU UUID)."""
        return ()

    def demo(self, server: Any) -> Demo | None:
        """The domain's demo for ``sentinel up`` against ``server`` (a started server)."""
        return None


def _package_dir(package: str) -> Path:
    module = importlib.import_module(package)
    return Path(next(iter(module.__path__)))


def installed() -> tuple[str, ...]:
    """The domains of :data:`DOMAINS` whose package holds a ``service`` module."""
    here = Path(__file__).parent.parent
    return tuple(d for d in DOMAINS if (here / d / "service.py").is_file())


def domain_class(name: str) -> type[Domain]:
    """The :class:`Domain` of ``name`` (its package's ``service.SERVICE``).

    Raises:
        ValueError: ``name`` is not an installed domain.
    """
    if name not in installed():
        raise ValueError(f"unknown domain {name!r}: choose from {', '.join(installed())}")
    module = importlib.import_module(f"sentinel.{name}.service")
    cls: type[Domain] = module.SERVICE
    return cls


def parse_domains(raw: str | Sequence[str]) -> tuple[str, ...]:
    """``"fleet,runs"`` (or a sequence) as a checked tuple in :data:`DOMAINS` order.

    Raises:
        ValueError: a name is unknown, or none is given.
    """
    available = installed()
    names = [n.strip() for n in (raw.split(",") if isinstance(raw, str) else raw) if n.strip()]
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ValueError(
            f"unknown domain {', '.join(map(repr, unknown))}: choose from {', '.join(available)}"
        )
    if not names:
        raise ValueError(f"no domain enabled: name at least one of {', '.join(available)}")
    return tuple(d for d in available if d in names)
