"""The LLM HTTP API: event ingest, OTLP traces, anomalies and baselines.

``POST /api/v1/llm/events`` takes a batch of events (JSON: a list, or ``{"events": [...]}``)
for users without Kafka; ``POST /v1/traces`` (also ``/api/v1/llm/otlp/v1/traces``) takes
OTLP/HTTP trace exports, protobuf or JSON. Both need a token of scope ``llm``. A batch
with one invalid event is refused whole (422 naming the event and the field), so nothing
is half-stored. Reading is under ``/api/v1/llm`` with a token of scope ``llm`` or an
operator's. Errors are JSON ``{"error": "..."}``.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from sentinel.core.api import ErrorBody, read_body
from sentinel.core.auth import Authorizer, Refused
from sentinel.llm import otlp
from sentinel.llm.errors import ValidationError
from sentinel.llm.events import TelemetryEvent
from sentinel.llm.findings import Anomaly
from sentinel.llm.ingest import LlmIngest, check_clock
from sentinel.llm.types import AnomalyType, Severity

MAX_EVENTS = 10_000
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 413, 415, 422)
}
Authorization = Annotated[str | None, Header()]
_TYPES = "|".join(t.value for t in AnomalyType)
_SEVERITIES = "|".join(s.value for s in Severity)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _clean(value: Any) -> Any:
    """JSON has no NaN: a figure without data is null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def anomaly_json(a: Anomaly) -> dict[str, Any]:
    return _clean({**a.to_json(), "href": f"/llm/anomalies/{a.anomaly_id}"})


def parse_events(data: Any) -> list[TelemetryEvent]:
    """The events of a request body, all valid, or ``ValidationError`` naming the first bad one."""
    items = data.get("events") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ValidationError('send a JSON list of events or {"events": [...]}', "body")
    if not items:
        raise ValidationError("holds no event", "events")
    if len(items) > MAX_EVENTS:
        raise ValidationError(f"at most {MAX_EVENTS:,} events per request", "events")
    events = []
    for i, item in enumerate(items):
        try:
            event = TelemetryEvent.from_dict(item)
            check_clock(event)
            events.append(event)
        except ValidationError as exc:
            where = f"events[{i}].{exc.field}" if exc.field else f"events[{i}]"
            raise ValidationError(exc.reason, where) from None
    return events


def router(ingest: LlmIngest, authorizer: Authorizer) -> APIRouter:
    """The LLM API over ``ingest``, callers identified by ``authorizer``."""
    r = APIRouter(tags=["llm"], responses=_ERRORS)
    limit = ingest.settings.max_body_bytes

    def caller(authorization: str | None, what: str) -> None:
        authorizer.require_http_scope(authorization, "llm", what)

    @r.post("/api/v1/llm/events")
    async def post_events(request: Request, authorization: Authorization = None) -> JSONResponse:
        """Ingest a batch of telemetry events; answers how many were accepted and the ids of
        the anomalies they opened or extended."""
        try:
            caller(authorization, "sending LLM telemetry")
            raw = await read_body(request, limit)
            try:
                data = json.loads(raw)
            except ValueError as exc:
                raise Refused(400, f"the body is not JSON: {exc}") from None
            events = parse_events(data)
        except Refused as exc:
            return _error(exc.status, str(exc))
        except ValidationError as exc:
            return _error(422, exc.message)
        changes = await run_in_threadpool(ingest.ingest, events)
        return JSONResponse(
            {"accepted": len(events), "anomalies": sorted(changes.anomalies)}, status_code=202
        )

    async def traces(request: Request, authorization: str | None) -> Response:
        content_type = request.headers.get("content-type", "")
        try:
            caller(authorization, "exporting OTLP traces")
            raw = await read_body(request, limit)
            try:
                decoded = otlp.decode(raw, content_type)
            except LookupError as exc:
                raise Refused(415, str(exc)) from None
            except ValueError as exc:
                raise Refused(400, str(exc)) from None
        except Refused as exc:
            return _error(exc.status, str(exc))
        events, rejected, reason = otlp.events_from(decoded)
        if events:
            await run_in_threadpool(ingest.ingest, events)
        body, media = otlp.response(rejected, reason, content_type)
        return Response(body, media_type=media)

    @r.post("/v1/traces", include_in_schema=False)
    async def otlp_root(request: Request, authorization: Authorization = None) -> Response:
        return await traces(request, authorization)

    @r.post("/api/v1/llm/otlp/v1/traces")
    async def otlp_traces(request: Request, authorization: Authorization = None) -> Response:
        """OTLP/HTTP trace export (``application/x-protobuf`` or ``application/json``); GenAI
        spans become telemetry events, other spans are ignored."""
        return await traces(request, authorization)

    @r.get("/api/v1/llm/anomalies")
    async def list_anomalies(
        authorization: Authorization = None,
        service: Annotated[str, Query(max_length=255)] = "",
        model: Annotated[str, Query(max_length=255)] = "",
        type: Annotated[str, Query(pattern=f"^({_TYPES})?$")] = "",
        severity: Annotated[str, Query(pattern=f"^({_SEVERITIES})?$")] = "",
        gpu_uuid: Annotated[str, Query(max_length=64)] = "",
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> JSONResponse:
        """Anomalies, newest window first."""
        try:
            caller(authorization, "listing LLM anomalies")
        except Refused as exc:
            return _error(exc.status, str(exc))
        page, total = await run_in_threadpool(
            lambda: ingest.store.search(
                service=service,
                model=model,
                anomaly_type=type,
                severity=severity,
                gpu_uuid=gpu_uuid,
                limit=limit,
                offset=offset,
            )
        )
        return JSONResponse(
            {
                "anomalies": [anomaly_json(a) for a in page],
                "total": total,
                "limit": limit,
                "offset": offset,
            }
        )

    @r.get("/api/v1/llm/anomalies/{anomaly_id}")
    async def get_anomaly(anomaly_id: str, authorization: Authorization = None) -> JSONResponse:
        """One anomaly with the figures of the windows around it."""
        try:
            caller(authorization, "reading an LLM anomaly")
        except Refused as exc:
            return _error(exc.status, str(exc))
        a = await run_in_threadpool(ingest.store.get, anomaly_id[:36])
        if a is None:
            return _error(404, f"no anomaly {anomaly_id[:64]!r}")
        width = ingest.settings.window_s
        windows = await run_in_threadpool(
            ingest.store.windows,
            a.service,
            a.model,
            a.window_start - 30 * width,
            a.window_end + 30 * width,
        )
        return JSONResponse(
            {
                **anomaly_json(a),
                "windows": [{"start": t.isoformat(), **_clean(f)} for t, f in windows],
            }
        )

    @r.get("/api/v1/llm/baselines")
    async def list_baselines(authorization: Authorization = None) -> JSONResponse:
        """Every persisted (service, model) baseline and how many events it has seen."""
        try:
            caller(authorization, "listing LLM baselines")
        except Refused as exc:
            return _error(exc.status, str(exc))
        rows = await run_in_threadpool(ingest.store.baselines)
        return JSONResponse(
            {"baselines": [{**b, "updated": b["updated"].isoformat()} for b in rows]}
        )

    return r
