"""OpenTelemetry GenAI spans (OTLP/HTTP, protobuf or JSON) as telemetry events.

Applications instrumented with the OTel GenAI instrumentations export spans whose
``gen_ai.*`` attributes describe each model call; this module maps them onto
:class:`TelemetryEvent` so they need no other SDK. Spans without ``gen_ai.*`` attributes are
ignored (a trace holds more than model calls); GenAI spans that cannot be mapped are
counted as rejected in the OTLP ``partial_success``.

Mapping: ``service.name`` (resource) → ``service_name``; ``gen_ai.response.model`` or
``gen_ai.request.model`` → ``model``; ``gen_ai.usage.input_tokens`` (or ``prompt_tokens``)
and ``output_tokens`` (or ``completion_tokens``) → token counts; the first of
``gen_ai.response.finish_reasons`` → ``finish_reason``; span duration → ``latency_ms``;
span start → ``timestamp``; status ERROR (or ``error.type``) → ``errors``; prompt and
answer text from ``gen_ai.input.messages``/``gen_ai.output.messages``, the older
``gen_ai.prompt``/``gen_ai.completion`` (also indexed ``.0.content``), or the
``gen_ai.user.message``/``gen_ai.choice`` span events; ``gen_ai.usage.cost`` → ``cost_usd``
(not in the conventions; 0 when absent); ``gen_ai.system``/``gen_ai.provider.name``,
``gen_ai.operation.name``, ``server.address`` and ``gpu_uuid`` → ``metadata``.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime, timezone
from typing import Any

from sentinel.llm.errors import ValidationError
from sentinel.llm.events import PromptInfo, ResponseInfo, TelemetryEvent, validate_event
from sentinel.llm.ingest import check_clock

_ID_FIELDS = ("traceId", "spanId", "parentSpanId")
_NAMESPACE = uuid.UUID("0b6a1e0c-4d7e-4e4f-8f3c-7a2d5f1e9b21")
_META = {
    "gen_ai.system": "gen_ai.system",
    "gen_ai.provider.name": "gen_ai.provider.name",
    "gen_ai.operation.name": "gen_ai.operation.name",
    "server.address": "server.address",
    "gpu_uuid": "gpu_uuid",
}


def _proto() -> Any:
    try:
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
    except ImportError as exc:
        raise ImportError(
            "the OTLP route needs opentelemetry-proto: pip install 'sentinel[server]'"
        ) from exc
    return trace_service_pb2


def _hex_ids(node: Any) -> Any:
    """OTLP/JSON writes ids as hex; the protobuf JSON mapping expects base64."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k in _ID_FIELDS and isinstance(v, str) and v:
                try:
                    v = base64.b64encode(bytes.fromhex(v)).decode()
                except ValueError:
                    raise ValueError(f"{k} {v[:40]!r} is not hex") from None
            out[k] = _hex_ids(v)
        return out
    if isinstance(node, list):
        return [_hex_ids(v) for v in node]
    return node


def decode(body: bytes, content_type: str) -> Any:
    """The ``ExportTraceServiceRequest`` in ``body``.

    Raises:
        LookupError: ``content_type`` is neither protobuf nor JSON.
        ValueError: the body does not decode.
    """
    pb = _proto()
    request = pb.ExportTraceServiceRequest()
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/x-protobuf":
        from google.protobuf.message import DecodeError

        try:
            request.ParseFromString(body)
        except DecodeError as exc:
            raise ValueError(f"the body is not an OTLP protobuf message: {exc}") from None
        return request
    if kind == "application/json":
        from google.protobuf import json_format

        try:
            data = json.loads(body)
            json_format.ParseDict(_hex_ids(data), request, ignore_unknown_fields=True)
        except (ValueError, json_format.ParseError) as exc:
            raise ValueError(f"the body is not OTLP JSON: {exc}") from None
        return request
    raise LookupError(
        f"Content-Type {content_type!r}: send application/x-protobuf or application/json"
    )


def response(rejected: int, message: str, content_type: str) -> tuple[bytes, str]:
    """The ``ExportTraceServiceResponse`` in the request's encoding."""
    pb = _proto()
    resp = pb.ExportTraceServiceResponse()
    if rejected:
        resp.partial_success.rejected_spans = rejected
        resp.partial_success.error_message = message
    if content_type.split(";")[0].strip().lower() == "application/json":
        from google.protobuf import json_format

        return json.dumps(json_format.MessageToDict(resp)).encode(), "application/json"
    return resp.SerializeToString(), "application/x-protobuf"


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, kind) if kind else None


def _attrs(kvs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in kvs}


def _int(attrs: dict[str, Any], *names: str) -> int:
    for n in names:
        if n in attrs:
            try:
                return int(attrs[n])
            except (TypeError, ValueError):
                raise ValidationError(f"must be an integer, got {attrs[n]!r}", n) from None
    return 0


def _messages_text(raw: Any) -> str:
    """Text of ``gen_ai.*.messages`` (a JSON string or structured value) or plain text."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return raw
    if isinstance(raw, dict):
        raw = [raw]
    parts: list[str] = []
    for m in raw if isinstance(raw, list) else []:
        if not isinstance(m, dict):
            continue
        if isinstance(m.get("content"), str):
            parts.append(m["content"])
        for p in m.get("parts") or []:
            if isinstance(p, dict) and isinstance(p.get("content"), str):
                parts.append(p["content"])
        message = m.get("message")
        if isinstance(message, dict) and isinstance(message.get("content"), str):
            parts.append(message["content"])
    return "\n".join(parts)


def _text(span: Any, attrs: dict[str, Any], direction: str) -> str:
    names = (
        ("gen_ai.input.messages", "gen_ai.prompt", "gen_ai.prompt.0.content")
        if direction == "in"
        else ("gen_ai.output.messages", "gen_ai.completion", "gen_ai.completion.0.content")
    )
    for n in names:
        if n in attrs:
            return _messages_text(attrs[n])
    wanted = (
        ("gen_ai.system.message", "gen_ai.user.message")
        if direction == "in"
        else ("gen_ai.choice",)
    )
    parts = []
    for ev in span.events:
        if ev.name in wanted:
            ea = _attrs(ev.attributes)
            body = ea.get("content") or ea.get("message") or ea.get("gen_ai.event.content") or ""
            parts.append(_messages_text(body) if not isinstance(body, str) else body)
    return "\n".join(p for p in parts if p)


def events_from(request: Any) -> tuple[list[TelemetryEvent], int, str]:
    """The events of the GenAI spans in ``request``; rejected spans and the first reason."""
    events: list[TelemetryEvent] = []
    rejected, reason = 0, ""
    for rs in request.resource_spans:
        resource = _attrs(rs.resource.attributes)
        service = str(resource.get("service.name") or "unknown_service")
        for ss in rs.scope_spans:
            for span in ss.spans:
                attrs = {**resource, **_attrs(span.attributes)}
                if not any(k.startswith("gen_ai.") for k in _attrs(span.attributes)):
                    continue
                try:
                    events.append(_event(service, span, attrs))
                except ValidationError as exc:
                    rejected += 1
                    reason = reason or f"span {span.span_id.hex()}: {exc.message}"
    return events, rejected, reason


def _event(service: str, span: Any, attrs: dict[str, Any]) -> TelemetryEvent:
    model = attrs.get("gen_ai.response.model") or attrs.get("gen_ai.request.model")
    if not model:
        raise ValidationError("is required on a GenAI span", "gen_ai.request.model")
    finish = attrs.get("gen_ai.response.finish_reasons") or ["stop"]
    finish = finish[0] if isinstance(finish, list) and finish else str(finish)
    errors = []
    if span.status.code == 2:  # STATUS_CODE_ERROR
        errors.append(str(attrs.get("error.type") or span.status.message or "error"))
    elif attrs.get("error.type"):
        errors.append(str(attrs["error.type"]))
    start, end = span.start_time_unix_nano, span.end_time_unix_nano
    if not start or end < start:
        raise ValidationError("must be set and not after the end time", "start_time_unix_nano")
    cost = attrs.get("gen_ai.usage.cost", 0.0)
    metadata = {k: str(attrs[a]) for a, k in _META.items() if a in attrs}
    event = TelemetryEvent(
        service_name=service,
        model=str(model),
        prompt=PromptInfo(
            _text(span, attrs, "in"),
            _int(attrs, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"),
        ),
        response=ResponseInfo(
            _text(span, attrs, "out"),
            _int(attrs, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"),
            str(finish)[:64],
        ),
        latency_ms=(end - start) / 1e6,
        cost_usd=float(cost) if isinstance(cost, (int, float)) else 0.0,
        event_id=uuid.uuid5(_NAMESPACE, span.trace_id.hex() + span.span_id.hex()),
        timestamp=datetime.fromtimestamp(start / 1e9, tz=timezone.utc),
        trace_id=span.trace_id.hex() or None,
        span_id=span.span_id.hex() or None,
        metadata=metadata,
        errors=errors,
    )
    validate_event(event)
    check_clock(event)
    return event
