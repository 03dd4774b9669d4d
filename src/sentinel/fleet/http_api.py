"""``/api/v1``: the JSON the dashboard pages are built from, for scripts and other front ends.

Errors are ``{"error": "..."}`` with 400 (bad parameter or body), 401 (unknown token), 403
(an operator identity is needed), 404 (unknown GPU or directive), 413/414/431 (request too
large, see ``_hardening``) or 503 (engine stopping); each route's ``responses`` says which.
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

from sentinel.core.api import ErrorBody
from sentinel.core.auth import Authorizer
from sentinel.fleet import views
from sentinel.fleet.engine import queries
from sentinel.fleet.engine.engine import (
    EngineNotFound,
    EngineUnavailable,
    EngineValidationError,
    FleetEngine,
)

_EVENT_POLL_S = 1.0
_KEEPALIVE_S = 15.0


class Review(BaseModel):
    comment: str = Field("", max_length=2000, description="Why, kept in the audit ledger.")


class WhoAmI(BaseModel):
    name: str
    operator: bool


class ReviewResult(BaseModel):
    """The engine's answer to one review (the gRPC ``DirectiveResponse``)."""

    directive_id: str
    accepted: bool = Field(description="Whether the directive took effect.")
    rejection_reason: str = Field(description="Why not, when it did not.")
    resulting_state: str = Field(description="The GPU's lifecycle state after the review.")


class BulkReview(BaseModel):
    """Several pending directives reviewed the same way, with one comment."""

    directive_ids: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        min_length=1, max_length=1000, description="The directives to review; duplicates once."
    )
    approve: bool = Field(description="True to approve them all, false to reject them all.")
    comment: str = Field("", max_length=2000, description="Why, kept in the audit ledger.")


class BulkOutcome(BaseModel):
    """What became of one directive of a bulk review."""

    directive_id: str
    status: int = Field(
        description="What reviewing this directive alone would have answered: 200, 400, "
        "404 (not pending: unknown, or already reviewed) or 503."
    )
    result: ReviewResult | None = Field(description="The review's result when status is 200.")
    error: str = Field(description="Why the directive was not reviewed; empty when it was.")


class BulkReviewResult(BaseModel):
    results: list[BulkOutcome] = Field(description="One per directive, in the order asked.")
    reviewed: int = Field(description="Directives reviewed (status 200).")
    refused: int = Field(description="Directives not reviewed (any other status).")


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


_Responses = dict[int | str, dict[str, Any]]
_BAD: _Responses = {400: _error("A parameter or the body is invalid; the message names it.")}
_ERRORS: _Responses = {**_BAD, 404: _error("No such GPU or directive.")}
_OPERATOR: _Responses = {
    401: _error("The bearer token is not one the server knows."),
    403: _error("The caller is not an operator (no token, or not an operator's)."),
}
_AUTH_ERRORS: _Responses = {
    **_BAD,
    **_OPERATOR,
    404: _error("No pending directive of that id."),
}
# Any route: the engine is stopping, or the request is larger than the server reads.
_ANY_ROUTE: _Responses = {
    413: _error("The request body is too large."),
    414: _error("The request target (path and query) is too long."),
    431: _error("The request headers are too large."),
    503: _error("The engine is stopping or its database is unavailable."),
}


def _proto(msg: Any) -> dict[str, Any]:
    return MessageToDict(
        msg, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def api_router(engine: FleetEngine, authorizer: Authorizer) -> APIRouter:
    """The REST endpoints; errors come out through the app's exception handlers."""
    r = APIRouter(prefix="/api/v1", tags=["fleet"], responses=_ANY_ROUTE)

    @r.get("/fleet", responses=_BAD)
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
    ) -> ReviewResult:
        comment = review.comment if review else ""
        what = "approving a directive" if approve else "rejecting a directive"
        who = authorizer.require_http_operator(authorization, what)
        fut = engine.review_directive(directive_id, approve, who.name, comment)
        return ReviewResult(**_proto(await asyncio.wrap_future(fut)))

    @r.post(
        "/directives/{directive_id}/approve", response_model=ReviewResult, responses=_AUTH_ERRORS
    )
    async def approve(
        directive_id: str,
        review: Annotated[Review | None, Body()] = None,
        authorization: Annotated[str | None, Header()] = None,
    ) -> ReviewResult:
        """Approve a pending directive; needs ``Authorization: Bearer <operator token>``."""
        return await _review(directive_id, True, review, authorization)

    @r.post(
        "/directives/{directive_id}/reject", response_model=ReviewResult, responses=_AUTH_ERRORS
    )
    async def reject(
        directive_id: str,
        review: Annotated[Review | None, Body()] = None,
        authorization: Annotated[str | None, Header()] = None,
    ) -> ReviewResult:
        """Reject a pending directive; needs ``Authorization: Bearer <operator token>``."""
        return await _review(directive_id, False, review, authorization)

    @r.post("/directives/review", response_model=BulkReviewResult, responses={**_BAD, **_OPERATOR})
    async def review_many(
        review: BulkReview, authorization: Annotated[str | None, Header()] = None
    ) -> BulkReviewResult:
        """Approve or reject several pending directives at once; needs an operator token.

        Each directive is reviewed on its own and reported separately: one that is no
        longer pending (404) or that the engine refuses does not stop the others.
        """
        what = "approving directives" if review.approve else "rejecting directives"
        who = authorizer.require_http_operator(authorization, what)
        ids = list(dict.fromkeys(review.directive_ids))
        futures = [
            engine.review_directive(i, review.approve, who.name, review.comment) for i in ids
        ]
        results = [await _outcome(i, f) for i, f in zip(ids, futures, strict=True)]
        reviewed = sum(1 for o in results if o.status == 200)
        return BulkReviewResult(results=results, reviewed=reviewed, refused=len(ids) - reviewed)

    @r.get("/whoami", response_model=WhoAmI, responses=_OPERATOR)
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

    @r.post("/audit/verify", response_model=views.VerifyView, responses=_OPERATOR)
    async def verify(
        authorization: Annotated[str | None, Header()] = None,
    ) -> views.VerifyView:
        """Verify the hash chain and the Merkle roots; says where it breaks.

        Operators only (``Authorization: Bearer <operator token>``): a verification reads
        the whole ledger, which nobody may make the server do at will.
        """
        authorizer.require_http_operator(authorization, "verifying the audit chain")
        return await asyncio.to_thread(views.verify, engine)

    @r.get("/config/acks", response_model=views.ConfigAcksView, responses=_ERRORS)
    def config_acks(update_id: str = "") -> views.ConfigAcksView:
        """Each agent's acknowledgement of a config update (ListConfigAcks); empty
        ``update_id`` for the current configuration."""
        return views.config_acks(engine, update_id)

    @r.get("/trust", response_model=views.TrustGraphView)
    def trust() -> views.TrustGraphView:
        """The TMR trust graph with a layout for drawing."""
        return views.trust_graph(engine)

    @r.get("/events", response_class=StreamingResponse)
    async def events(request: Request) -> StreamingResponse:
        """Server-sent events: ``change`` with the fleet overview whenever the ledger grows."""
        return StreamingResponse(_changes(engine, request), media_type="text/event-stream")

    return r


async def _outcome(directive_id: str, fut: Any) -> BulkOutcome:
    try:
        result = ReviewResult(**_proto(await asyncio.wrap_future(fut)))
    except EngineNotFound as exc:
        return BulkOutcome(directive_id=directive_id, status=404, result=None, error=str(exc))
    except EngineValidationError as exc:
        return BulkOutcome(directive_id=directive_id, status=400, result=None, error=str(exc))
    except EngineUnavailable as exc:
        return BulkOutcome(directive_id=directive_id, status=503, result=None, error=str(exc))
    return BulkOutcome(directive_id=directive_id, status=200, result=result, error="")


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
