"""Exceptions raised by the fleet SDK, mapped from gRPC status codes.

``ConnectionError`` deliberately shares the builtin's name, as the seed documents;
import it from ``sentinel.fleet`` to catch the SDK's.
"""

from __future__ import annotations

import grpc

__all__ = [
    "AuthenticationError",
    "ConnectionError",
    "InvalidArgumentError",
    "NotFoundError",
    "SentinelError",
    "from_rpc_error",
]


class SentinelError(Exception):
    """Base class of every SDK error.

    Attributes:
        code: The gRPC status code of the failed call.
        details: The server's (or the gRPC runtime's) description of the failure.
    """

    def __init__(self, details: str, code: grpc.StatusCode = grpc.StatusCode.UNKNOWN) -> None:
        super().__init__(details)
        self.details = details
        self.code = code


class ConnectionError(SentinelError):
    """The endpoint cannot be reached (``UNAVAILABLE``), also after retries."""


class AuthenticationError(SentinelError):
    """The caller is unknown or not allowed (``UNAUTHENTICATED``, ``PERMISSION_DENIED``)."""


class NotFoundError(SentinelError):
    """The requested resource does not exist (``NOT_FOUND``)."""


class InvalidArgumentError(SentinelError):
    """The server refused the request's arguments (``INVALID_ARGUMENT``)."""


_BY_CODE: dict[grpc.StatusCode, type[SentinelError]] = {
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.UNAUTHENTICATED: AuthenticationError,
    grpc.StatusCode.PERMISSION_DENIED: AuthenticationError,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.UNAVAILABLE: ConnectionError,
}


def from_rpc_error(err: grpc.RpcError) -> SentinelError:
    """Converts a failed gRPC call into the matching ``SentinelError`` subclass.

    Args:
        err: The error raised by a gRPC call; it must carry a status (``grpc.Call``).

    Returns:
        The SDK error, whose message is the server's details string.
    """
    code: grpc.StatusCode = err.code()
    details: str = err.details() or code.name
    return _BY_CODE.get(code, SentinelError)(details, code)
