"""Connection settings of the fleet SDK and their ``SENTINEL_*`` environment defaults."""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grpc

__all__ = ["SDK_LOGGER", "ClientConfig", "RetryConfig", "TlsConfig"]

SDK_LOGGER = "sentinel.fleet.client"
"""The logger of the SDK client, whose level ``SENTINEL_LOG_LEVEL`` sets."""

_LOG_LEVELS = {
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
}
_JITTER = 0.2
"""Each backoff is drawn within this fraction of its nominal value, so that clients
that failed together do not retry in lockstep."""
_INSECURE_PORT = 50051
_TLS_PORT = 443
_N = TypeVar("_N", int, float)


@dataclass(frozen=True)
class TlsConfig:
    """TLS (server verified) or mTLS (both sides verified) credentials, as PEM files.

    Raises:
        ValueError: Only one of the client certificate and key is given, or a file
            does not exist.
    """

    ca_cert_path: str | None = None
    """CA certificate that verifies the server; ``None`` uses the system trust store."""
    client_cert_path: str | None = None
    """Client certificate for mTLS; give it together with ``client_key_path``."""
    client_key_path: str | None = None
    """Client private key for mTLS; give it together with ``client_cert_path``."""

    def __post_init__(self) -> None:
        if (self.client_cert_path is None) != (self.client_key_path is None):
            raise ValueError(
                "mTLS needs both client_cert_path and client_key_path "
                f"(got client_cert_path={self.client_cert_path!r}, "
                f"client_key_path={self.client_key_path!r}); give both, or neither for "
                "server-only TLS"
            )
        for name in ("ca_cert_path", "client_cert_path", "client_key_path"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise ValueError(f"TlsConfig.{name}: file {path!r} does not exist")


@dataclass(frozen=True)
class RetryConfig:
    """When and how unary calls and the event stream are retried."""

    max_retries: int = 3
    """Retries after the first attempt before the error is raised; 0 disables retries."""
    initial_backoff_s: float = 0.1
    """How long to wait before the first retry, in seconds (jittered by ±20%)."""
    max_backoff_s: float = 10.0
    """Upper bound of any backoff, in seconds."""
    backoff_multiplier: float = 2.0
    """Factor by which the backoff grows with each retry."""
    retryable_status_codes: Sequence[grpc.StatusCode] = (
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    )
    """Status codes that are retried; any other code is raised at once."""

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")
        if not 0 <= self.initial_backoff_s <= self.max_backoff_s:
            raise ValueError(
                "backoffs must satisfy 0 <= initial_backoff_s <= max_backoff_s, got "
                f"{self.initial_backoff_s} and {self.max_backoff_s}"
            )
        if self.backoff_multiplier < 1:
            raise ValueError(f"backoff_multiplier must be >= 1, got {self.backoff_multiplier}")

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based).

        Args:
            attempt: How many retries came before this one.
            rng: Source of the jitter.

        Returns:
            A uniform draw within ±20% of ``initial_backoff_s * backoff_multiplier**attempt``,
            never above ``max_backoff_s``.
        """
        nominal = self.max_backoff_s
        try:
            nominal = min(nominal, self.initial_backoff_s * self.backoff_multiplier**attempt)
        except OverflowError:
            pass
        drawn = rng.uniform(nominal * (1 - _JITTER), nominal * (1 + _JITTER))
        return min(self.max_backoff_s, drawn)


def _env_number(name: str, parse: Callable[[str], _N], default: _N) -> _N:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return parse(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number like {default}, got {raw!r}") from None


def _env_log_level() -> int | None:
    raw = os.environ.get("SENTINEL_LOG_LEVEL")
    if not raw:
        return None
    if raw.upper() not in _LOG_LEVELS:
        raise ValueError(f"SENTINEL_LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}, got {raw!r}")
    return _LOG_LEVELS[raw.upper()]


def _with_default_port(endpoint: str, tls: bool) -> str:
    """``endpoint`` with the port its transport implies when it names none: 443 with
    TLS, 50051 without. Targets with a scheme (``dns:``, ``unix:``...) are left alone."""
    if endpoint.startswith("["):
        has_port = "]:" in endpoint
    elif "/" in endpoint or endpoint.count(":") == 1:
        has_port = True  # host:port, or a scheme such as dns:/// or unix:
    elif ":" in endpoint:
        endpoint, has_port = f"[{endpoint}]", False  # a bare IPv6 address
    else:
        has_port = False
    if has_port:
        return endpoint
    return f"{endpoint}:{_TLS_PORT if tls else _INSECURE_PORT}"


def _env_tls() -> TlsConfig | None:
    paths = {
        name: os.environ.get(variable) or None
        for name, variable in (
            ("ca_cert_path", "SENTINEL_CA_CERT"),
            ("client_cert_path", "SENTINEL_CLIENT_CERT"),
            ("client_key_path", "SENTINEL_CLIENT_KEY"),
        )
    }
    if not any(paths.values()):
        return None
    return TlsConfig(**paths)


@dataclass(frozen=True)
class ClientConfig:
    """Everything a client needs to connect, resolved against the environment."""

    endpoint: str
    """``host:port`` (or any gRPC target) of the gateway."""
    tls_config: TlsConfig | None = None
    """TLS credentials; ``None`` opens an insecure channel."""
    retry_config: RetryConfig = field(default_factory=RetryConfig)
    """Retry behaviour of unary calls and of the event stream."""
    default_timeout: float = 30.0
    """Deadline of each unary call attempt, in seconds."""
    options: tuple[tuple[str, Any], ...] = ()
    """Extra gRPC channel options."""
    token: str | None = None
    """Bearer token sent as ``authorization`` metadata; it names the operator."""
    log_level: int | None = None
    """Level for the SDK's logger (``SDK_LOGGER``); ``None`` sets WARNING unless the
    logger already has a level of its own."""

    @classmethod
    def from_env(
        cls,
        endpoint: str | None = None,
        *,
        tls_config: TlsConfig | None = None,
        retry_config: RetryConfig | None = None,
        default_timeout: float | None = None,
        options: Sequence[tuple[str, Any]] | None = None,
        token: str | None = None,
    ) -> ClientConfig:
        """Fills every argument left as ``None`` from its ``SENTINEL_*`` variable.

        ``SENTINEL_ENDPOINT``, ``SENTINEL_CA_CERT`` / ``SENTINEL_CLIENT_CERT`` /
        ``SENTINEL_CLIENT_KEY`` (TLS when any is set), ``SENTINEL_TIMEOUT`` (default
        30), ``SENTINEL_MAX_RETRIES`` (default 3), ``SENTINEL_TOKEN`` and
        ``SENTINEL_LOG_LEVEL`` (default WARNING). An endpoint without a port gets 443
        when TLS is configured, else 50051.

        Raises:
            ValueError: No endpoint is given or set, or a variable is malformed.
        """
        endpoint = endpoint or os.environ.get("SENTINEL_ENDPOINT")
        if not endpoint:
            raise ValueError(
                "no endpoint: pass one, e.g. SentinelClient.connect('localhost:50051'), "
                "or set SENTINEL_ENDPOINT=host:port"
            )
        if retry_config is None:
            retry_config = RetryConfig(max_retries=_env_number("SENTINEL_MAX_RETRIES", int, 3))
        if default_timeout is None:
            default_timeout = _env_number("SENTINEL_TIMEOUT", float, 30.0)
        if tls_config is None:
            tls_config = _env_tls()
        return cls(
            endpoint=_with_default_port(endpoint, tls_config is not None),
            tls_config=tls_config,
            retry_config=retry_config,
            default_timeout=default_timeout,
            options=tuple(options or ()),
            token=token or os.environ.get("SENTINEL_TOKEN") or None,
            log_level=_env_log_level(),
        )
