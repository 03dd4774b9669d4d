"""The forecast domain's HTTP API and the Prometheus endpoints Grafana and Prometheus call.

- ``GET /api/v1/forecast/status``: :meth:`Sentinel.status` (the seed's keys and more).
- ``POST /api/v1/forecast/rollback`` ``{"metric", "labels"}`` and
  ``POST /api/v1/forecast/retrain`` ``{"series"}``: operators only; recorded with the caller.
- ``/forecast/prometheus/api/v1/...``: the Prometheus HTTP API (Grafana's data source URL
  is ``http://<server>/forecast/prometheus``) and ``POST .../api/v1/read`` (remote-read).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Header, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from sentinel.core.api import ErrorBody
from sentinel.core.auth import Authorizer, Refused
from sentinel.forecast import query, remote_read
from sentinel.forecast.engine import Sentinel
from sentinel.forecast.store import ActionStore
from sentinel.forecast.versions import VersionError

PROMETHEUS_BASE = "/forecast/prometheus"
Authorization = Annotated[str | None, Header()]


class RollbackRequest(BaseModel):
    metric: str = Field(min_length=1, max_length=255)
    labels: dict[str, str] = Field(default_factory=dict)


class RetrainRequest(BaseModel):
    series: str = Field(min_length=1, max_length=1024, description="A series key from status")


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorBody} for code in codes}


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def api_router(sentinel: Sentinel, actions: ActionStore, authorizer: Authorizer) -> APIRouter:
    """Status, rollback and retrain under ``/api/v1/forecast``."""
    r = APIRouter(prefix="/api/v1/forecast", tags=["forecast"])

    @r.get("/status")
    def status() -> dict[str, Any]:
        """Every watched series: readiness, serving version, errors and problems."""
        return sentinel.status()

    @r.post("/rollback", responses=_errors(401, 403, 404, 409, 503))
    def rollback(body: RollbackRequest, authorization: Authorization = None) -> Any:
        """Serve the previous version of the matching series (operators only)."""
        try:
            who = authorizer.require_http_operator(authorization, "rolling back a forecast model")
        except Refused as exc:
            return _error(exc.status, str(exc))
        try:
            done = sentinel.rollback(body.metric, body.labels)
        except KeyError as exc:
            return _error(404, str(exc.args[0]))
        except VersionError as exc:
            return _error(409, str(exc))
        for key, version in done.items():
            actions.record(who.name, "rollback", key, {"to": version})
        return {"rolled_back": done}

    @r.post("/retrain", status_code=202, responses=_errors(401, 403, 404, 503))
    def retrain(body: RetrainRequest, authorization: Authorization = None) -> Any:
        """Queue a full retrain of one series (operators only); the challenger serves only if
        its backtest beats the serving model."""
        try:
            who = authorizer.require_http_operator(authorization, "retraining a forecast model")
        except Refused as exc:
            return _error(exc.status, str(exc))
        if sentinel.get(body.series) is None:
            return _error(404, f"no watched series {body.series!r}")
        sentinel.train(body.series, "manual")
        actions.record(who.name, "retrain", body.series, {})
        return {"queued": body.series}

    return r


def prometheus_router(sentinel: Sentinel) -> APIRouter:
    """The Prometheus HTTP API and remote-read under ``/forecast/prometheus``."""
    r = APIRouter(prefix=PROMETHEUS_BASE, include_in_schema=False)

    @r.post("/api/v1/read")
    async def read(request: Request) -> Response:
        body = await request.body()
        status, data, headers = await run_in_threadpool(
            remote_read.answer, sentinel, body, dict(request.headers)
        )
        media = headers.pop("Content-Type")
        return Response(data, status_code=status, media_type=media, headers=headers)

    @r.api_route("/api/v1/{path:path}", methods=["GET", "POST"])
    async def api(path: str, request: Request) -> Response:
        params = list(request.query_params.multi_items())
        if request.method == "POST" and "form-urlencoded" in request.headers.get(
            "content-type", ""
        ):
            # Grafana POSTs its queries as a form; parsed here (no multipart dependency).
            params += parse_qsl(
                (await request.body()).decode("utf-8", "replace"), keep_blank_values=True
            )
        status, data, media = await run_in_threadpool(query.answer, sentinel, path, params)
        return Response(data, status_code=status, media_type=media)

    return r
