"""The gRPC edge of the fleet API: no request reaches a servicer unless it decodes and
passes ``sentinel.fleet.validation``, and no unexpected error leaves the server as text.

gRPC answers UNKNOWN, with the exception's text, when a request does not decode or a
handler raises something it did not expect; such text may hold SQL and its parameters.
``EdgeValidation`` answers INVALID_ARGUMENT for undecodable and invalid requests instead
(a report batch loses only its invalid reports, listed in ``ReportAck.rejected``), and
INTERNAL with an error id (the server's log has the details) for anything else.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, NoReturn

import grpc
from google.protobuf.message import DecodeError, Message

from sentinel.fleet.validation import (
    BATCH_ITEMS,
    InvalidRequest,
    request_types,
    screen_batch,
    validate,
)

log = logging.getLogger("sentinel.fleet.edge")


class _Undecodable:
    """Stands for a request whose bytes are not a valid message of the method's type."""

    def __init__(self, type_name: str, error: str) -> None:
        self.problem = f"request is not a valid {type_name}: {error}"


def _tolerant(cls: type[Message]) -> Callable[[bytes], Message | _Undecodable]:
    """A request deserializer that returns ``_Undecodable`` instead of raising inside gRPC."""
    name = cls.DESCRIPTOR.full_name

    def parse(data: bytes) -> Message | _Undecodable:
        try:
            return cls.FromString(data)
        except DecodeError as exc:
            return _Undecodable(name, str(exc) or "it does not decode")

    return parse


async def _admit(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> list[str]:
    """Abort with INVALID_ARGUMENT unless the request decoded and is valid; a report batch
    loses its invalid reports instead, and the lines that say why are returned."""
    if isinstance(request, _Undecodable):
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.problem)
    try:
        if request.DESCRIPTOR.full_name in BATCH_ITEMS:
            return screen_batch(request)
        validate(request)
    except InvalidRequest as exc:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
    return []


async def _internal(context: grpc.aio.ServicerContext[Any, Any], method: str) -> NoReturn:
    """Log the exception being handled and answer INTERNAL with an id to find it by."""
    error_id = uuid.uuid4().hex[:12]
    log.exception("%s failed (error %s)", method, error_id)
    await context.abort(
        grpc.StatusCode.INTERNAL,
        f"the server failed on this request (error {error_id}); its log has the details",
    )
    raise AssertionError("unreachable")  # abort always raises


class EdgeValidation(grpc.aio.ServerInterceptor):
    """Decodes tolerantly and validates every request of the fleet and agent services.

    Register it after the interceptors that authenticate, so a caller with a bad token
    hears UNAUTHENTICATED first. Methods of other services (health, reflection) pass
    through untouched.
    """

    def __init__(self) -> None:
        self._types = request_types()
        self._wrapped: dict[str, tuple[Any, Any]] = {}
        for cls in self._types.values():
            validate(cls())  # builds every validator now, not inside a first request

    async def intercept_service(
        self, continuation: Any, handler_call_details: grpc.HandlerCallDetails
    ) -> Any:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method  # type: ignore[attr-defined]
        cls = self._types.get(method)
        if handler is None or cls is None:
            return handler
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = _wrap(handler, cls, method)
        self._wrapped[method] = (handler, wrapped)
        return wrapped


def _wrap(handler: Any, cls: type[Message], method: str) -> Any:
    parse = _tolerant(cls)
    if handler.unary_unary is not None:
        behavior = handler.unary_unary

        async def unary(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            refused = await _admit(request, context)
            try:
                response = await behavior(request, context)
            except grpc.aio.AbortError:
                raise
            except Exception:
                await _internal(context, method)
            if refused:
                response.rejected.extend(refused)
            return response

        return grpc.unary_unary_rpc_method_handler(
            unary,  # type: ignore[arg-type]
            request_deserializer=parse,
            response_serializer=handler.response_serializer,
        )
    if handler.unary_stream is not None:
        stream = handler.unary_stream

        async def streaming(
            request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            await _admit(request, context)
            try:
                async for item in stream(request, context):
                    yield item
            except grpc.aio.AbortError:
                raise
            except Exception:
                await _internal(context, method)

        return grpc.unary_stream_rpc_method_handler(
            streaming,  # type: ignore[arg-type]
            request_deserializer=parse,
            response_serializer=handler.response_serializer,
        )
    raise TypeError(f"{method}: client-streaming methods need their own validation")
