"""The synchronous client: confluent-kafka (librdkafka) underneath.

``send`` hands the event to librdkafka's queue and returns; a background thread of
librdkafka batches, compresses and delivers, retrying through broker restarts until
``delivery_timeout_ms``. ``flush`` waits and reports every failure; open clients are
flushed at interpreter exit, so a short script loses nothing.
"""

from __future__ import annotations

import atexit
import logging
import time
import weakref
from types import TracebackType
from typing import Any

from sentinel.llm._base import (
    Accounting,
    DeliveryStats,
    ErrorCallback,
    encode,
    resolve_config,
    tracked_event,
)
from sentinel.llm.config import SentinelConfig
from sentinel.llm.errors import ConnectionError, SendError, TimeoutError
from sentinel.llm.events import TelemetryEvent

__all__ = ["SentinelClient"]

log = logging.getLogger("sentinel.llm")
_OPEN: weakref.WeakSet[SentinelClient] = weakref.WeakSet()
_POLL_EVERY = 100


def _producer_class() -> Any:
    try:
        from confluent_kafka import Producer
    except ImportError as exc:
        raise ImportError(
            "SentinelClient needs confluent-kafka: pip install 'sentinel[kafka]'"
        ) from exc
    return Producer


class SentinelClient:
    """Sends telemetry events to Sentinel through Kafka without blocking the application.

    Args:
        brokers: Kafka bootstrap servers; default: ``config``'s, else ``SENTINEL_BROKERS``.
        config: The configuration; default: :meth:`SentinelConfig.from_env`.
        on_error: Called with a ``SendError`` for each event Kafka did not take.
        **kwargs: :class:`SentinelConfig` fields overriding ``config``.
    """

    def __init__(
        self,
        brokers: list[str] | None = None,
        config: SentinelConfig | None = None,
        *,
        on_error: ErrorCallback | None = None,
        **kwargs: Any,
    ) -> None:
        self.config = resolve_config(brokers, config, kwargs)
        self._acct = Accounting(on_error)
        producer = _producer_class()
        conf = {
            **self.config.to_kafka_config(),
            "partitioner": "murmur2_random",  # the Java client's (and aiokafka's) partitioning
            # Only failures come back as callbacks: a Python call per acknowledged event
            # would cost more than producing it. Delivered = sent - failed - still queued.
            "delivery.report.only.error": True,
            "error_cb": self._on_client_error,
            "logger": logging.getLogger("sentinel.llm.kafka"),
        }
        try:
            self._producer = producer(conf)
        except Exception as exc:  # librdkafka rejects a setting
            raise ConnectionError(f"cannot create the Kafka producer: {exc}", exc) from exc
        self.last_error = ""
        """The latest client-level error librdkafka reported (brokers down...)."""
        self._closed = False
        self._since_poll = 0
        _OPEN.add(self)

    @property
    def stats(self) -> DeliveryStats:
        """Events sent, delivered and failed so far."""
        self._producer.poll(0)
        counted = self._acct.stats()
        queued = len(self._producer)
        return DeliveryStats(counted.sent, counted.sent - counted.failed - queued, counted.failed)

    def _on_client_error(self, err: Any) -> None:
        self.last_error = str(err)
        log.warning("Kafka client error (events stay queued and are retried): %s", err)

    def _on_delivery(self, err: Any, _msg: Any) -> None:
        if err is not None:
            self._acct.on_failed(str(err))

    def send(self, event: TelemetryEvent, timeout: float | None = None) -> None:
        """Queue ``event`` for delivery and return; ``flush`` waits for Kafka.

        Args:
            event: The event to send.
            timeout: Seconds to wait for room when the local buffer is full (Kafka slow or
                away); default: ``request_timeout_ms``.

        Raises:
            ValidationError: the event is invalid (the message names the field).
            TimeoutError: the buffer stayed full for ``timeout`` seconds.
            SendError: the client is closed or the event is larger than Kafka accepts.
        """
        if self._closed:
            raise SendError("the client is closed: create a new SentinelClient")
        key, value = encode(event)
        wait = self.config.request_timeout_ms / 1000 if timeout is None else timeout
        deadline = time.monotonic() + wait
        while True:
            try:
                self._producer.produce(self.config.topic, value, key, on_delivery=self._on_delivery)
                break
            except BufferError as exc:
                if time.monotonic() >= deadline:
                    raise TimeoutError(
                        f"the send buffer ({self.config.buffer_memory:,} bytes) stayed full "
                        f"for {wait:g}s: Kafka at {','.join(self.config.brokers)} is not "
                        "taking events fast enough",
                        pending=len(self._producer),
                        cause=exc,
                    ) from exc
                self._producer.poll(0.05)
            except Exception as exc:  # KafkaException: message too large, bad topic
                raise SendError(f"Kafka refused the event: {exc}", failed=1, cause=exc) from exc
        self._acct.on_sent()
        self._since_poll += 1
        if self._since_poll >= _POLL_EVERY:  # serve failure callbacks without a call per event
            self._since_poll = 0
            self._producer.poll(0)

    def track(
        self,
        service: str,
        model: str,
        prompt: str,
        response: str,
        latency_ms: float,
        prompt_tokens: int,
        completion_tokens: int,
        cost_usd: float,
        finish_reason: str = "stop",
        trace_id: str | None = None,
        span_id: str | None = None,
        metadata: dict[str, str] | None = None,
        errors: list[str] | None = None,
        prompt_embedding: list[float] | None = None,
        response_embedding: list[float] | None = None,
        timeout: float | None = None,
    ) -> None:
        """Build an event for one LLM request and :meth:`send` it."""
        self.send(
            tracked_event(
                service,
                model,
                prompt,
                response,
                latency_ms,
                prompt_tokens,
                completion_tokens,
                cost_usd,
                finish_reason,
                trace_id,
                span_id,
                metadata,
                errors,
                prompt_embedding,
                response_embedding,
            ),
            timeout,
        )

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every queued event is delivered or failed.

        Args:
            timeout: Seconds to wait; default: ``delivery_timeout_ms`` (when every event
                has an outcome).

        Raises:
            TimeoutError: events are still queued (Kafka away); they stay queued.
            SendError: events failed since the last flush (counted in ``failed``).
        """
        wait = self.config.delivery_timeout_ms / 1000 + 1 if timeout is None else timeout
        remaining = self._producer.flush(wait)
        if remaining:
            raise TimeoutError(
                f"{remaining} event(s) still wait for Kafka at {','.join(self.config.brokers)} "
                f"after {wait:g}s ({self.last_error or 'no error reported yet'}); they stay "
                f"queued and are retried for up to {self.config.delivery_timeout_ms} ms",
                pending=remaining,
            )
        self._acct.raise_failures()

    def close(self) -> None:
        """Flush, then release the client; a second call does nothing."""
        if self._closed:
            return
        try:
            self.flush()
        finally:
            self._closed = True
            _OPEN.discard(self)

    def __enter__(self) -> SentinelClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@atexit.register
def _flush_open_clients() -> None:
    """A script that never called ``close`` still delivers what it sent."""
    for client in list(_OPEN):
        try:
            client.close()
        except Exception as exc:  # at exit there is no caller left to raise to
            log.error("events were lost at exit: %s", exc)
