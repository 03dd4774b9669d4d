"""``/api/v1``: the JSON the dashboard pages are built from, for scripts and other front ends.

Errors are ``{"error": "..."}`` with 400 (bad parameter), 401 (unknown token), 403 (an
operator identity is needed), 404 (unknown GPU or directive) or 503 (engine stopping).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Request
from fastapi.responses import StreamingResponse
from google.protobuf.json_format import MessageToDict
from pydantic import BaseModel, Field

from sentinel.fleet.engine import queries
from sentinel.fleet.engine.engine import FleetEngine
from sentinel.server import views
from sentinel.server.auth import Authorizer

_EVENT_POLL_S = 1.0
_KEEPALIVE_S = 15.0


class ErrorBody(BaseModel):
    error: str = Field(description="What was wrong and how to fix it.")


class Review(BaseModel):
    comment: str = Field("", max_length=2000, description="Why, kept in the audit ledger.")


class WhoAmI(BaseModel):
    name: str
    operator: bool


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "A parameter is invalid."},
    404: {"model": ErrorBody, "description": "No such GPU or directive."},
}
_AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "The bearer token is not one the server knows."},
    403: {"model": ErrorBody, "description": "No operator identity was presented."},
    404: {"model": ErrorBody, "description": "No pending directive of that id."},
}


def _proto(msg: Any) -> dict[str, Any]:
    return MessageToDict(
        msg, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def api_router(engine: FleetEngine, authorizer: Authorizer) -> APIRouter:
    """The REST endpoints; errors come out through the app's exception handlers."""
    r = APIRouter(prefix="/api/v1", tags=["fleet"])

    @r.get("/fleet")
    def fleet(hostname_prefix: str = "", model: str = "") -> dict[str, Any]:
        """Fleet health summary in the seed's field names (QueryFleetHealth)."""
        return _proto(queries.fleet_health(engine, hostname_prefix, model))

    @r.get("/overview", response_model=views.FleetOverview)
    def overview() -> views.FleetOverview:
        """Counts by state, SDC rate, mean reliability, active agents, approvals waiting."""
        return views.fleet_overview(engine)

    @r.get("/gpus", response_model=views.GpuTable, responses=_ERRORS)
    def gpus(q: Annotated[views.GpuQuery, Query()]) -> views.GpuTable:
        """A sorted, filtered page of GPUs."""
        return views.gpu_table(engine, q)

    @r.get("/gpus/{gpu_uuid}", responses=_ERRORS)
    def gpu(gpu_uuid: str) -> dict[str, Any]:
        """Health of one GPU with its per-SM breakdown (QueryGpuHealth)."""
        return _proto(queries.gpu_health(engine, gpu_uuid))

    @r.get("/gpus/{gpu_uuid}/detail", response_model=views.GpuDetail, responses=_ERRORS)
    def gpu_detail(gpu_uuid: str) -> views.GpuDetail:
        """Everything the GPU page shows: per-SM cells, reliability and environment series,
        transitions, correlations, directives and the newest audit entries."""
        return views.gpu_detail(engine, gpu_uuid)

    @r.get("/directives", response_model=views.DirectiveList, responses=_ERRORS)
    def directives(limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> views.DirectiveList:
        """Directives awaiting approval, and the newest others."""
        return views.directives(engine, limit)

    async def _review(
        directive_id: str, approve: bool, review: Review | None, authorization: str | None
    ) -> dict[str, Any]:
        comment = review.comment if review else ""
        what = "approving a directive" if approve else "rejecting a directive"
        who = authorizer.require_http_operator(authorization, what)
        fut = engine.review_directive(directive_id, approve, who.name, comment)
        return _proto(await asyncio.wrap_future(fut))

    @r.post("/directives/{directive_id}/approve", responses=_AUTH_ERRORS)
    async def approve(
        directive_id: str,
        review: Annotated[Review | None, Body()] = None,
        authorization: Annotated[str | None, Header()] = None,
    ) -> dict[str, Any]:
        """Approve a pending directive; needs ``Authorization: Bearer <operator token>``."""
        return await _review(directive_id, True, review, authorization)

    @r.post("/directives/{directive_id}/reject", responses=_AUTH_ERRORS)
    async def reject(
        directive_id: str,
        review: Annotated[Review | None, Body()] = None,
        authorization: Annotated[str | None, Header()] = None,
    ) -> dict[str, Any]:
        """Reject a pending directive; needs ``Authorization: Bearer <operator token>``."""
        return await _review(directive_id, False, review, authorization)

    @r.get("/whoami", response_model=WhoAmI, responses=_AUTH_ERRORS)
    def whoami(authorization: Annotated[str | None, Header()] = None) -> WhoAmI:
        """The operator a bearer token belongs to (the dashboard's sign-in check)."""
        who = authorizer.require_http_operator(authorization, "signing in")
        return WhoAmI(name=who.name, operator=who.operator)

    @r.get("/audit", response_model=views.AuditPage, responses=_ERRORS)
    def audit(
        gpu_uuid: str = "",
        entry_type: Annotated[str, Query(description="PROBE_RESULT, ANOMALY_EVENT, …")] = "",
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        page_token: str = "",
    ) -> views.AuditPage:
        """Audit entries, newest first, filtered by GPU and type."""
        return views.audit_page(
            engine, gpu_uuid=gpu_uuid, entry_type=entry_type, limit=limit, page_token=page_token
        )

    @r.get(
        "/audit/export",
        responses={200: {"content": {"application/x-ndjson": {}}}, **_ERRORS},
        response_class=StreamingResponse,
    )
    def export(gpu_uuid: str = "", entry_type: str = "") -> StreamingResponse:
        """Every matching entry as JSON lines, oldest first (``sentinel audit export``'s format)."""
        records = views.audit_records(engine, gpu_uuid=gpu_uuid, entry_type=entry_type)
        first = next(records, "")  # validates the filters before the 200 goes out
        name = f"sentinel-audit{'-' + gpu_uuid if gpu_uuid else ''}.jsonl"

        return StreamingResponse(
            itertools.chain((first,), records),
            media_type="application/x-ndjson",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @r.post("/audit/verify", response_model=views.VerifyView)
    async def verify() -> views.VerifyView:
        """Verify the whole hash chain and every Merkle root; says where it breaks."""
        return await asyncio.to_thread(views.verify, engine)

    @r.get("/trust", response_model=views.TrustGraphView)
    def trust() -> views.TrustGraphView:
        """The TMR trust graph with a layout for drawing."""
        return views.trust_graph(engine)

    @r.get("/events", response_class=StreamingResponse)
    async def events(request: Request) -> StreamingResponse:
        """Server-sent events: ``change`` with the fleet overview whenever the ledger grows."""
        return StreamingResponse(_changes(engine, request), media_type="text/event-stream")

    return r


async def _changes(engine: FleetEngine, request: Request) -> AsyncIterator[str]:
    """One ``change`` event per poll in which anything was recorded; keep-alives between."""
    seen = -1
    quiet = 0.0
    yield "retry: 2000\n\n"
    while not await request.is_disconnected():
        size = len(engine.ledger)
        if size != seen:
            seen = size
            quiet = 0.0
            body = views.fleet_overview(engine).model_dump(mode="json")
            yield f"event: change\ndata: {json.dumps(body)}\n\n"
        elif quiet >= _KEEPALIVE_S:
            quiet = 0.0
            yield ": keep-alive\n\n"
        await asyncio.sleep(_EVENT_POLL_S)
        quiet += _EVENT_POLL_S
