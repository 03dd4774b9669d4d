"""``SentinelClient``: the fleet API over gRPC, with sync methods and ``a``-prefixed async twins."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from types import ModuleType, TracebackType
from typing import Any, Self, TypeVar

import grpc
import grpc.aio

from sentinel.fleet._base import BaseClient, UnaryCall
from sentinel.fleet.config import ClientConfig, RetryConfig, TlsConfig
from sentinel.fleet.errors import SentinelError
from sentinel.fleet.types import (
    AuditQueryFilters,
    AuditQueryResponse,
    ChainVerificationResult,
    ConfigAck,
    ConfigUpdate,
    DirectiveResponse,
    FleetHealthSummary,
    GpuHealth,
    GpuHealthState,
    GpuHistoryResponse,
    ListGpusResult,
    QuarantineAction,
    QuarantineDirective,
    TrustGraphSnapshot,
)
from sentinel.v1.fleet_pb2_grpc import FleetServiceStub

__all__ = ["SentinelClient"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")


class SentinelClient:
    """Client of the Sentinel fleet API (``sentinel.v1.FleetService``).

    Create it with ``connect`` for synchronous use or ``await aconnect`` for asyncio;
    a client serves only the methods of its kind (``query_gpu_health`` or
    ``aquery_gpu_health``). Every unary call has a ``default_timeout`` deadline, is
    retried with backoff on the retryable status codes only, and raises
    ``SentinelError`` subclasses.
    """

    def __init__(self, base: BaseClient, channel: Any, *, asynchronous: bool) -> None:
        """Wraps an open channel; use ``connect`` or ``aconnect`` instead."""
        self._base = base
        self._channel = channel
        self._stub = FleetServiceStub(channel)
        self._asynchronous = asynchronous
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._close_signal = asyncio.Event()

    @classmethod
    def connect(
        cls,
        endpoint: str | None = None,
        *,
        tls_config: TlsConfig | None = None,
        retry_config: RetryConfig | None = None,
        default_timeout: float | None = None,
        options: Sequence[tuple[str, Any]] | None = None,
        token: str | None = None,
    ) -> SentinelClient:
        """Creates a synchronous client; the connection is made on the first call.

        Args:
            endpoint: ``host:port`` of the gRPC gateway; default ``SENTINEL_ENDPOINT``.
            tls_config: TLS credentials; default from ``SENTINEL_CA_CERT``,
                ``SENTINEL_CLIENT_CERT`` and ``SENTINEL_CLIENT_KEY``, else insecure.
            retry_config: Retry behaviour; default 3 retries (``SENTINEL_MAX_RETRIES``).
            default_timeout: Per-call deadline in seconds; default ``SENTINEL_TIMEOUT``
                or 30.
            options: Extra gRPC channel options, e.g. keepalive settings.
            token: Bearer token naming the operator; default ``SENTINEL_TOKEN``.

        Raises:
            ValueError: No endpoint is given or set, or a setting is malformed.
        """
        base = BaseClient(
            ClientConfig.from_env(
                endpoint,
                tls_config=tls_config,
                retry_config=retry_config,
                default_timeout=default_timeout,
                options=options,
                token=token,
            )
        )
        return cls._open(base, grpc, asynchronous=False)

    @classmethod
    async def aconnect(
        cls,
        endpoint: str | None = None,
        *,
        tls_config: TlsConfig | None = None,
        retry_config: RetryConfig | None = None,
        default_timeout: float | None = None,
        options: Sequence[tuple[str, Any]] | None = None,
        token: str | None = None,
    ) -> SentinelClient:
        """Creates an asyncio client; same arguments as ``connect``."""
        base = BaseClient(
            ClientConfig.from_env(
                endpoint,
                tls_config=tls_config,
                retry_config=retry_config,
                default_timeout=default_timeout,
                options=options,
                token=token,
            )
        )
        return cls._open(base, grpc.aio, asynchronous=True)

    @classmethod
    def _open(cls, base: BaseClient, channels: ModuleType, *, asynchronous: bool) -> SentinelClient:
        return cls(base, base.channel(channels), asynchronous=asynchronous)

    def _check_kind(self, *, asynchronous: bool) -> None:
        if asynchronous == self._asynchronous:
            return
        if self._asynchronous:
            raise TypeError(
                "this SentinelClient was made with aconnect(); await its a-prefixed methods "
                "(e.g. aquery_gpu_health), or make a client with SentinelClient.connect()"
            )
        raise TypeError(
            "this SentinelClient was made with connect(); call its synchronous methods "
            "(e.g. query_gpu_health), or make a client with await SentinelClient.aconnect()"
        )

    def _check(self, *, asynchronous: bool) -> None:
        self._check_kind(asynchronous=asynchronous)
        if self._closed.is_set():
            raise SentinelError(
                "the client is closed; make a new one with SentinelClient.connect() or aconnect()",
                grpc.StatusCode.CANCELLED,
            )

    # -- synchronous ------------------------------------------------------------------

    def _call(self, call: UnaryCall[_T]) -> _T:
        self._check(asynchronous=False)
        method = getattr(self._stub, call.rpc)
        retrier = self._base.retrier()
        while True:
            try:
                response = method(
                    call.request,
                    timeout=self._base.config.default_timeout,
                    metadata=self._base.metadata,
                )
            except grpc.RpcError as err:
                self._closed.wait(retrier.delay_after(err))
                self._check(asynchronous=False)
            else:
                return call.parse(response)

    def query_gpu_health(self, gpu_uuid: str) -> GpuHealth:
        """Returns one GPU's state, reliability, probe counts and per-SM health.

        Raises:
            NotFoundError: The GPU UUID is unknown.
        """
        return self._call(self._base.query_gpu_health(gpu_uuid))

    def query_fleet_health(
        self,
        hostname_prefix: str = "",
        model_filter: str = "",
        state_filter: Sequence[GpuHealthState] | None = None,
    ) -> FleetHealthSummary:
        """Returns the fleet summary, optionally for some hosts, models or states."""
        return self._call(
            self._base.query_fleet_health(hostname_prefix, model_filter, state_filter)
        )

    def list_gpus(
        self,
        hostname_prefix: str = "",
        model_filter: str = "",
        state_filter: Sequence[GpuHealthState] | None = None,
        limit: int = 100,
        page_token: str = "",
    ) -> ListGpusResult:
        """Returns one page of per-GPU health records matching the filters."""
        return self._call(
            self._base.list_gpus(hostname_prefix, model_filter, state_filter, limit, page_token)
        )

    def get_gpu_history(
        self,
        gpu_uuid: str,
        start_time: datetime,
        end_time: datetime,
        limit: int = 1000,
        page_token: str = "",
    ) -> GpuHistoryResponse:
        """Returns one page of a GPU's transitions, correlations and reliability samples.

        Naive datetimes are taken as UTC.
        """
        return self._call(
            self._base.get_gpu_history(gpu_uuid, start_time, end_time, limit, page_token)
        )

    def issue_quarantine(
        self,
        gpu_uuid: str,
        action: QuarantineAction,
        reason: str,
        initiated_by: str = "sentinel-sdk",
        evidence: Sequence[str] | None = None,
        requires_approval: bool = False,
    ) -> DirectiveResponse:
        """Issues a directive that changes a GPU's lifecycle state."""
        return self._call(
            self._base.issue_quarantine(
                gpu_uuid, action, reason, initiated_by, evidence, requires_approval
            )
        )

    def list_directives(
        self, pending_only: bool = False, gpu_uuid: str = "", limit: int = 100
    ) -> list[QuarantineDirective]:
        """Returns directives, optionally only those awaiting approval or for one GPU."""
        return self._call(self._base.list_directives(pending_only, gpu_uuid, limit))

    def review_directive(
        self, directive_id: str, approve: bool, comment: str = ""
    ) -> DirectiveResponse:
        """Approves or rejects a directive that requires approval, as the token's operator."""
        return self._call(self._base.review_directive(directive_id, approve, comment))

    def query_audit_trail(self, filters: AuditQueryFilters) -> AuditQueryResponse:
        """Returns one page of audit ledger entries matching ``filters``."""
        return self._call(self._base.query_audit_trail(filters))

    def verify_chain(
        self,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        start_entry_id: int = 0,
        end_entry_id: int = 0,
        verify_merkle_roots: bool = True,
    ) -> ChainVerificationResult:
        """Verifies the audit hash chain (0 entry ids: from genesis, through latest)."""
        return self._call(
            self._base.verify_chain(
                start_time, end_time, start_entry_id, end_entry_id, verify_merkle_roots
            )
        )

    def get_trust_graph(self) -> TrustGraphSnapshot:
        """Returns a snapshot of the TMR trust graph."""
        return self._call(self._base.get_trust_graph())

    def update_config(self, update: ConfigUpdate) -> ConfigAck:
        """Pushes a configuration update.

        Raises:
            InvalidArgumentError: The update does not carry exactly one payload.
        """
        return self._call(self._base.update_config(update))

    def stream_events(
        self,
        callback: Callable[[QuarantineDirective], None],
        hostname_filter: str = "",
        action_filter: QuarantineAction = QuarantineAction.UNSPECIFIED,
    ) -> None:
        """Calls ``callback`` with each directive as it is issued, until ``close()``.

        Reconnects with backoff when the stream fails with a retryable code or the
        server ends it.

        Raises:
            SentinelError: A non-retryable failure, or the retries are used up.
        """
        self._check(asynchronous=False)
        request = self._base.stream_request(hostname_filter, action_filter)
        retrier = self._base.retrier()
        while True:
            with self._lock:
                if self._closed.is_set():
                    return
                stream = self._stub.StreamEvents(request, metadata=self._base.metadata)
            failure: grpc.RpcError | None = None
            try:
                for message in stream:
                    retrier.reset()
                    callback(self._base.directive(message))
            except grpc.RpcError as err:
                failure = err
            finally:
                stream.cancel()
            if self._closed.is_set():
                return
            delay = retrier.delay_after(failure) if failure else retrier.delay_after_stream_end()
            logger.info("reconnecting the event stream in %.3fs", delay)
            self._closed.wait(delay)

    def close(self) -> None:
        """Closes the channel; a running ``stream_events`` returns."""
        self._check_kind(asynchronous=False)
        with self._lock:
            self._closed.set()
            self._channel.close()

    def __enter__(self) -> Self:
        self._check(asynchronous=False)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- asynchronous -----------------------------------------------------------------

    async def _wait_closed(self, delay: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._close_signal.wait(), delay)

    async def _acall(self, call: UnaryCall[_T]) -> _T:
        self._check(asynchronous=True)
        method = getattr(self._stub, call.rpc)
        retrier = self._base.retrier()
        while True:
            try:
                response = await method(
                    call.request,
                    timeout=self._base.config.default_timeout,
                    metadata=self._base.metadata,
                )
            except grpc.RpcError as err:
                await self._wait_closed(retrier.delay_after(err))
                self._check(asynchronous=True)
            else:
                return call.parse(response)

    async def aquery_gpu_health(self, gpu_uuid: str) -> GpuHealth:
        """Async ``query_gpu_health``."""
        return await self._acall(self._base.query_gpu_health(gpu_uuid))

    async def aquery_fleet_health(
        self,
        hostname_prefix: str = "",
        model_filter: str = "",
        state_filter: Sequence[GpuHealthState] | None = None,
    ) -> FleetHealthSummary:
        """Async ``query_fleet_health``."""
        return await self._acall(
            self._base.query_fleet_health(hostname_prefix, model_filter, state_filter)
        )

    async def alist_gpus(
        self,
        hostname_prefix: str = "",
        model_filter: str = "",
        state_filter: Sequence[GpuHealthState] | None = None,
        limit: int = 100,
        page_token: str = "",
    ) -> ListGpusResult:
        """Async ``list_gpus``."""
        return await self._acall(
            self._base.list_gpus(hostname_prefix, model_filter, state_filter, limit, page_token)
        )

    async def aget_gpu_history(
        self,
        gpu_uuid: str,
        start_time: datetime,
        end_time: datetime,
        limit: int = 1000,
        page_token: str = "",
    ) -> GpuHistoryResponse:
        """Async ``get_gpu_history``."""
        return await self._acall(
            self._base.get_gpu_history(gpu_uuid, start_time, end_time, limit, page_token)
        )

    async def aissue_quarantine(
        self,
        gpu_uuid: str,
        action: QuarantineAction,
        reason: str,
        initiated_by: str = "sentinel-sdk",
        evidence: Sequence[str] | None = None,
        requires_approval: bool = False,
    ) -> DirectiveResponse:
        """Async ``issue_quarantine``."""
        return await self._acall(
            self._base.issue_quarantine(
                gpu_uuid, action, reason, initiated_by, evidence, requires_approval
            )
        )

    async def alist_directives(
        self, pending_only: bool = False, gpu_uuid: str = "", limit: int = 100
    ) -> list[QuarantineDirective]:
        """Async ``list_directives``."""
        return await self._acall(self._base.list_directives(pending_only, gpu_uuid, limit))

    async def areview_directive(
        self, directive_id: str, approve: bool, comment: str = ""
    ) -> DirectiveResponse:
        """Async ``review_directive``."""
        return await self._acall(self._base.review_directive(directive_id, approve, comment))

    async def aquery_audit_trail(self, filters: AuditQueryFilters) -> AuditQueryResponse:
        """Async ``query_audit_trail``."""
        return await self._acall(self._base.query_audit_trail(filters))

    async def averify_chain(
        self,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        start_entry_id: int = 0,
        end_entry_id: int = 0,
        verify_merkle_roots: bool = True,
    ) -> ChainVerificationResult:
        """Async ``verify_chain``."""
        return await self._acall(
            self._base.verify_chain(
                start_time, end_time, start_entry_id, end_entry_id, verify_merkle_roots
            )
        )

    async def aget_trust_graph(self) -> TrustGraphSnapshot:
        """Async ``get_trust_graph``."""
        return await self._acall(self._base.get_trust_graph())

    async def aupdate_config(self, update: ConfigUpdate) -> ConfigAck:
        """Async ``update_config``."""
        return await self._acall(self._base.update_config(update))

    async def astream_events(
        self,
        callback: Callable[[QuarantineDirective], Awaitable[None] | None],
        hostname_filter: str = "",
        action_filter: QuarantineAction = QuarantineAction.UNSPECIFIED,
    ) -> None:
        """Async ``stream_events``; ``callback`` may be a plain or a coroutine function."""
        self._check(asynchronous=True)
        request = self._base.stream_request(hostname_filter, action_filter)
        retrier = self._base.retrier()
        while not self._closed.is_set():
            stream = self._stub.StreamEvents(request, metadata=self._base.metadata)
            failure: grpc.RpcError | None = None
            try:
                async for message in stream:
                    retrier.reset()
                    result = callback(self._base.directive(message))
                    if inspect.isawaitable(result):
                        await result
            except grpc.RpcError as err:
                failure = err
            except asyncio.CancelledError:
                # grpc.aio raises CancelledError in the reader when aclose() cancels the
                # call; only a cancellation of this task itself must propagate.
                task = asyncio.current_task()
                if not self._closed.is_set() or (task is not None and task.cancelling()):
                    raise
            finally:
                stream.cancel()
            if self._closed.is_set():
                return
            delay = retrier.delay_after(failure) if failure else retrier.delay_after_stream_end()
            logger.info("reconnecting the event stream in %.3fs", delay)
            await self._wait_closed(delay)

    async def aclose(self) -> None:
        """Closes the channel; a running ``astream_events`` returns."""
        self._check_kind(asynchronous=True)
        self._closed.set()
        self._close_signal.set()
        await self._channel.close()

    async def __aenter__(self) -> Self:
        self._check(asynchronous=True)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
