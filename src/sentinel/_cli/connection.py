"""The connection options every client command shares, and what a failed call exits with.

The root command stores a ``Connection`` in ``ctx.obj``; commands take it with
``click.pass_obj``.
"""

from __future__ import annotations

from dataclasses import dataclass

import click

from sentinel.fleet import (
    AuthenticationError,
    ConnectionError,
    InvalidArgumentError,
    NotFoundError,
    SentinelClient,
    SentinelError,
    TlsConfig,
)

_EXIT_CODES: tuple[tuple[type[SentinelError], int], ...] = (
    (NotFoundError, 3),
    (InvalidArgumentError, 4),
    (AuthenticationError, 5),
    (ConnectionError, 6),
)


@dataclass(frozen=True)
class Connection:
    """Where the server is and how to authenticate, from the global options."""

    endpoint: str
    ca_cert: str | None
    client_cert: str | None
    client_key: str | None
    token: str | None
    timeout: float

    def open(self) -> SentinelClient:
        """A client for these options; use it as a context manager so it is closed."""
        if bool(self.client_cert) != bool(self.client_key):
            raise click.UsageError(
                "--client-cert and --client-key (SENTINEL_CLIENT_CERT, SENTINEL_CLIENT_KEY) "
                "go together: give both for mTLS, or neither"
            )
        tls = None
        if self.ca_cert or self.client_cert:
            tls = TlsConfig(
                ca_cert_path=self.ca_cert,
                client_cert_path=self.client_cert,
                client_key_path=self.client_key,
            )
        return SentinelClient.connect(
            self.endpoint, tls_config=tls, default_timeout=self.timeout, token=self.token
        )

    def explain(self, error: SentinelError) -> tuple[str, int]:
        """The one line to print for ``error`` and the exit code to leave with."""
        message = str(error) or error.code.name
        if isinstance(error, ConnectionError):
            message += (
                f" (endpoint {self.endpoint}: is the server running there? "
                "Set --endpoint or SENTINEL_ENDPOINT)"
            )
        elif isinstance(error, AuthenticationError):
            message += (
                " (pass an operator's --token / SENTINEL_TOKEN, or its "
                "--client-cert and --client-key)"
            )
        code = next((code for kind, code in _EXIT_CODES if isinstance(error, kind)), 1)
        return message, code
