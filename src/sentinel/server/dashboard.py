"""The web dashboard: server-rendered pages over ``views``, live through server-sent events.

Pages are Jinja2 templates with inline SVG drawings (``_charts``) and one small script
(``static/app.js``) for live refresh, sign-in and the buttons; nothing is built or
fetched from the network at run time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from sentinel.fleet.engine.engine import EngineNotFound, EngineValidationError, FleetEngine
from sentinel.server import _charts, views


def _age(ts: datetime | None) -> str:
    if ts is None:
        return "never"
    s = (datetime.now(UTC) - ts).total_seconds()
    if s < 60:
        return f"{max(s, 0):.0f} s ago"
    if s < 3600:
        return f"{s / 60:.0f} min ago"
    if s < 86400:
        return f"{s / 3600:.1f} h ago"
    return f"{s / 86400:.1f} d ago"


def _when(ts: datetime | None) -> str:
    return ts.strftime("%Y-%m-%d %H:%M:%S UTC") if ts else "—"


def make_templates() -> Environment:
    env = Environment(
        loader=PackageLoader("sentinel.server", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["age"] = _age
    env.filters["when"] = _when
    env.globals["states"] = views.STATE_NAMES
    env.globals["entry_types"] = views.ENTRY_TYPES
    return env


def render(env: Environment, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(env.get_template(name).render(**context), status_code=status)


def dashboard_router(engine: FleetEngine, env: Environment) -> APIRouter:
    """The HTML pages; not part of the OpenAPI schema (``/api/v1`` is)."""
    r = APIRouter(include_in_schema=False)
    env.globals["ledger_fault"] = engine.ledger.fault_message  # the degraded-mode banner

    @r.get("/", response_class=HTMLResponse)
    def fleet_page(q: Annotated[views.GpuQuery, Query()]) -> HTMLResponse:
        table = views.gpu_table(engine, q)
        filters = {"host": q.host, "model": q.model, "state": q.state}

        def link(**changes: Any) -> str:
            params = {**q.model_dump(), **changes}
            return "/?" + urlencode({k: v for k, v in params.items() if v not in ("", None)})

        return render(
            env,
            "fleet.html",
            page="fleet",
            overview=views.fleet_overview(engine),
            table=table,
            filters=filters,
            link=link,
        )

    @r.get("/gpus/{gpu_uuid}", response_class=HTMLResponse)
    def gpu_page(gpu_uuid: str) -> HTMLResponse:
        try:
            d = views.gpu_detail(engine, gpu_uuid)
        except (EngineNotFound, EngineValidationError):
            return not_found(env, f"No GPU {gpu_uuid!r} is registered with this server.")
        markers = [
            _charts.Marker(
                t.ts,
                _charts.STATE_COLORS.get(t.to_state, "#888"),
                f"{t.from_state} → {t.to_state}: {t.reason}",
            )
            for t in d.transitions
        ]
        reliability = _charts.line_chart(
            [_charts.Series("reliability", "#3a78c9", [(p.ts, p.score) for p in d.reliability])],
            markers=markers,
            width=1280,
            height=280,
            title="reliability over time",
        )
        temperature = _charts.line_chart(
            [
                _charts.Series(
                    "temperature", "#d9621b", [(p.ts, p.temperature_c) for p in d.telemetry]
                )
            ],
            unit=" °C",
            width=760,
            height=170,
            title="temperature",
        )
        power = _charts.line_chart(
            [_charts.Series("power", "#6b4fbb", [(p.ts, p.power_w) for p in d.telemetry])],
            unit=" W",
            width=760,
            height=170,
            title="power",
        )
        clocks = _charts.line_chart(
            [
                _charts.Series(
                    "SM clock", "#2e9d5b", [(p.ts, float(p.sm_clock_mhz)) for p in d.telemetry]
                )
            ],
            unit=" MHz",
            width=760,
            height=170,
            title="SM clock",
        )
        latest = d.telemetry[-1] if d.telemetry else None
        return render(
            env,
            "gpu.html",
            page="gpu",
            d=d,
            latest=latest,
            reliability_chart=reliability,
            env_charts=[("Temperature", temperature), ("Power", power), ("SM clock", clocks)],
            heatmap=_charts.sm_heatmap(d.sm),
        )

    @r.get("/directives", response_class=HTMLResponse)
    def directives_page() -> HTMLResponse:
        return render(env, "directives.html", page="directives", dl=views.directives(engine))

    @r.get("/audit", response_class=HTMLResponse)
    def audit_page(
        gpu_uuid: str = "",
        entry_type: str = "",
        page_token: str = "",
        limit: Annotated[int, Query()] = 50,
    ) -> HTMLResponse:
        page = views.audit_page(
            engine, gpu_uuid=gpu_uuid, entry_type=entry_type, limit=limit, page_token=page_token
        )
        query = {"gpu_uuid": gpu_uuid, "entry_type": entry_type}
        params = urlencode({k: v for k, v in query.items() if v})
        next_link = (
            "/audit?" + urlencode({**query, "page_token": page.next_page_token})
            if page.next_page_token
            else ""
        )
        return render(
            env,
            "audit.html",
            page="audit",
            audit=page,
            query=query,
            export_link="/api/v1/audit/export" + (f"?{params}" if params else ""),
            next_link=next_link,
            first_page=not page_token,
        )

    @r.get("/trust", response_class=HTMLResponse)
    def trust_page() -> HTMLResponse:
        graph = views.trust_graph(engine)
        return render(
            env, "trust.html", page="trust", graph=graph, drawing=_charts.trust_svg(graph)
        )

    return r


def not_found(env: Environment, message: str) -> HTMLResponse:
    return render(env, "error.html", status=404, page="", title="Not found", message=message)
