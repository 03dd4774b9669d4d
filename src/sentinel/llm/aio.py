"""The asynchronous client: confluent-kafka's asyncio producer underneath.

``send`` appends the event to the producer's batch and returns without waiting for the
broker; a callback on each delivery future counts the outcome. ``flush`` waits for the
batches and reports failures; ``close`` (or leaving ``async with``) flushes first.

It runs on librdkafka like :class:`~sentinel.llm.SentinelClient`, so both clients share one
configuration (``to_kafka_config``), one partitioner and the idempotent producer. aiokafka
users get their settings from ``SentinelConfig.to_aiokafka_config``; this client does not
use aiokafka because its idempotent producer's ``InitProducerId`` call fails against some
Kafka-protocol brokers (Tansu), and idempotence is not optional here.
"""

from __future__ import annotations

import asyncio
import logging
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

__all__ = ["AsyncSentinelClient"]


def _kafka_aio() -> Any:
    try:
        from confluent_kafka import aio
    except ImportError as exc:
        raise ImportError(
            "AsyncSentinelClient needs confluent-kafka: pip install 'sentinel[kafka]'"
        ) from exc
    return aio


class AsyncSentinelClient:
    """Sends telemetry events to Sentinel through Kafka from asyncio code.

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
        self._producer: Any = None
        self._pending: set[asyncio.Future[Any]] = set()

    @property
    def stats(self) -> DeliveryStats:
        """Events sent, delivered and failed so far."""
        return self._acct.stats()

    async def start(self) -> None:
        """Connect to Kafka.

        Raises:
            ConnectionError: no broker answered within ``request_timeout_ms``.
        """
        if self._producer is not None:
            return
        aio = _kafka_aio()
        conf = {
            **self.config.to_kafka_config(),
            "partitioner": "murmur2_random",
            "logger": logging.getLogger("sentinel.llm.kafka"),
        }
        try:
            producer = aio.AIOProducer(conf)
        except Exception as exc:  # librdkafka rejects a setting
            raise ConnectionError(f"cannot create the Kafka producer: {exc}", exc) from exc
        try:
            await producer.list_topics(timeout=self.config.request_timeout_ms / 1000)
        except Exception as exc:  # KafkaException: no broker answered
            await producer.close()
            raise ConnectionError(
                f"cannot reach Kafka at {','.join(self.config.brokers)}: {exc} "
                "(is the broker up, and the address the one it advertises?)",
                exc,
            ) from exc
        self._producer = producer

    def _done(self, fut: asyncio.Future[Any]) -> None:
        self._pending.discard(fut)
        if fut.cancelled():
            self._acct.on_failed("cancelled before delivery")
            return
        exc = fut.exception()
        if exc is None:
            self._acct.on_delivered()
        else:
            cause = exc if isinstance(exc, Exception) else None
            self._acct.on_failed(f"{type(exc).__name__}: {exc}", cause)

    async def send(self, event: TelemetryEvent, timeout: float | None = None) -> None:
        """Queue ``event`` for delivery and return; ``flush`` waits for Kafka.

        Args:
            event: The event to send.
            timeout: Seconds to wait for room in a full buffer; default: no limit beyond
                ``request_timeout_ms``.

        Raises:
            ValidationError: the event is invalid (the message names the field).
            TimeoutError: there was no room in the buffer within ``timeout``.
            SendError: the client is not started, or Kafka refused the event.
        """
        if self._producer is None:
            raise SendError("the client is not started: await client.start() or use async with")
        key, value = encode(event)
        try:
            queued = self._producer.produce(self.config.topic, value=value, key=key)
            fut = await (queued if timeout is None else asyncio.wait_for(queued, timeout))
        except asyncio.TimeoutError as exc:
            raise TimeoutError(
                f"no room to queue the event within {timeout:g}s", cause=exc
            ) from exc
        except Exception as exc:  # KafkaError: message too large, producer closed
            raise SendError(f"Kafka refused the event: {exc}", failed=1, cause=exc) from exc
        self._acct.on_sent()
        self._pending.add(fut)
        fut.add_done_callback(self._done)

    async def track(
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
        await self.send(
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

    async def flush(self, timeout: float | None = None) -> None:
        """Wait until every sent event is delivered or failed.

        Raises:
            TimeoutError: events still wait for Kafka after ``timeout`` seconds.
            SendError: events failed since the last flush.
        """
        if self._producer is None:
            self._acct.raise_failures()
            return
        await self._producer.flush(0)  # hand the batch being filled to librdkafka
        pending = list(self._pending)
        if pending:
            done, left = await asyncio.wait(pending, timeout=timeout)
            if left:
                raise TimeoutError(
                    f"{len(left)} event(s) still wait for Kafka after {timeout:g}s",
                    pending=len(left),
                )
        self._acct.raise_failures()

    async def close(self) -> None:
        """Flush, then stop the producer; a second call does nothing."""
        if self._producer is None:
            return
        try:
            await self.flush(self.config.delivery_timeout_ms / 1000)
        finally:
            producer, self._producer = self._producer, None
            await producer.close()

    async def __aenter__(self) -> AsyncSentinelClient:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
