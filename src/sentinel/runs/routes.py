"""The runs HTTP API.

Ingestion lives at the root, where the published ``resource-tracker`` client posts
(``urljoin(SENTINEL_API_URL, "/runs")``): ``POST /runs``, ``POST /runs/{id}/refresh-credentials``,
``POST /runs/{id}/finish``, and ``PUT /runs/{id}/objects/{name}`` for uploads to the local
object store. Reading is under ``/api/v1/runs``. Every error is JSON ``{"error": "..."}``:
400 bad JSON or gzip, 401 bad token, 403 token of another scope, 404 unknown run (or another
identity's), 409 finished run, 413 too large, 415 unknown content encoding, 422 bad field
or CSV.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from sentinel.core.api import ErrorBody, read_body
from sentinel.core.auth import Authorizer, Refused
from sentinel.core.identity import Identity
from sentinel.runs import _wire
from sentinel.runs._wire import RunsError
from sentinel.runs.ingest import RunIngest
from sentinel.runs.store import STATUSES

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 409, 413, 415, 422)
}
Authorization = Annotated[str | None, Header()]


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def router(ingest: RunIngest, authorizer: Authorizer) -> APIRouter:
    """The runs API over ``ingest``, with callers identified by ``authorizer``."""
    r = APIRouter(tags=["runs"], responses=_ERRORS)
    limit = ingest.settings.max_body_bytes

    def caller(authorization: str | None, what: str) -> Identity:
        return authorizer.require_http_scope(authorization, "runs", what)

    async def json_body(request: Request) -> dict[str, Any]:
        data = await read_body(request, limit)
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        if encoding == "gzip":
            data = await run_in_threadpool(
                _wire.gunzip, data, ingest.settings.max_data_bytes, "the gzipped request body"
            )
        elif encoding not in ("", "identity"):
            raise RunsError(415, f"Content-Encoding {encoding!r}: send gzip or none")
        return _wire.json_object(data, "the request body")

    async def answer(status: int, work: Callable[[], dict[str, Any]]) -> JSONResponse:
        try:
            return JSONResponse(await run_in_threadpool(work), status_code=status)
        except Refused as exc:
            return _error(exc.status, str(exc))

    @r.post("/runs", status_code=201)
    async def register_run(request: Request, authorization: Authorization = None) -> JSONResponse:
        """Register a run; answers ``run_id``, ``upload_uri_prefix``, ``upload_credentials``.

        The body is flat JSON: metadata (``project_name``, ``job_name``, ``command`` as a
        JSON-array string, ``tags``...), ``host_*`` (``host_gpu_uuids``: the GPUs it uses)
        and ``cloud_*`` fields.
        """
        try:
            who = caller(authorization, "registering a run")
            body = await json_body(request)
        except Refused as exc:
            return _error(exc.status, str(exc))
        return await answer(201, lambda: ingest.register(who, body))

    @r.post("/runs/{run_id}/refresh-credentials")
    async def refresh_credentials(
        run_id: str, request: Request, authorization: Authorization = None
    ) -> JSONResponse:
        """New temporary upload credentials for a running run."""
        try:
            who = caller(authorization, "refreshing upload credentials")
            await read_body(request, limit)
        except Refused as exc:
            return _error(exc.status, str(exc))
        return await answer(200, lambda: ingest.refresh(who, run_id))

    @r.post("/runs/{run_id}/finish")
    async def finish_run(
        run_id: str, request: Request, authorization: Authorization = None
    ) -> JSONResponse:
        """Finish a run with its data (``data_uris`` or gzipped inline ``data_csv``); answers
        the statistics computed from it. A second finish answers the same."""
        try:
            who = caller(authorization, "finishing a run")
            body = await json_body(request)
        except Refused as exc:
            return _error(exc.status, str(exc))
        return await answer(200, lambda: ingest.finish(who, run_id, body))

    @r.put("/runs/{run_id}/objects/{name}", status_code=201)
    async def upload_object(
        run_id: str, name: str, request: Request, authorization: Authorization = None
    ) -> JSONResponse:
        """Upload one gzipped CSV batch to the local object store (no S3 configured), with
        the run's ``upload_credentials.session_token`` as bearer token."""
        scheme, _, token = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _error(401, "send 'Authorization: Bearer <upload_credentials.session_token>'")
        try:
            data = await read_body(request, limit)
        except Refused as exc:
            return _error(exc.status, str(exc))
        return await answer(201, lambda: ingest.upload(run_id, token.strip(), name, data))

    @r.get("/api/v1/runs")
    async def list_runs(
        authorization: Authorization = None,
        project: Annotated[str, Query(max_length=255)] = "",
        status: Annotated[str, Query(pattern=f"^({'|'.join(STATUSES)})?$")] = "",
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> JSONResponse:
        """Runs newest first: the caller's own, or every run for an operator."""

        def work() -> dict[str, Any]:
            who = caller(authorization, "listing runs")
            page, total = ingest.store.search(
                owner=None if who.operator else who.name,
                project=project,
                status=status,
                limit=limit,
                offset=offset,
            )
            return {
                "runs": [s.to_json() for s in page],
                "total": total,
                "limit": limit,
                "offset": offset,
            }

        return await answer(200, work)

    @r.get("/api/v1/runs/{run_id}")
    async def get_run(run_id: str, authorization: Authorization = None) -> JSONResponse:
        """One run with its metadata and statistics (series for plots included)."""
        return await answer(
            200,
            lambda: ingest.run_for(caller(authorization, "reading a run"), run_id).to_json(),
        )

    return r
