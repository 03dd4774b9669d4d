"""Server settings: command-line flags with ``SENTINEL_*`` environment defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

AUTH_MODES = ("enforcing", "open")


def _env(name: str, default: str) -> str:
    return os.environ.get(f"SENTINEL_{name}", default)


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(f"SENTINEL_{name}", "")
    if not raw.strip():
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"SENTINEL_{name} must be an integer, got {raw!r}") from None


def _env_list(name: str) -> tuple[str, ...]:
    raw = os.environ.get(f"SENTINEL_{name}", "")
    return tuple(item.strip() for item in raw.split(",") if item.strip())


@dataclass(frozen=True)
class ServerSettings:
    """Everything ``sentinel serve`` needs; ``from_env`` fills it from ``SENTINEL_*``."""

    grpc_port: int = 50051
    """gRPC port of the fleet API; 0 picks a free port."""
    http_port: int = 8000
    """HTTP port for /healthz, /metrics and the REST endpoints; 0 picks a free port."""
    host: str = "127.0.0.1"
    """Address both servers bind to."""
    data_dir: Path = Path("./data")
    """Where embedded state lives (the SQLite database)."""
    database_url: str = ""
    """SQLAlchemy URL; empty means SQLite under ``data_dir``."""
    tls_cert: str = ""
    """Server certificate (PEM); with ``tls_key`` it turns TLS on."""
    tls_key: str = ""
    """Server private key (PEM)."""
    tls_client_ca: str = ""
    """CA (PEM) that client certificates must chain to; set, it turns mTLS on."""
    operator_subjects: tuple[str, ...] = ()
    """Client-certificate common names that count as operators."""
    operator_tokens: tuple[str, ...] = ()
    """``name:token`` pairs; a bearer token from this list makes its caller an operator."""
    auth_mode: str = "enforcing"
    """``enforcing`` (the default): state changes need an operator or the host's agent;
    ``open``: anyone may do anything (a lab only; logged and shown loudly)."""
    ledger_batch_size: int = 1024
    """Entries per Merkle batch of the audit ledger."""
    log_level: str = "INFO"
    """Level of the server's own log."""
    extra: dict[str, str] = field(default_factory=dict)
    """Engine settings passed through as ``SENTINEL_ENGINE_*`` (see the README)."""
    checkpoint_store: str = ""
    """Where signed ledger checkpoints go: a directory or ``s3://bucket/prefix``; empty
    means ``<data_dir>/checkpoints``. Keep it out of reach of whoever holds the database."""
    signing_key: str = ""
    """The Ed25519 key that signs checkpoints (created, mode 0600, when missing); empty
    means ``<data_dir>/ledger-signing.key``."""
    checkpoint_every_entries: int = 1_000_000
    """Publish a checkpoint after this many new ledger entries..."""
    checkpoint_every_seconds: int = 60
    """...or after this many seconds when anything changed (and always at shutdown)."""
    domains: tuple[str, ...] = ()
    """Domains to host (``fleet``, ``runs``...); empty means every installed one."""
    domain_settings: Mapping[str, Any] = field(default_factory=dict)
    """Per-domain settings objects by domain name, for embedders and tests; a domain not
    named here reads its own ``SENTINEL_<DOMAIN>_*`` variables."""

    def __post_init__(self) -> None:
        if self.auth_mode not in AUTH_MODES:
            raise ValueError(
                f"SENTINEL_AUTH_MODE must be one of {', '.join(AUTH_MODES)}, got {self.auth_mode!r}"
            )

    @property
    def open_mode(self) -> bool:
        """Whether anonymous callers may change state (``--insecure-open``)."""
        return self.auth_mode == "open"

    @property
    def resolved_database_url(self) -> str:
        """The database URL actually used: the explicit one, or SQLite in ``data_dir``."""
        from sentinel.core.db import sqlite_url

        return self.database_url or sqlite_url(self.data_dir)

    @classmethod
    def from_env(cls) -> ServerSettings:
        """Settings from ``SENTINEL_*`` variables, defaults where unset."""
        return cls(
            grpc_port=_env_int("GRPC_PORT", 50051),
            http_port=_env_int("HTTP_PORT", 8000),
            host=_env("HOST", "127.0.0.1"),
            data_dir=Path(_env("DATA_DIR", "./data")),
            database_url=_env("DATABASE_URL", ""),
            tls_cert=_env("TLS_CERT", ""),
            tls_key=_env("TLS_KEY", ""),
            tls_client_ca=_env("TLS_CLIENT_CA", ""),
            operator_subjects=_env_list("OPERATOR_SUBJECTS"),
            operator_tokens=_env_list("OPERATOR_TOKENS"),
            auth_mode=_env("AUTH_MODE", "enforcing"),
            ledger_batch_size=_env_int("LEDGER_BATCH_SIZE", 1024),
            log_level=_env("LOG_LEVEL", "INFO"),
            extra={
                k.removeprefix("SENTINEL_ENGINE_").lower(): v
                for k, v in os.environ.items()
                if k.startswith("SENTINEL_ENGINE_")
            },
            checkpoint_store=_env("CHECKPOINT_STORE", ""),
            signing_key=_env("SIGNING_KEY", ""),
            checkpoint_every_entries=_env_int("CHECKPOINT_EVERY_ENTRIES", 1_000_000),
            checkpoint_every_seconds=_env_int("CHECKPOINT_EVERY_SECONDS", 60),
            domains=_env_list("DOMAINS"),
        )
