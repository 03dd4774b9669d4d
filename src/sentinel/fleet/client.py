"""``SentinelClient``: the fleet API over gRPC, with sync methods and ``a``-prefixed async twins."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

import grpc
import grpc.aio

from sentinel.fleet._base import BaseClient, UnaryCall
from sentinel.fleet.config import SDK_LOGGER, ClientConfig, RetryConfig, TlsConfig
from sentinel.fleet.errors import SentinelError
from sentinel.fleet.types import (
    AuditQueryFilters,
    AuditQueryResponse,
    ChainVerificationResult,
    ConfigAck,
    ConfigAckList,
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

logger = logging.getLogger(SDK_LOGGER)

_T = TypeVar("_T")


@dataclass(frozen=True)
class _AioChannel:
    """A ``grpc.aio`` channel and its stub; such a channel serves only the loop it was
    opened in."""

    channel: Any
    stub: FleetServiceStub
    loop: asyncio.AbstractEventLoop


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class SentinelClient:
    """Client of the Sentinel fleet API (``sentinel.v1.FleetService``).

    ``connect`` and ``await aconnect`` make the same client: both serve the synchronous
    methods (``query_gpu_health``, also from ``asyncio.to_thread``) and their awaitable
    ``a``-prefixed twins, each over a channel of its kind opened on first use. An
    asyncio channel belongs to the event loop that opened it; use one client per loop.
    Every unary call has a ``default_timeout`` deadline, is retried with backoff on the
    retryable status codes only, and raises ``SentinelError`` subclasses.
    """

    def __init__(self, base: BaseClient) -> None:
        """Wraps the shared client core; use ``connect`` or ``aconnect`` instead."""
        self._base = base
        self._lock = threading.RLock()
        self._closed = threading.Event()
        self._sync: tuple[Any, FleetServiceStub] | None = None
        self._aio: _AioChannel | None = None
        self._sleepers: set[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = set()
        self._closing: set[asyncio.Future[None]] = set()

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
        """Creates a client and its synchronous channel; the connection is made on the
        first call.

        Args:
            endpoint: ``host:port`` of the gRPC gateway; default ``SENTINEL_ENDPOINT``.
                Without a port, 50051 (insecure) or 443 (TLS).
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
        client = cls._configured(
            endpoint, tls_config, retry_config, default_timeout, options, token
        )
        client._sync_stub()
        return client

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
        """Creates a client and its asyncio channel in the running loop; same arguments
        as ``connect``."""
        client = cls._configured(
            endpoint, tls_config, retry_config, default_timeout, options, token
        )
        client._aio_stub()
        return client

    @classmethod
    def _configured(
        cls,
        endpoint: str | None,
        tls_config: TlsConfig | None,
        retry_config: RetryConfig | None,
        default_timeout: float | None,
        options: Sequence[tuple[str, Any]] | None,
        token: str | None,
    ) -> SentinelClient:
        """A client whose settings are the arguments, ``SENTINEL_*`` where they are unset."""
        return cls(
            BaseClient(
                ClientConfig.from_env(
                    endpoint,
                    tls_config=tls_config,
                    retry_config=retry_config,
                    default_timeout=default_timeout,
                    options=options,
                    token=token,
                )
            )
        )

    def _check_open(self) -> None:
        if self._closed.is_set():
            raise SentinelError(
                "the client is closed; make a new one with SentinelClient.connect() or aconnect()",
                grpc.StatusCode.CANCELLED,
            )

    def _sync_stub(self) -> FleetServiceStub:
        with self._lock:
            self._check_open()
            if self._sync is None:
                channel = self._base.channel(grpc)
                self._sync = (channel, FleetServiceStub(channel))
            return self._sync[1]

    def _aio_stub(self) -> FleetServiceStub:
        loop = asyncio.get_running_loop()
        with self._lock:
            self._check_open()
            aio = self._aio
            if aio is not None and aio.loop is not loop:
                if not aio.loop.is_closed():
                    raise RuntimeError(
                        "this SentinelClient's asyncio channel belongs to another event loop "
                        "that is still open; make one client per event loop "
                        "(await SentinelClient.aconnect() inside this one)"
                    )
                aio = None  # its loop is gone, and the channel with it
            if aio is None:
                channel = self._base.channel(grpc.aio)
                aio = self._aio = _AioChannel(channel, FleetServiceStub(channel), loop)
            return aio.stub

    def _detach(self) -> tuple[Any, _AioChannel | None]:
        """Marks the client closed and hands over its channels and sleepers to close."""
        with self._lock:
            self._closed.set()
            sync, self._sync = self._sync, None
            aio, self._aio = self._aio, None
            sleepers, self._sleepers = self._sleepers, set()
        for loop, future in sleepers:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(_wake, future)
        if sync is not None:
            sync[0].close()
        return sync, aio

    def _close_elsewhere(self, aio: _AioChannel) -> None:
        """Closes an asyncio channel from outside a coroutine of its loop."""
        if aio.loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is aio.loop:
            task = running.create_task(aio.channel.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        elif aio.loop.is_running():
            asyncio.run_coroutine_threadsafe(aio.channel.close(), aio.loop)
        else:
            aio.loop.run_until_complete(aio.channel.close())

    # -- synchronous ------------------------------------------------------------------

    def _call(self, call: UnaryCall[_T]) -> _T:
        retrier = self._base.retrier()
        while True:
            method = getattr(self._sync_stub(), call.rpc)
            try:
                response = method(
                    call.request,
                    timeout=self._base.config.default_timeout,
                    metadata=self._base.metadata,
                )
            except grpc.RpcError as err:
                self._closed.wait(retrier.delay_after(err))
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

    def list_config_acks(self, update_id: str = "") -> ConfigAckList:
        """Returns each agent's acknowledgement of an update (empty: the current config).

        ``update_config`` answers for the engine as soon as it stored the update; this
        says which agents have applied it, refused it (with their error) or not yet.

        Raises:
            NotFoundError: No update has ``update_id``.
        """
        return self._call(self._base.list_config_acks(update_id))

    def stream_events(
        self,
        callback: Callable[[QuarantineDirective], None],
        hostname_filter: str = "",
        action_filter: QuarantineAction = QuarantineAction.UNSPECIFIED,
        *,
        reconnect: bool = False,
    ) -> None:
        """Calls ``callback`` with each directive as it is issued.

        Blocks until ``close()``, until the server ends the stream, or until a
        non-retryable error. Transient failures (the retryable status codes) reopen the
        stream with backoff.

        Args:
            callback: Called with each directive, in the order they were issued.
            hostname_filter: Only directives for this host; empty for all.
            action_filter: Only directives with this action; ``UNSPECIFIED`` for all.
            reconnect: Also reopen the stream when the server ends it (a gateway
                restart), instead of returning; ``max_retries`` ends in a row without a
                directive raise ``ConnectionError``.

        Raises:
            SentinelError: A non-retryable failure, or the retries are used up.
        """
        request = self._base.stream_request(hostname_filter, action_filter)
        retrier = self._base.retrier()
        self._sync_stub()
        while True:
            with self._lock:
                if self._closed.is_set():
                    return
                stream = self._sync_stub().StreamEvents(request, metadata=self._base.metadata)
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
            if failure is None and not reconnect:
                return
            delay = retrier.delay_after(failure) if failure else retrier.delay_after_stream_end()
            logger.info("reconnecting the event stream in %.3fs", delay)
            self._closed.wait(delay)

    def close(self) -> None:
        """Closes the client's channels; a running ``stream_events`` returns."""
        _, aio = self._detach()
        if aio is not None:
            self._close_elsewhere(aio)

    def __enter__(self) -> SentinelClient:
        self._check_open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- asynchronous -----------------------------------------------------------------

    async def _sleep_unless_closed(self, delay: float) -> None:
        loop = asyncio.get_running_loop()
        sleeper = (loop, loop.create_future())
        with self._lock:
            if self._closed.is_set():
                return
            self._sleepers.add(sleeper)
        try:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(sleeper[1], delay)
        finally:
            with self._lock:
                self._sleepers.discard(sleeper)

    async def _acall(self, call: UnaryCall[_T]) -> _T:
        retrier = self._base.retrier()
        while True:
            method = getattr(self._aio_stub(), call.rpc)
            try:
                response = await method(
                    call.request,
                    timeout=self._base.config.default_timeout,
                    metadata=self._base.metadata,
                )
            except grpc.RpcError as err:
                await self._sleep_unless_closed(retrier.delay_after(err))
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

    async def alist_config_acks(self, update_id: str = "") -> ConfigAckList:
        """Async ``list_config_acks``."""
        return await self._acall(self._base.list_config_acks(update_id))

    async def astream_events(
        self,
        callback: Callable[[QuarantineDirective], Awaitable[None] | None],
        hostname_filter: str = "",
        action_filter: QuarantineAction = QuarantineAction.UNSPECIFIED,
        *,
        reconnect: bool = False,
    ) -> None:
        """Async ``stream_events``; ``callback`` may be a plain or a coroutine function."""
        request = self._base.stream_request(hostname_filter, action_filter)
        retrier = self._base.retrier()
        self._aio_stub()
        while not self._closed.is_set():
            stream = self._aio_stub().StreamEvents(request, metadata=self._base.metadata)
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
                # grpc.aio raises CancelledError in the reader when closing the client
                # cancels the call; a cancellation of this task itself must propagate
                # (Task.cancelling tells them apart from Python 3.11 on).
                cancelling = getattr(asyncio.current_task(), "cancelling", None)
                if not self._closed.is_set() or (cancelling is not None and cancelling()):
                    raise
            finally:
                stream.cancel()
            if self._closed.is_set():
                return
            if failure is None and not reconnect:
                return
            delay = retrier.delay_after(failure) if failure else retrier.delay_after_stream_end()
            logger.info("reconnecting the event stream in %.3fs", delay)
            await self._sleep_unless_closed(delay)

    async def aclose(self) -> None:
        """Closes the client's channels; a running ``astream_events`` returns."""
        _, aio = self._detach()
        if aio is None:
            return
        if aio.loop is asyncio.get_running_loop():
            await aio.channel.close()
        else:
            self._close_elsewhere(aio)

    async def __aenter__(self) -> SentinelClient:
        self._check_open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
