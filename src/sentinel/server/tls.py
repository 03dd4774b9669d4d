"""gRPC server credentials from the ``SENTINEL_TLS_*`` settings."""

from __future__ import annotations

from pathlib import Path

import grpc

from sentinel.core.settings import ServerSettings


def server_credentials(settings: ServerSettings) -> grpc.ServerCredentials | None:
    """Credentials for the gRPC port, or None when TLS is off (no certificate configured).

    With ``tls_client_ca`` set the server runs mutual TLS: a client without a certificate
    signed by that CA cannot connect at all. Without it, client certificates are not even
    requested, so a certificate's subject only ever reaches ``Authorizer`` once verified.

    Raises:
        ValueError: Only one of certificate and key is set, a client CA is set without a
            certificate, or a file cannot be read or is not PEM. The message names the
            file and the ``SENTINEL_*`` variable it came from.
    """
    if not settings.tls_cert and not settings.tls_key:
        if settings.tls_client_ca:
            raise ValueError(
                "SENTINEL_TLS_CLIENT_CA is set but TLS is off: mutual TLS also needs the "
                "server's SENTINEL_TLS_CERT and SENTINEL_TLS_KEY"
            )
        return None
    if not settings.tls_cert or not settings.tls_key:
        missing = "SENTINEL_TLS_KEY" if settings.tls_cert else "SENTINEL_TLS_CERT"
        raise ValueError(
            f"TLS needs both SENTINEL_TLS_CERT and SENTINEL_TLS_KEY; {missing} is not set"
        )
    chain = _read_pem(settings.tls_cert, "SENTINEL_TLS_CERT")
    key = _read_pem(settings.tls_key, "SENTINEL_TLS_KEY")
    if not settings.tls_client_ca:
        return grpc.ssl_server_credentials([(key, chain)])
    client_ca = _read_pem(settings.tls_client_ca, "SENTINEL_TLS_CLIENT_CA")
    return grpc.ssl_server_credentials(
        [(key, chain)], root_certificates=client_ca, require_client_auth=True
    )


def _read_pem(path: str, variable: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(
            f"cannot read {variable} file {path!r}: {exc.strerror or exc}; "
            f"point {variable} (or its command-line flag) at a readable PEM file"
        ) from exc
    if b"-----BEGIN " not in data:
        raise ValueError(
            f"{variable} file {path!r} is not PEM (no '-----BEGIN' line); "
            "convert it with `openssl x509 -outform PEM` or `openssl pkey -outform PEM`"
        )
    return data
