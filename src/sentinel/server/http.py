"""The HTTP side of the server: health, metrics, ``/api/v1`` and the dashboard on one app."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException

from sentinel.core.auth import Authorizer, Refused
from sentinel.fleet.engine.engine import (
    EngineNotFound,
    EngineUnavailable,
    EngineValidationError,
    FleetEngine,
)
from sentinel.fleet.engine.failures import describe_failure
from sentinel.server._hardening import Hardening
from sentinel.server.api import ErrorBody, api_router
from sentinel.server.dashboard import dashboard_router, make_templates, not_found, render


def create_app(engine: FleetEngine, authorizer: Authorizer | None = None) -> FastAPI:
    """The FastAPI application: ``/healthz``, ``/metrics``, ``/api/v1`` and the dashboard.

    Every response carries ``Server-Timing: app;dur=<ms>``, the time the server spent on it,
    and the security headers of ``_hardening``; ``/docs`` is Swagger UI served from this
    server, so it works offline and under the Content-Security-Policy.
    """
    app = FastAPI(
        title="Sentinel",
        version="0.1.0",
        description="Fleet health, GPUs, directives, the audit ledger and the trust graph.",
        docs_url=None,
        redoc_url=None,
    )
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    templates = make_templates()
    templates.globals["open_mode"] = authorizer is not None and authorizer.open_mode

    def _error(request: Request, status: int, message: str) -> Response:
        if request.url.path.startswith("/api/") or request.url.path in ("/healthz", "/metrics"):
            return JSONResponse({"error": message}, status_code=status)
        if status == 404:
            return not_found(templates, message)
        title = {400: "Bad request", 401: "Not signed in", 403: "Not allowed"}.get(status, "Error")
        return render(templates, "error.html", status, page="", title=title, message=message)

    @app.exception_handler(EngineNotFound)
    async def _not_found(request: Request, exc: EngineNotFound) -> Response:
        return _error(request, 404, str(exc).strip("'\""))

    @app.exception_handler(EngineValidationError)
    async def _invalid(request: Request, exc: EngineValidationError) -> Response:
        return _error(request, 400, str(exc))

    @app.exception_handler(EngineUnavailable)
    async def _unavailable(request: Request, exc: EngineUnavailable) -> Response:
        return _error(request, 503, str(exc))

    @app.exception_handler(Refused)
    async def _refused(request: Request, exc: Refused) -> Response:
        return _error(request, exc.status, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or e['loc'][0]}: {e['msg']}"
            for e in exc.errors()
        )
        return _error(request, 400, problems)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return _error(request, 404, f"There is no page at {request.url.path}.")
        return _error(request, exc.status_code, str(exc.detail))

    @app.middleware("http")
    async def _timing(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        ms = (time.perf_counter() - started) * 1000
        response.headers["Server-Timing"] = f"app;dur={ms:.2f}"
        return response

    @app.get(
        "/healthz",
        tags=["server"],
        responses={
            503: {
                "description": "Degraded: the database is away, the engine refuses writes or "
                "the ledger failed verification; `problems` says which."
            }
        },
    )
    def healthz() -> JSONResponse:
        """Ready when the database answers and the engine's writer runs and commits.

        503 with ``status: degraded`` while the database is away (the engine refuses new
        operations and retries its last batch); 200 again once that batch committed.
        """
        problems = []
        try:
            with engine.db.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            problems.append(f"database: {describe_failure(exc)}")
        if not engine.running:
            problems.append("engine: writer thread is not running")
        elif engine.unavailable:
            problems.append(f"engine: {engine.unavailable}")
        if engine.ledger.fault is not None:
            problems.append(f"ledger: {engine.ledger.fault_message()}")
        status = "ok" if not problems else "degraded" if engine.running else "unavailable"
        body: dict[str, Any] = {
            "status": status,
            "problems": problems,
            "gpus": engine.state.total(),
            "ledger_entries": len(engine.ledger),
        }
        return JSONResponse(body, status_code=200 if not problems else 503)

    @app.get("/metrics", tags=["server"], response_class=PlainTextResponse)
    def metrics() -> Response:
        """The engine's own metrics in the Prometheus text format."""
        return Response(generate_latest(engine.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(api_router(engine, authorizer or Authorizer()))
    app.include_router(dashboard_router(engine, templates))
    # Swagger UI's files come with the fastapi-offline package; mounted before /static,
    # which would otherwise answer their paths with 404.
    app.mount(
        "/static/swagger", StaticFiles(packages=[("fastapi_offline", "static")]), name="swagger"
    )
    app.mount("/static", StaticFiles(packages=[("sentinel.server", "static")]), name="static")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return render(templates, "docs.html")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> HTMLResponse:
        return HTMLResponse(status_code=204)

    app.add_middleware(Hardening)
    return app


_BAD_REQUEST = {
    "description": "A parameter or the body is invalid; the message names it.",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
}


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The schema FastAPI generates, with the 400 this app answers in place of its 422.

    Invalid parameters and bodies are answered 400 with an ``ErrorBody`` (``_bad_request``),
    so the 422 ``HTTPValidationError`` FastAPI documents for every route with parameters
    would promise a response that never comes.
    """
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        for item in schema["paths"].values():
            for operation in item.values():
                responses = operation.get("responses", {})
                if responses.pop("422", None) is not None:
                    responses.setdefault("400", _BAD_REQUEST)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        components.setdefault("ErrorBody", ErrorBody.model_json_schema())
        app.openapi_schema = schema
    return app.openapi_schema
