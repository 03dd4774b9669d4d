"""Who is calling the gRPC API, and whether they may act as an operator.

A caller is identified by a bearer token (``authorization: Bearer <token>`` metadata)
or by the common name of its verified client certificate; everyone else is anonymous.
Reads are open to every caller; approving or rejecting directives and issuing CONDEMN
call ``arequire_operator`` (``require_operator`` on a synchronous server). A token the
server does not know is refused on every call by ``TokenCheck``, not only where an
operator is needed, so a mistyped token never passes silently as anonymous.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NoReturn, Protocol

import grpc

_OPERATOR_HINT = (
    "requires an operator identity (client certificate subject in SENTINEL_OPERATOR_SUBJECTS "
    "or a token in SENTINEL_OPERATOR_TOKENS)"
)


@dataclass(frozen=True)
class Identity:
    """The caller of one RPC."""

    name: str
    """Certificate common name, token name, or ``"anonymous"``."""
    operator: bool
    """Whether the caller may issue directives, review them and change configuration."""
    via: Literal["certificate", "token", "anonymous"]
    """How the caller was identified."""


ANONYMOUS = Identity(name="anonymous", operator=False, via="anonymous")


class Refused(Exception):
    """An HTTP caller was refused: ``status`` 401 for a bad token, 403 for no operator."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Context(Protocol):
    """The parts of ``grpc.ServicerContext`` the authorizer uses."""

    def auth_context(self) -> Mapping[str, Sequence[bytes]]: ...
    def invocation_metadata(self) -> Sequence[tuple[str, str | bytes]] | None: ...
    def abort(self, code: grpc.StatusCode, details: str) -> NoReturn: ...


class _AioContext(Protocol):
    """The parts of ``grpc.aio.ServicerContext`` the authorizer uses."""

    def auth_context(self) -> Mapping[str, Sequence[bytes]]: ...
    def invocation_metadata(self) -> Sequence[tuple[str, str | bytes]] | None: ...
    async def abort(self, code: grpc.StatusCode, details: str) -> NoReturn: ...


@dataclass(frozen=True)
class _Denial:
    code: grpc.StatusCode
    details: str


class Authorizer:
    """Maps the transport identity and bearer token of a call to an ``Identity``.

    Use ``aidentify`` and ``arequire_operator`` in ``grpc.aio`` servicers (their context's
    ``abort`` is a coroutine) and ``identify`` and ``require_operator`` in synchronous
    ones. A failed check aborts the RPC, so the servicer needs no error handling.

    Args:
        operator_subjects: Client-certificate common names that count as operators.
        operator_tokens: ``name:token`` pairs; presenting the token makes the caller the
            operator ``name``.

    Raises:
        ValueError: An ``operator_tokens`` entry is not of the form ``name:token``.
    """

    def __init__(
        self, operator_subjects: Iterable[str] = (), operator_tokens: Iterable[str] = ()
    ) -> None:
        self._subjects = frozenset(operator_subjects)
        self._tokens: list[tuple[str, bytes]] = []
        for position, entry in enumerate(operator_tokens, start=1):
            name, sep, token = entry.partition(":")
            if not (sep and name.strip() and token.strip()):
                # The entry itself is a secret, so the message points at it by position.
                raise ValueError(
                    f"SENTINEL_OPERATOR_TOKENS entry {position} is not of the form name:token"
                )
            self._tokens.append((name.strip(), token.strip().encode()))

    def identify(self, context: _Context) -> Identity:
        """The caller of a synchronous RPC; aborts it with UNAUTHENTICATED on a bad token."""
        found = self._resolve(context)
        if isinstance(found, _Denial):
            context.abort(found.code, found.details)
        return found

    async def aidentify(self, context: _AioContext) -> Identity:
        """The caller of a ``grpc.aio`` RPC; aborts it with UNAUTHENTICATED on a bad token."""
        found = self._resolve(context)
        if isinstance(found, _Denial):
            await context.abort(found.code, found.details)
        return found

    def require_operator(self, context: _Context, what: str) -> Identity:
        """The caller of a synchronous RPC, which is aborted unless it is an operator.

        Args:
            context: The RPC's servicer context.
            what: What the caller tried to do, for the PERMISSION_DENIED message.
        """
        identity = self.identify(context)
        if not identity.operator:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, f"{what} {_OPERATOR_HINT}")
        return identity

    async def arequire_operator(self, context: _AioContext, what: str) -> Identity:
        """The caller of a ``grpc.aio`` RPC, which is aborted unless it is an operator.

        Args:
            context: The RPC's servicer context.
            what: What the caller tried to do, for the PERMISSION_DENIED message.
        """
        identity = await self.aidentify(context)
        if not identity.operator:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"{what} {_OPERATOR_HINT}")
        return identity

    def require_http_operator(self, authorization: str | None, what: str) -> Identity:
        """The operator behind an HTTP ``Authorization`` header, or ``Refused``.

        Args:
            authorization: The header's value; ``None`` when the request has none.
            what: What the caller tried to do, for the 403 message.
        """
        if authorization is None:
            raise Refused(403, f"{what} {_OPERATOR_HINT}")
        found = self._from_token(authorization)
        if isinstance(found, _Denial):
            raise Refused(401, found.details)
        return found

    def _resolve(self, context: _Context | _AioContext) -> Identity | _Denial:
        header = _authorization(context.invocation_metadata() or ())
        if header is not None:
            return self._from_token(header)
        # gRPC only fills x509_common_name for a certificate it verified against the
        # client CA (see sentinel.server.tls), so the name can be trusted as is.
        names = context.auth_context().get("x509_common_name")
        if names:
            name = names[0].decode(errors="replace")
            return Identity(name=name, operator=name in self._subjects, via="certificate")
        return ANONYMOUS

    def _from_token(self, header: str) -> Identity | _Denial:
        scheme, _, presented = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            return _Denial(
                grpc.StatusCode.UNAUTHENTICATED,
                "authorization metadata must be of the form 'Bearer <token>'",
            )
        candidate = presented.strip().encode()
        match = None
        # Every token is compared, in constant time, so timing does not tell which
        # one (or how much of one) matched.
        for name, token in self._tokens:
            if hmac.compare_digest(token, candidate):
                match = name
        if match is None:
            return _Denial(
                grpc.StatusCode.UNAUTHENTICATED,
                "unknown token: it is not one of the server's SENTINEL_OPERATOR_TOKENS",
            )
        return Identity(name=match, operator=True, via="token")


class TokenCheck(grpc.aio.ServerInterceptor):
    """Refuses, with UNAUTHENTICATED, any call that presents a token the server does not know."""

    def __init__(self, authorizer: Authorizer) -> None:
        self._authorizer = authorizer

    async def intercept_service(
        self, continuation: Any, handler_call_details: grpc.HandlerCallDetails
    ) -> Any:
        handler = await continuation(handler_call_details)
        header = _authorization(handler_call_details.invocation_metadata or ())  # type: ignore[attr-defined]
        if handler is None or header is None:
            return handler
        found = self._authorizer._from_token(header)
        if not isinstance(found, _Denial):
            return handler

        async def deny(_request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
            await context.abort(found.code, found.details)

        for kind, factory in (
            ("unary_unary", grpc.unary_unary_rpc_method_handler),
            ("unary_stream", grpc.unary_stream_rpc_method_handler),
            ("stream_unary", grpc.stream_unary_rpc_method_handler),
            ("stream_stream", grpc.stream_stream_rpc_method_handler),
        ):
            if getattr(handler, kind):
                return factory(
                    deny,  # type: ignore[arg-type]
                    request_deserializer=handler.request_deserializer,
                    response_serializer=handler.response_serializer,
                )
        return handler


def _authorization(metadata: Iterable[tuple[str, str | bytes]]) -> str | None:
    for key, value in metadata:
        if key.lower() == "authorization":
            return value.decode(errors="replace") if isinstance(value, bytes) else value
    return None
