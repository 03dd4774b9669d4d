"""Telemetry events: one LLM request's prompt, response, latency, cost and context.

Events are plain dataclasses so applications build them without the SDK's transport;
``to_dict``/``from_dict`` is the wire format on Kafka and the HTTP ingest, and
``validate_event`` is the one check both the SDK and the server apply.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from uuid import UUID, uuid4

from sentinel.llm.errors import ValidationError

__all__ = [
    "PromptInfo",
    "ResponseInfo",
    "TelemetryEvent",
    "TelemetryEventBuilder",
    "validate_event",
]

MAX_NAME = 255
MAX_TEXT = 1_000_000
MAX_EMBEDDING = 16_384
MAX_METADATA = 64


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class PromptInfo:
    """What was asked: the prompt's text, its token count and optionally its embedding."""

    text: str
    tokens: int
    embedding: list[float] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The prompt as JSON-ready data."""
        return {"text": self.text, "tokens": self.tokens, "embedding": self.embedding}


@dataclass
class ResponseInfo:
    """What came back: text, token count, why generation stopped, optional embedding."""

    text: str
    tokens: int
    finish_reason: str
    embedding: list[float] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The response as JSON-ready data."""
        return {
            "text": self.text,
            "tokens": self.tokens,
            "finish_reason": self.finish_reason,
            "embedding": self.embedding,
        }


@dataclass
class TelemetryEvent:
    """One LLM request as the detector service sees it.

    ``timestamp`` is event time: windows and baselines run on it, so a replay of recorded
    events finds the same anomalies at the same times. A naive timestamp is taken as UTC.
    ``metadata["gpu_uuid"]`` names the GPU that served the request (output drift on one GPU
    alone is reported to the fleet); ``metadata["context"]`` carries retrieved documents,
    against which the RAG check measures how grounded the response is.
    """

    service_name: str
    model: str
    prompt: PromptInfo
    response: ResponseInfo
    latency_ms: float
    cost_usd: float
    event_id: UUID = field(default_factory=uuid4)
    timestamp: datetime = field(default_factory=_now)
    trace_id: str | None = None
    span_id: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def has_errors(self) -> bool:
        """Whether the request failed (any error recorded)."""
        return bool(self.errors)

    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt.tokens + self.response.tokens

    def error_rate(self) -> float:
        """1.0 for a failed request, 0.0 otherwise (averages into a rate over a window)."""
        return 1.0 if self.errors else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The event as JSON-ready data (UUID and timestamp as strings)."""
        ts = (
            self.timestamp if self.timestamp.tzinfo else self.timestamp.replace(tzinfo=timezone.utc)
        )
        return {
            "event_id": str(self.event_id),
            "timestamp": ts.isoformat(),
            "service_name": self.service_name,
            "model": self.model,
            "prompt": self.prompt.to_dict(),
            "response": self.response.to_dict(),
            "latency_ms": self.latency_ms,
            "cost_usd": self.cost_usd,
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "metadata": dict(self.metadata),
            "errors": list(self.errors),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TelemetryEvent:
        """The event ``to_dict`` produced, checked.

        Raises:
            ValidationError: a field is missing or invalid; ``field`` names it.
        """
        if not isinstance(data, dict):
            raise ValidationError(f"expected a JSON object, got {type(data).__name__}", "event")
        prompt = _section(data, "prompt")
        response = _section(data, "response")
        event = cls(
            service_name=_required(data, "service_name"),
            model=_required(data, "model"),
            prompt=PromptInfo(
                text=_required(prompt, "text", "prompt."),
                tokens=_required(prompt, "tokens", "prompt."),
                embedding=prompt.get("embedding"),
            ),
            response=ResponseInfo(
                text=_required(response, "text", "response."),
                tokens=_required(response, "tokens", "response."),
                finish_reason=response.get("finish_reason", "stop"),
                embedding=response.get("embedding"),
            ),
            latency_ms=_required(data, "latency_ms"),
            cost_usd=data.get("cost_usd", 0.0),
            event_id=_uuid(data.get("event_id")),
            timestamp=_timestamp(data.get("timestamp")),
            trace_id=data.get("trace_id"),
            span_id=data.get("span_id"),
            metadata=data.get("metadata") or {},
            errors=data.get("errors") or [],
        )
        validate_event(event)
        return event


def _section(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name)
    if not isinstance(value, dict):
        raise ValidationError("is required and must be an object", name)
    return value


def _required(data: dict[str, Any], name: str, prefix: str = "") -> Any:
    if name not in data or data[name] is None:
        raise ValidationError("is required", prefix + name)
    return data[name]


def _uuid(raw: Any) -> UUID:
    if raw is None:
        return uuid4()
    if isinstance(raw, UUID):
        return raw
    try:
        return UUID(str(raw))
    except ValueError:
        raise ValidationError(f"must be a UUID, got {str(raw)[:64]!r}", "event_id") from None


def _timestamp(raw: Any) -> datetime:
    if raw is None:
        return _now()
    if isinstance(raw, datetime):
        ts = raw
    elif isinstance(raw, str):
        try:
            ts = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(
                f"must be an ISO 8601 time, got {raw[:64]!r}", "timestamp"
            ) from None
    elif isinstance(raw, (int, float)) and not isinstance(raw, bool) and math.isfinite(raw):
        try:
            ts = datetime.fromtimestamp(raw, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise ValidationError(f"{raw!r} is out of range", "timestamp") from None
    else:
        raise ValidationError("must be an ISO 8601 time or Unix seconds", "timestamp")
    return ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)


def _name(value: Any, name: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("must be a non-empty string", name)
    if len(value) > MAX_NAME:
        raise ValidationError(f"must be at most {MAX_NAME} characters", name)


def _count(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(f"must be a non-negative integer, got {value!r}", name)


def _amount(value: Any, name: str) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value < 0:
        raise ValidationError(f"must be a finite number >= 0, got {value!r}", name)


def _text(value: Any, name: str) -> None:
    if not isinstance(value, str):
        raise ValidationError(f"must be a string, got {type(value).__name__}", name)
    if len(value) > MAX_TEXT:
        raise ValidationError(f"must be at most {MAX_TEXT:,} characters", name)


def _embedding(value: Any, name: str) -> None:
    if value is None:
        return
    if not isinstance(value, list) or not value or len(value) > MAX_EMBEDDING:
        raise ValidationError(f"must be a list of 1 to {MAX_EMBEDDING} numbers or null", name)
    for x in value:
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
            raise ValidationError(f"must hold finite numbers only, found {x!r}", name)


def validate_event(event: TelemetryEvent) -> None:
    """Check every field of ``event``.

    Raises:
        ValidationError: the first invalid field, named (``response.tokens``).
    """
    _name(event.service_name, "service_name")
    _name(event.model, "model")
    if not isinstance(event.prompt, PromptInfo):
        raise ValidationError("must be a PromptInfo", "prompt")
    if not isinstance(event.response, ResponseInfo):
        raise ValidationError("must be a ResponseInfo", "response")
    _text(event.prompt.text, "prompt.text")
    _count(event.prompt.tokens, "prompt.tokens")
    _embedding(event.prompt.embedding, "prompt.embedding")
    _text(event.response.text, "response.text")
    _count(event.response.tokens, "response.tokens")
    _embedding(event.response.embedding, "response.embedding")
    if not isinstance(event.response.finish_reason, str) or len(event.response.finish_reason) > 64:
        raise ValidationError("must be a string of at most 64 characters", "response.finish_reason")
    _amount(event.latency_ms, "latency_ms")
    _amount(event.cost_usd, "cost_usd")
    if not isinstance(event.event_id, UUID):
        raise ValidationError("must be a UUID", "event_id")
    if not isinstance(event.timestamp, datetime):
        raise ValidationError("must be a datetime", "timestamp")
    for name in ("trace_id", "span_id"):
        value = getattr(event, name)
        if value is not None and (not isinstance(value, str) or len(value) > 64):
            raise ValidationError("must be a string of at most 64 characters or null", name)
    meta = event.metadata
    if not isinstance(meta, dict) or len(meta) > MAX_METADATA:
        raise ValidationError(f"must be an object of at most {MAX_METADATA} entries", "metadata")
    for key, value in meta.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ValidationError(f"keys and values must be strings (at {key!r})", "metadata")
    if not isinstance(event.errors, list) or not all(isinstance(e, str) for e in event.errors):
        raise ValidationError("must be a list of strings", "errors")


class TelemetryEventBuilder:
    """Fluent construction of a :class:`TelemetryEvent`; every setter returns the builder."""

    def __init__(self) -> None:
        self._fields: dict[str, Any] = {"metadata": {}, "errors": []}

    def _set(self, name: str, value: Any) -> TelemetryEventBuilder:
        self._fields[name] = value
        return self

    def event_id(self, event_id: UUID) -> TelemetryEventBuilder:
        return self._set("event_id", event_id)

    def timestamp(self, timestamp: datetime) -> TelemetryEventBuilder:
        return self._set("timestamp", timestamp)

    def service(self, service_name: str) -> TelemetryEventBuilder:
        return self._set("service_name", service_name)

    def model(self, model: str) -> TelemetryEventBuilder:
        return self._set("model", model)

    def trace_id(self, trace_id: str) -> TelemetryEventBuilder:
        return self._set("trace_id", trace_id)

    def span_id(self, span_id: str) -> TelemetryEventBuilder:
        return self._set("span_id", span_id)

    def prompt(
        self, text: str, tokens: int, embedding: list[float] | None = None
    ) -> TelemetryEventBuilder:
        return self._set("prompt", PromptInfo(text, tokens, embedding))

    def prompt_info(self, prompt: PromptInfo) -> TelemetryEventBuilder:
        return self._set("prompt", prompt)

    def response(
        self, text: str, tokens: int, finish_reason: str, embedding: list[float] | None = None
    ) -> TelemetryEventBuilder:
        return self._set("response", ResponseInfo(text, tokens, finish_reason, embedding))

    def response_info(self, response: ResponseInfo) -> TelemetryEventBuilder:
        return self._set("response", response)

    def latency(self, latency_ms: float) -> TelemetryEventBuilder:
        return self._set("latency_ms", latency_ms)

    def cost(self, cost_usd: float) -> TelemetryEventBuilder:
        return self._set("cost_usd", cost_usd)

    def metadata(self, metadata: dict[str, str]) -> TelemetryEventBuilder:
        return self._set("metadata", dict(metadata))

    def add_metadata(self, key: str, value: str) -> TelemetryEventBuilder:
        self._fields["metadata"][key] = value
        return self

    def errors(self, errors: list[str]) -> TelemetryEventBuilder:
        return self._set("errors", list(errors))

    def add_error(self, error: str) -> TelemetryEventBuilder:
        self._fields["errors"].append(error)
        return self

    def build(self) -> TelemetryEvent:
        """The event, validated.

        Raises:
            ValidationError: a required field was not set or a value is invalid.
        """
        for name in ("service_name", "model", "prompt", "response", "latency_ms", "cost_usd"):
            if name not in self._fields:
                raise ValidationError("is required (set it on the builder)", name)
        event = TelemetryEvent(**self._fields)
        validate_event(event)
        return event
