"""The HTTP side of the server: health, metrics, the home page and every domain's routes.

One FastAPI app serves ``/healthz``, ``/metrics``, ``/docs``, the dashboard's home page
and, from each enabled domain, its REST routes and pages. The app knows the domains only
through ``sentinel.core.domain.Domain``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException

from sentinel.core.api import ErrorBody
from sentinel.core.auth import Refused
from sentinel.core.domain import Domain, Host
from sentinel.core.failures import describe_failure
from sentinel.core.pages import not_found, render
from sentinel.server._hardening import Hardening


def create_app(host: Host, domains: Sequence[Domain]) -> FastAPI:
    """The FastAPI application: ``/healthz``, ``/metrics``, ``/``, ``/docs`` and the domains'.

    Every response carries ``Server-Timing: app;dur=<ms>``, the time the server spent on it
    until the response started, and the security headers (both from ``_hardening``);
    ``/docs`` is Swagger UI served from this server, so it works offline and under the
    Content-Security-Policy.
    """
    app = FastAPI(
        title="Sentinel",
        version="0.1.0",
        description="One server for every Sentinel domain: "
        + ", ".join(d.name for d in domains)
        + ".",
        docs_url=None,
        redoc_url=None,
    )
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    templates = host.templates
    templates.globals["open_mode"] = host.authorizer.open_mode
    templates.globals["nav"] = [entry for d in domains for entry in d.nav()]

    def _error(request: Request, status: int, message: str) -> Response:
        if request.url.path.startswith("/api/") or request.url.path in ("/healthz", "/metrics"):
            return JSONResponse({"error": message}, status_code=status)
        if status == 404:
            return not_found(templates, message)
        title = {400: "Bad request", 401: "Not signed in", 403: "Not allowed"}.get(status, "Error")
        return render(templates, "error.html", status, page="", title=title, message=message)

    def _handler(status: int) -> Callable[[Request, Exception], Awaitable[Response]]:
        async def handle(request: Request, exc: Exception) -> Response:
            return _error(request, status, str(exc).strip("'\""))

        return handle

    for domain in domains:
        for exc_type, status in domain.error_statuses().items():
            app.add_exception_handler(exc_type, _handler(status))

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

    @app.get(
        "/healthz",
        tags=["server"],
        responses={
            503: {
                "description": "Degraded: the database is away, or a domain cannot serve "
                "(the fleet's engine refuses writes, its ledger failed verification); "
                "`problems` says which."
            }
        },
    )
    def healthz() -> JSONResponse:
        """Ready when the database answers and every domain serves.

        503 with ``status: degraded`` while the database is away or a domain is degraded
        (the fleet engine refuses new operations and retries its last batch); 200 again once
        it recovered; ``unavailable`` when a domain cannot serve at all.
        """
        problems = []
        try:
            with host.db.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            problems.append(f"database: {describe_failure(exc)}")
        running = True
        details: dict[str, Any] = {}
        states: dict[str, str] = {}
        for domain in domains:
            health = domain.health()
            problems.extend(health.problems)
            details.update(health.details)
            running = running and health.running
            states[domain.name] = (
                "ok" if not health.problems else "degraded" if health.running else "unavailable"
            )
        status = "ok" if not problems else "degraded" if running else "unavailable"
        body = {"status": status, "problems": problems, **details, "domains": states}
        return JSONResponse(body, status_code=200 if not problems else 503)

    registry = CollectorRegistry(auto_describe=False)
    for domain in domains:
        for collector in domain.collectors():
            registry.register(collector)

    @app.get("/metrics", tags=["server"], response_class=PlainTextResponse)
    def metrics() -> Response:
        """Every domain's metrics in the Prometheus text format."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", include_in_schema=False, response_class=HTMLResponse)
    def home() -> HTMLResponse:
        cards = [card for d in domains if (card := d.card()) is not None]
        return render(templates, "home.html", page="home", cards=cards)

    for domain in domains:
        for router in domain.routers():
            app.include_router(router)
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

    limits = {prefix: n for d in domains for prefix, n in d.body_limits().items()}
    app.add_middleware(Hardening, body_limits=limits)
    return app


_BAD_REQUEST = {
    "description": "A parameter or the body is invalid; the message names it.",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
}


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The schema FastAPI generates, with the 400 this app answers in place of its 422.

    Invalid parameters and bodies are answered 400 with an ``ErrorBody`` (``_bad_request``),
    so the 422 ``HTTPValidationError`` FastAPI documents for every route with parameters
    would promise a response that never comes. A 422 a route documents itself (a domain's
    own validation, as the runs and capture APIs answer) stays.
    """
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        for item in schema["paths"].values():
            for operation in item.values():
                responses = operation.get("responses", {})
                if "HTTPValidationError" in str(responses.get("422", "")):
                    del responses["422"]
                    responses.setdefault("400", _BAD_REQUEST)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        components.setdefault("ErrorBody", ErrorBody.model_json_schema())
        app.openapi_schema = schema
    return app.openapi_schema
