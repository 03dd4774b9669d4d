"""The HTTP side of the server: health, the engine's Prometheus metrics, REST reads."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from google.protobuf.json_format import MessageToDict
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from sentinel.fleet.engine import queries
from sentinel.fleet.engine.engine import EngineNotFound, EngineValidationError, FleetEngine


def _json(msg: Any) -> dict[str, Any]:
    return MessageToDict(
        msg, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def create_app(engine: FleetEngine) -> FastAPI:
    """The FastAPI application serving ``/healthz``, ``/metrics`` and ``/api/v1``."""
    app = FastAPI(title="Sentinel", version="0.1.0")

    @app.exception_handler(EngineNotFound)
    async def _not_found(_: Any, exc: EngineNotFound) -> JSONResponse:
        return JSONResponse({"error": str(exc).strip("'\"")}, status_code=404)

    @app.exception_handler(EngineValidationError)
    async def _invalid(_: Any, exc: EngineValidationError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=400)

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        """Ready when the database answers and the engine's writer runs."""
        problems = []
        try:
            with engine.db.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            problems.append(f"database: {exc}")
        if not engine.running:
            problems.append("engine: writer thread is not running")
        body = {
            "status": "ok" if not problems else "unavailable",
            "problems": problems,
            "gpus": engine.state.total(),
            "ledger_entries": len(engine.ledger),
        }
        return JSONResponse(body, status_code=200 if not problems else 503)

    @app.get("/metrics")
    def metrics() -> Response:
        """The engine's own metrics in the Prometheus text format."""
        return Response(generate_latest(engine.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/api/v1/fleet")
    def fleet(hostname_prefix: str = "", model: str = "") -> dict[str, Any]:
        """Fleet health summary (QueryFleetHealth)."""
        return _json(queries.fleet_health(engine, hostname_prefix, model))

    @app.get("/api/v1/gpus/{gpu_uuid}")
    def gpu(gpu_uuid: str) -> dict[str, Any]:
        """Health of one GPU with its per-SM breakdown (QueryGpuHealth)."""
        return _json(queries.gpu_health(engine, gpu_uuid))

    return app
