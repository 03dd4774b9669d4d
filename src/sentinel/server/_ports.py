"""Ports the server cannot listen on, explained by the setting that picks another."""

from __future__ import annotations

import errno
import socket

_SETTINGS = {
    "gRPC": ("--grpc-port", "SENTINEL_GRPC_PORT"),
    "HTTP": ("--http-port", "SENTINEL_HTTP_PORT"),
}


class PortUnavailable(ValueError):
    """The server cannot listen on a port; the message names the flag and variable to change.

    A ``ValueError`` like every other settings problem, so callers report all of them alike.
    """

    def __init__(self, service: str, host: str, port: int, error: OSError) -> None:
        flag, variable = _SETTINGS[service]
        choose = f"choose another port with {flag} or {variable}"
        if error.errno == errno.EADDRINUSE:
            message = (
                f"{service} port {port} on {host} is already in use: stop the process that "
                f"holds it, or {choose} (0 picks a free one)"
            )
        elif error.errno == errno.EACCES:
            message = (
                f"{service} port {port} on {host} is not allowed for this user (ports below "
                f"1024 need privileges): {choose}"
            )
        else:
            reason = error.strerror or str(error)
            message = (
                f"cannot listen on {host}:{port} for {service} ({reason}): check --host or "
                f"SENTINEL_HOST, or {choose}"
            )
        super().__init__(message)
        self.service = service
        self.port = port


def check_port(service: str, host: str, port: int) -> None:
    """Raise ``PortUnavailable`` if ``host:port`` cannot be listened on now.

    Binds and closes a socket on every address ``host`` resolves to, with ``SO_REUSEADDR``
    as the servers use it, so the answer matches what the real bind would meet.

    Args:
        service: ``"gRPC"`` or ``"HTTP"``: which setting the message names.
        host: The address to bind, as the ``--host`` setting gives it.
        port: The port; 0 always succeeds.
    """
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise PortUnavailable(service, host, port, exc) from exc
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                raise PortUnavailable(service, host, port, exc) from exc
