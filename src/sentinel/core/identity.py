"""Who a caller is: one identity model for every domain, and the API tokens behind it.

Operators approve, reinstate, condemn and change configuration; agents are bound to one
host and its GPUs; ingestion clients carry the scope of one domain (``runs``,
``capture``, ``llm``). A token looks like ``snt_<scope>_<secret>`` so that a leaked one
is recognisable; the server keeps only its SHA-256 (the secret is 32 random bytes, so a
plain hash cannot be reversed by guessing), shows the token once, and finds it by hash.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import BigInteger, Engine, String, Text, insert, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Mapped, mapped_column

from sentinel.core.db import Base
from sentinel.core.ids import uuid7

Kind = Literal["operator", "agent", "client", "anonymous"]
Via = Literal["token", "certificate", "anonymous"]

SCOPES = ("operator", "agent", "runs", "capture", "llm")
"""Scopes a token may carry: the two fleet roles, then one per ingestion domain."""

_PREFIX = "snt_"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@:-]{0,127}")
_HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,252}")
_REPO = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}")
_MAX_REPOS = 64
_CACHE_SECONDS = 1.0
_CACHE_MAX = 10_000


@dataclass(frozen=True)
class Identity:
    """The authenticated caller of one request."""

    name: str
    """Token name, certificate common name, or ``"anonymous"``; what the ledger records."""
    kind: Kind
    """Operator, agent (bound to ``host``), ingestion client, or anonymous."""
    via: Via
    """How the caller was identified."""
    host: str = ""
    """The host an agent acts for; empty for other kinds."""
    scopes: frozenset[str] = frozenset()
    """What the caller may do: ``operator``, ``agent`` or a domain name."""
    repos: frozenset[str] = frozenset()
    """The GitHub repositories (``owner/repo``, lower case) a ``capture`` client reports for."""

    @property
    def operator(self) -> bool:
        """Whether the caller may issue directives, review them and change configuration."""
        return self.kind == "operator"

    def acts_for(self, host: str) -> bool:
        """Whether the caller may act as the agent of ``host``: its agent, or an operator."""
        return self.operator or (self.kind == "agent" and self.host == host)

    def reports_for(self, repo: str) -> bool:
        """Whether the caller may report exceptions of ``repo``: a key bound to it, or an
        operator (GitHub repository names are case-insensitive)."""
        return self.operator or repo.lower() in self.repos


ANONYMOUS = Identity(name="anonymous", kind="anonymous", via="anonymous")


def identity_for_scope(
    name: str, scope: str, host: str, via: Via, repos: tuple[str, ...] = ()
) -> Identity:
    """The identity a token (or certificate) of ``scope`` gives its bearer."""
    kind: Kind = "operator" if scope == "operator" else "agent" if scope == "agent" else "client"
    return Identity(
        name=name,
        kind=kind,
        via=via,
        host=host,
        scopes=frozenset({scope}),
        repos=frozenset(r.lower() for r in repos),
    )


class TokenRow(Base):
    """One issued token: who it names and what it may do; never the token itself."""

    __tablename__ = "sentinel_tokens"

    token_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    scope: Mapped[str] = mapped_column(String(32))
    host: Mapped[str] = mapped_column(String(255))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_us: Mapped[int] = mapped_column(BigInteger)
    revoked_us: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    repos: Mapped[str] = mapped_column(Text, default="", server_default="")
    """Space-separated ``owner/repo`` a ``capture`` token is bound to; empty for others."""


@dataclass(frozen=True)
class TokenRecord:
    """What ``sentinel tokens list`` shows of a token."""

    token_id: str
    name: str
    scope: str
    host: str
    created_us: int
    revoked_us: int | None
    repos: tuple[str, ...] = ()
    """The repositories a ``capture`` token reports for (``owner/repo``)."""

    @property
    def revoked(self) -> bool:
        return self.revoked_us is not None

    def identity(self) -> Identity:
        """The identity presenting this token gives."""
        return identity_for_scope(self.name, self.scope, self.host, "token", self.repos)


def token_hash(token: str) -> str:
    """The stored form of ``token``: hex SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like_token(value: str) -> bool:
    """Whether ``value`` has the shape of a Sentinel token (``snt_<scope>_<secret>``)."""
    scope, sep, secret = value.removeprefix(_PREFIX).partition("_")
    return value.startswith(_PREFIX) and bool(sep) and scope in SCOPES and len(secret) >= 32


def check_token_fields(scope: str, host: str, name: str, repos: tuple[str, ...] = ()) -> None:
    """Raise ``ValueError`` saying how to fix a scope, host, name or repository a token
    cannot have."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}; got {scope!r}")
    if scope == "agent" and not host:
        raise ValueError("an agent token is bound to a host: give --host <the agent's hostname>")
    if scope != "agent" and host:
        raise ValueError(f"only agent tokens are bound to a host; drop --host for a {scope} token")
    if host and not _HOST.fullmatch(host):
        raise ValueError(f"host {host!r} is not a hostname (letters, digits, '.', '-', '_')")
    if scope == "capture" and not repos:
        raise ValueError(
            "a capture token is bound to the repositories it reports for: give "
            "--repo owner/repo (repeat it for several)"
        )
    if scope != "capture" and repos:
        raise ValueError(
            f"only capture tokens are bound to repositories; drop --repo for a {scope} token"
        )
    bad = [r for r in repos if not _REPO.fullmatch(r)]
    if bad:
        raise ValueError(f"repository {bad[0]!r} is not of the form owner/repo (as on GitHub)")
    if len(repos) > _MAX_REPOS:
        raise ValueError(f"a token is bound to at most {_MAX_REPOS} repositories, got {len(repos)}")
    if name and not _NAME.fullmatch(name):
        raise ValueError(
            f"name {name!r} must be 1-128 letters, digits or '_.@:-', starting with a letter "
            "or digit"
        )


class TokenStore:
    """Issued tokens in the ``sentinel_tokens`` table, looked up by hash through a cache.

    A lookup is cached for at most a second, so a token revoked by another process (the
    ``sentinel tokens revoke`` command) stops working within a second; ``revoke`` on this
    store takes effect at once.

    Args:
        db: Engine of a migrated database.
    """

    def __init__(self, db: Engine) -> None:
        self._db = db
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, TokenRecord | None]] = {}

    def create(
        self, scope: str, *, host: str = "", name: str = "", repos: Sequence[str] = ()
    ) -> tuple[TokenRecord, str]:
        """Issue a token; returns its record and the token, which is never shown again.

        Args:
            scope: One of ``SCOPES``.
            host: The agent's hostname; required for, and only for, ``agent`` tokens.
            repos: The ``owner/repo`` a ``capture`` token reports for; required for, and
                only for, ``capture`` tokens.
            name: What the ledger records as the caller; default: the host for an agent,
                ``<scope>-<first 8 characters of the id>`` otherwise.

        Raises:
            ValueError: The scope, host or name is not allowed (the message says why).
        """
        bound = tuple(dict.fromkeys(r.strip() for r in repos))
        check_token_fields(scope, host, name, bound)
        token_id = uuid7()
        token = f"{_PREFIX}{scope}_{secrets.token_urlsafe(32)}"
        record = TokenRecord(
            token_id=token_id,
            name=name or host or f"{scope}-{token_id[:8]}",
            scope=scope,
            host=host,
            created_us=time.time_ns() // 1000,
            revoked_us=None,
            repos=bound,
        )
        row = {**record.__dict__, "repos": " ".join(bound)}
        with self._db.begin() as conn:
            conn.execute(insert(TokenRow).values(token_hash=token_hash(token), **row))
        return record, token

    def records(self) -> list[TokenRecord]:
        """Every token ever issued, oldest first."""
        with self._db.connect() as conn:
            rows = conn.execute(
                select(TokenRow.__table__).order_by(TokenRow.created_us, TokenRow.token_id)
            ).mappings()
            return [_record(r) for r in rows]

    def revoke(self, token_id: str) -> TokenRecord:
        """Revoke a token by id (effective at once here, within a second elsewhere).

        Raises:
            KeyError: No token has that id.
        """
        now = time.time_ns() // 1000
        with self._db.begin() as conn:
            conn.execute(
                update(TokenRow)
                .where(TokenRow.token_id == token_id, TokenRow.revoked_us.is_(None))
                .values(revoked_us=now)
            )
            row = (
                conn.execute(select(TokenRow.__table__).where(TokenRow.token_id == token_id))
                .mappings()
                .first()
            )
        if row is None:
            raise KeyError(f"no token has id {token_id!r}; `sentinel tokens list` shows the ids")
        with self._lock:
            self._cache.clear()
        return _record(row)

    def lookup(self, token: str) -> TokenRecord | None:
        """The record of ``token`` (revoked ones included), or ``None`` if it was never issued."""
        digest = token_hash(token)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(digest)
        if hit is not None and now - hit[0] < _CACHE_SECONDS:
            return hit[1]
        try:
            with self._db.connect() as conn:
                row = (
                    conn.execute(select(TokenRow.__table__).where(TokenRow.token_hash == digest))
                    .mappings()
                    .first()
                )
        except OperationalError:
            # The database is away (an outage): a token seen before stays good, so its
            # caller reaches the engine and learns UNAVAILABLE, which it retries.
            if hit is not None:
                return hit[1]
            raise
        record = None if row is None else _record(row)
        with self._lock:
            if len(self._cache) >= _CACHE_MAX:  # random tokens must not grow it without bound
                self._cache.clear()
            self._cache[digest] = (now, record)
        return record


def _record(row: object) -> TokenRecord:
    r = dict(row)  # type: ignore[call-overload]
    r.pop("token_hash")
    r["repos"] = tuple((r.get("repos") or "").split())
    return TokenRecord(**r)
