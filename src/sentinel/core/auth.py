"""Who is calling, resolved from a gRPC call or an HTTP header, and whether they may act.

A caller is identified by a bearer token (``authorization: Bearer <token>``), or by the
common name of its verified client certificate; everyone else is anonymous. Tokens come
from the token store (``sentinel tokens create``) or from ``SENTINEL_OPERATOR_TOKENS``
(``name:token`` pairs, always operators). A certificate whose common name is in
``SENTINEL_OPERATOR_SUBJECTS`` is an operator; any other verified certificate is the
agent of the host its common name names. A token the server does not know, or one that
was revoked, is refused on every call by ``TokenCheck``, so a mistyped token never passes
silently as anonymous.

In open mode (a lab, ``--insecure-open``) an anonymous caller may do what an operator
may; identified callers keep their identities and limits.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol

import grpc
from sqlalchemy.exc import SQLAlchemyError

from sentinel.core.identity import ANONYMOUS, Identity, TokenStore, identity_for_scope

OPERATOR_HINT = (
    "an operator's token (`sentinel tokens create --scope operator`, or one of "
    "SENTINEL_OPERATOR_TOKENS) or a client certificate named in SENTINEL_OPERATOR_SUBJECTS"
)
OPEN_MODE_WARNING = (
    "INSECURE OPEN MODE (--insecure-open / SENTINEL_AUTH_MODE=open): anyone who reaches this "
    "server may reinstate or condemn GPUs and change the configuration; use it in a lab only"
)
_OPEN = Identity(name="anonymous", kind="operator", via="anonymous", scopes=frozenset({"operator"}))


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


def refusal(who: Identity, what: str, needs: str) -> tuple[grpc.StatusCode, str]:
    """The status and message refusing ``who`` the action ``what``, which ``needs`` something.

    Anonymous callers get UNAUTHENTICATED (they may retry with credentials); identified
    callers PERMISSION_DENIED.
    """
    if who.kind == "anonymous":
        return grpc.StatusCode.UNAUTHENTICATED, f"{what} requires {needs}; this call had none"
    return (
        grpc.StatusCode.PERMISSION_DENIED,
        f"{what} requires {needs}; {who.name!r} is {_describe(who)}",
    )


def _describe(who: Identity) -> str:
    if who.kind == "agent":
        return f"the agent of host {who.host!r}"
    if who.kind == "client":
        return f"an ingestion client (scope {', '.join(sorted(who.scopes))})"
    return "an operator"


class Authorizer:
    """Maps the transport identity and bearer token of a call to an ``Identity``.

    Use the ``a``-prefixed methods in ``grpc.aio`` servicers (their context's ``abort`` is
    a coroutine) and the others in synchronous ones. A failed check aborts the RPC, so
    the servicer needs no error handling.

    Args:
        operator_subjects: Client-certificate common names that count as operators.
        operator_tokens: ``name:token`` pairs; presenting the token makes the caller the
            operator ``name``.
        store: Tokens issued with ``sentinel tokens create``; ``None``: none are known.
        open_mode: Let anonymous callers do what an operator may (``--insecure-open``).

    Raises:
        ValueError: An ``operator_tokens`` entry is not of the form ``name:token``.
    """

    def __init__(
        self,
        operator_subjects: Iterable[str] = (),
        operator_tokens: Iterable[str] = (),
        *,
        store: TokenStore | None = None,
        open_mode: bool = False,
    ) -> None:
        self._subjects = frozenset(operator_subjects)
        self._store = store
        self.open_mode = open_mode
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
            what: What the caller tried to do, for the refusal's message.
        """
        identity = self.identify(context)
        if not identity.operator:
            context.abort(*refusal(identity, what, OPERATOR_HINT))
        return identity

    async def arequire_operator(self, context: _AioContext, what: str) -> Identity:
        """The caller of a ``grpc.aio`` RPC, which is aborted unless it is an operator.

        Args:
            context: The RPC's servicer context.
            what: What the caller tried to do, for the refusal's message.
        """
        identity = await self.aidentify(context)
        if not identity.operator:
            await context.abort(*refusal(identity, what, OPERATOR_HINT))
        return identity

    async def arequire_host(self, context: _AioContext, host: str, what: str) -> Identity:
        """The caller of a ``grpc.aio`` RPC, aborted unless it may act for ``host``'s agent.

        The agent of ``host`` (token or certificate) and operators may; nobody else.
        """
        identity = await self.aidentify(context)
        if not identity.acts_for(host):
            needs = f"the agent token or certificate of host {host!r}, or {OPERATOR_HINT}"
            await context.abort(*refusal(identity, what, needs))
        return identity

    def require_http_operator(self, authorization: str | None, what: str) -> Identity:
        """The operator behind an HTTP ``Authorization`` header, or ``Refused``.

        Args:
            authorization: The header's value; ``None`` when the request has none.
            what: What the caller tried to do, for the refusal's message.
        """
        if authorization is None:
            if self.open_mode:
                return _OPEN
            raise Refused(403, f"{what} requires {OPERATOR_HINT}")
        found = self._from_token(authorization)
        if isinstance(found, _Denial):
            raise Refused(503 if found.code == grpc.StatusCode.UNAVAILABLE else 401, found.details)
        if not found.operator:
            raise Refused(403, refusal(found, what, OPERATOR_HINT)[1])
        return found

    def require_http_scope(self, authorization: str | None, scope: str, what: str) -> Identity:
        """The ingestion client of ``scope`` (or an operator) behind an HTTP header, or
        ``Refused``: 401 without a valid token, 403 with a token of another scope.

        Ingestion needs a token even in open mode: the data it writes belongs to the
        identity that sent it (a run to its owner, an event to its repository).

        Args:
            authorization: The header's value; ``None`` when the request has none.
            scope: The domain's token scope (``runs``, ``capture``, ``llm``).
            what: What the caller tried to do, for the refusal's message.
        """
        needs = f"a token of scope {scope!r} (`sentinel tokens create --scope {scope}`)"
        if authorization is None:
            raise Refused(401, f"{what} requires {needs}; send 'Authorization: Bearer <token>'")
        found = self._from_token(authorization)
        if isinstance(found, _Denial):
            raise Refused(503 if found.code == grpc.StatusCode.UNAVAILABLE else 401, found.details)
        if not (found.operator or scope in found.scopes):
            raise Refused(403, refusal(found, what, needs)[1])
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
            if name in self._subjects:
                return identity_for_scope(name, "operator", "", "certificate")
            return identity_for_scope(name, "agent", name, "certificate")
        return _OPEN if self.open_mode else ANONYMOUS

    def _from_token(self, header: str) -> Identity | _Denial:
        scheme, _, presented = header.strip().partition(" ")
        token = presented.strip()
        if scheme.lower() != "bearer" or not token:
            return _Denial(
                grpc.StatusCode.UNAUTHENTICATED,
                "authorization metadata must be of the form 'Bearer <token>'",
            )
        candidate = token.encode()
        match = None
        # Every configured token is compared, in constant time, so timing does not tell
        # which one (or how much of one) matched.
        for name, configured in self._tokens:
            if hmac.compare_digest(configured, candidate):
                match = name
        if match is not None:
            return identity_for_scope(match, "operator", "", "token")
        try:
            record = self._store.lookup(token) if self._store is not None else None
        except SQLAlchemyError:
            # The token database is away (an outage): the caller should retry, not give up.
            return _Denial(
                grpc.StatusCode.UNAVAILABLE,
                "cannot check the token: the server's database is unavailable; retry shortly",
            )
        if record is None:
            return _Denial(
                grpc.StatusCode.UNAUTHENTICATED,
                "unknown token: it was not issued by `sentinel tokens create` on this server's "
                "database and is not one of SENTINEL_OPERATOR_TOKENS",
            )
        if record.revoked:
            return _Denial(
                grpc.StatusCode.UNAUTHENTICATED,
                f"token {record.token_id} ({record.name}) was revoked; ask an operator for a "
                "new one (`sentinel tokens create`)",
            )
        return record.identity()


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
