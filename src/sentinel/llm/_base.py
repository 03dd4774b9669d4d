"""What the sync and async clients share, without I/O: configuration, encoding, accounting.

Delivery outcomes arrive on the Kafka client's own schedule; they are counted here under a
lock, failures are kept (the first few with their error) until ``flush`` reports them, and
an ``on_error`` callback hears of each one as it happens. Nothing fails silently.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any

from sentinel.llm.config import SentinelConfig
from sentinel.llm.errors import ConfigurationError, SendError
from sentinel.llm.events import PromptInfo, ResponseInfo, TelemetryEvent, validate_event

log = logging.getLogger("sentinel.llm")

ErrorCallback = Callable[[SendError], None]
"""Called with a :class:`SendError` for every event Kafka did not take (from the client's
delivery thread or task: keep it short and let it not raise)."""

_KEPT_ERRORS = 5
_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)


@dataclass(frozen=True)
class DeliveryStats:
    """What a client has done so far."""

    sent: int
    """Events handed to the Kafka client."""
    delivered: int
    """Events Kafka acknowledged."""
    failed: int
    """Events Kafka did not take (reported through ``flush`` and ``on_error``)."""

    @property
    def pending(self) -> int:
        """Events sent but neither delivered nor failed yet."""
        return self.sent - self.delivered - self.failed


def resolve_config(
    brokers: list[str] | None, config: SentinelConfig | None, options: dict[str, Any]
) -> SentinelConfig:
    """The configuration a client runs with: ``config``, else ``SENTINEL_*`` variables, with
    ``brokers`` and keyword options on top."""
    known = {f.name for f in fields(SentinelConfig)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigurationError(
            f"unknown option(s) {', '.join(unknown)}: choose from SentinelConfig's fields"
        )
    if brokers is not None:
        options = {**options, "brokers": list(brokers)}
    if config is None:
        return SentinelConfig.from_env(**options)
    return replace(config, **options) if options else config


def message_key(event: TelemetryEvent) -> bytes:
    """The Kafka key: one (service, model) pair always lands on one partition, in order."""
    return json.dumps([event.service_name, event.model], separators=(",", ":")).encode()


def encode(event: TelemetryEvent) -> tuple[bytes, bytes]:
    """``(key, value)`` of ``event`` after validation (``ValidationError`` names the field)."""
    validate_event(event)
    value = _JSON.encode(event.to_dict()).encode()
    return message_key(event), value


def tracked_event(
    service: str,
    model: str,
    prompt: str,
    response: str,
    latency_ms: float,
    prompt_tokens: int,
    completion_tokens: int,
    cost_usd: float,
    finish_reason: str,
    trace_id: str | None,
    span_id: str | None,
    metadata: dict[str, str] | None,
    errors: list[str] | None,
    prompt_embedding: list[float] | None,
    response_embedding: list[float] | None,
) -> TelemetryEvent:
    """The event ``track`` sends."""
    return TelemetryEvent(
        service_name=service,
        model=model,
        prompt=PromptInfo(prompt, prompt_tokens, prompt_embedding),
        response=ResponseInfo(response, completion_tokens, finish_reason, response_embedding),
        latency_ms=latency_ms,
        cost_usd=cost_usd,
        trace_id=trace_id,
        span_id=span_id,
        metadata=dict(metadata or {}),
        errors=list(errors or []),
    )


class Accounting:
    """Counts of sent, delivered and failed events, and the failures ``flush`` reports."""

    def __init__(self, on_error: ErrorCallback | None) -> None:
        self._lock = threading.Lock()
        self._on_error = on_error
        self.sent = 0
        self.delivered = 0
        self.failed = 0
        self._unreported = 0
        self._errors: list[str] = []

    def stats(self) -> DeliveryStats:
        with self._lock:
            return DeliveryStats(self.sent, self.delivered, self.failed)

    def on_sent(self) -> None:
        with self._lock:
            self.sent += 1

    def on_delivered(self) -> None:
        with self._lock:
            self.delivered += 1

    def on_failed(self, reason: str, cause: Exception | None = None) -> None:
        with self._lock:
            self.failed += 1
            self._unreported += 1
            if len(self._errors) < _KEPT_ERRORS:
                self._errors.append(reason)
        error = SendError(f"an event was not delivered: {reason}", failed=1, cause=cause)
        if self._on_error is None:
            log.error("%s", error.message)
            return
        try:
            self._on_error(error)
        except Exception:  # a broken callback must not stop delivery accounting
            log.exception("the on_error callback raised")

    def raise_failures(self) -> None:
        """Raise one ``SendError`` for the failures since the last call, if any."""
        with self._lock:
            count, errors = self._unreported, self._errors
            self._unreported, self._errors = 0, []
        if count:
            raise SendError(
                f"{count} event(s) were not delivered to Kafka: {'; '.join(errors)}", failed=count
            )
