"""EngineReporter: sends anomalies to the engine from a background thread.

Modelled on sentry-python's transport: the host program's ``report`` only appends to
a bounded buffer (a full buffer drops and counts, never blocks), a worker thread sends
``AgentService.ReportAnomalies`` batches and retries transient gRPC errors with
jittered backoff, and ``flush``/``close`` wait a bounded time. Each anomaly carries its
own ``report_id``, so a batch resent after a lost acknowledgement is counted once.
"""

from __future__ import annotations

import atexit
import logging
import random
import threading
import time
from collections import deque
from types import TracebackType

import grpc

from sentinel.fleet._base import BaseClient
from sentinel.fleet._bearer import with_token
from sentinel.fleet.config import ClientConfig, RetryConfig, TlsConfig
from sentinel.fleet.monitors._types import Anomaly
from sentinel.v1 import agent_pb2, agent_pb2_grpc

__all__ = ["EngineReporter"]

log = logging.getLogger("sentinel.fleet.monitors")

_RETRY = RetryConfig(max_retries=5, initial_backoff_s=0.5, max_backoff_s=30.0)


def _message(a: Anomaly) -> agent_pb2.AnomalyReport:
    msg = agent_pb2.AnomalyReport(
        report_id=a.report_id,
        gpu_uuid=a.gpu_uuid,
        anomaly_type=a.anomaly_type,  # type: ignore[arg-type]
        source=a.source,  # type: ignore[arg-type]
        severity=a.severity,  # type: ignore[arg-type]
        score=a.score,
        threshold=a.threshold,
        has_sm=a.sm_id is not None,
        sm_id=a.sm_id or 0,
        detail=a.detail,
    )
    msg.timestamp.FromNanoseconds(int(a.timestamp * 1e9))
    return msg


class EngineReporter:
    """An ``AnomalySink`` that delivers anomalies to the engine in the background.

    Counters (read them any time): ``dropped`` (never queued: buffer full or reporter
    closed), ``failed`` (queued, but given up after the retries or at close),
    ``delivered`` (acknowledged: accepted or recognised as duplicates) and ``rejected``
    (refused by the engine, e.g. an unregistered GPU; the reason is logged).

    Args:
        endpoint: ``host:port`` of the gRPC gateway.
        tls_config: TLS credentials; ``None`` opens an insecure channel.
        token: The agent token of the monitored GPUs' host, sent with every call.
        queue_size: Anomalies buffered before new ones are dropped.
        batch_size: Most anomalies per ``ReportAnomalies`` call.
        flush_interval_s: Longest an anomaly waits for a batch to fill.
        retry_config: Retries of UNAVAILABLE, DEADLINE_EXCEEDED and RESOURCE_EXHAUSTED.
        rpc_timeout_s: Deadline of each call.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        tls_config: TlsConfig | None = None,
        token: str | None = None,
        queue_size: int = 10_000,
        batch_size: int = 500,
        flush_interval_s: float = 1.0,
        retry_config: RetryConfig = _RETRY,
        rpc_timeout_s: float = 10.0,
    ) -> None:
        if queue_size < 1 or batch_size < 1:
            raise ValueError(
                f"queue_size and batch_size must be >= 1, got {queue_size} and {batch_size}"
            )
        self._channel = with_token(
            BaseClient(ClientConfig(endpoint, tls_config=tls_config)).channel(), token
        )
        self._stub = agent_pb2_grpc.AgentServiceStub(self._channel)
        self._queue_size = queue_size
        self._batch_size = batch_size
        self._interval = flush_interval_s
        self._retry = retry_config
        self._rpc_timeout = rpc_timeout_s
        self._rng = random.Random()
        self._buffer: deque[Anomaly] = deque()
        self._cond = threading.Condition()
        self._first_at = 0.0
        self._in_flight = 0
        self._flushing = 0
        self._closed = False
        self._stop = threading.Event()
        self.dropped = 0
        self.failed = 0
        self.delivered = 0
        self.rejected = 0
        self._worker = threading.Thread(
            target=self._run, name="sentinel-anomaly-reporter", daemon=True
        )
        self._worker.start()
        atexit.register(self.close)  # deliver what is buffered when the program ends

    def report(self, anomaly: Anomaly) -> None:
        """Queue ``anomaly`` for sending; drops and counts it when the buffer is full."""
        with self._cond:
            if self._closed or len(self._buffer) >= self._queue_size:
                self.dropped += 1
                return
            self._buffer.append(anomaly)
            n = len(self._buffer)
            if n == 1:
                self._first_at = time.monotonic()
            if n == 1 or n == self._batch_size:  # start the wait, or end it early
                self._cond.notify_all()

    def flush(self, timeout: float = 5.0) -> bool:
        """Send what is buffered now, waiting at most ``timeout`` seconds.

        Returns:
            True when everything reported before the call was acknowledged by the
            engine; False on timeout or when some of it was given up.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            failed = self.failed
            self._flushing += 1
            self._cond.notify_all()
            try:
                while self._buffer or self._in_flight:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._cond.wait(remaining)
                return self.failed == failed
            finally:
                self._flushing -= 1

    def close(self, timeout: float = 5.0) -> None:
        """Flush for up to ``timeout`` seconds, then stop; what is left counts as failed."""
        atexit.unregister(self.close)
        self.flush(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._stop.set()
        self._channel.close()  # cancels a call in progress, so the join is short
        self._worker.join(timeout)

    def __enter__(self) -> EngineReporter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _next_batch(self) -> list[Anomaly] | None:
        with self._cond:
            while True:
                if self._closed:
                    self.failed += len(self._buffer)
                    self._buffer.clear()
                    self._cond.notify_all()
                    return None
                if self._buffer:
                    waited = time.monotonic() - self._first_at
                    full = len(self._buffer) >= self._batch_size
                    if full or self._flushing or waited >= self._interval:
                        break
                    self._cond.wait(self._interval - waited)
                else:
                    self._cond.wait()
            n = min(len(self._buffer), self._batch_size)
            batch = [self._buffer.popleft() for _ in range(n)]
            self._first_at = time.monotonic()
            self._in_flight = n
            return batch

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            ack = self._send(batch)
            with self._cond:
                if ack is None:
                    self.failed += len(batch)
                else:
                    self.delivered += ack.accepted + ack.duplicates
                    self.rejected += len(ack.rejected)
                self._in_flight = 0
                self._cond.notify_all()
            if ack is not None and ack.rejected:
                log.warning("the engine refused %d anomalies: %s", len(ack.rejected), ack.rejected)

    def _send(self, batch: list[Anomaly]) -> agent_pb2.ReportAck | None:
        request = agent_pb2.AnomalyReportBatch(reports=[_message(a) for a in batch])
        attempt = 0
        while True:
            try:
                return self._stub.ReportAnomalies(request, timeout=self._rpc_timeout)
            except grpc.RpcError as err:
                code = err.code()
                retry = code in self._retry.retryable_status_codes
                if not retry or attempt == self._retry.max_retries or self._stop.is_set():
                    log.warning(
                        "giving up on %d anomalies after %d attempt(s): %s %s",
                        len(batch),
                        attempt + 1,
                        code.name,
                        err.details(),
                    )
                    return None
                if self._stop.wait(self._retry.backoff(attempt, self._rng)):
                    return None
                attempt += 1
