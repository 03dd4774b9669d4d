"""The fleet's dashboard pages: server-rendered over ``views``, live through server-sent events.

Pages are Jinja2 templates (``templates/``, extending the server's ``base.html``) with
inline SVG drawings and the server's one small script for live refresh, sign-in and the
buttons; nothing is built or fetched from the network at run time.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, NamedTuple
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse
from jinja2 import Environment
from markupsafe import Markup

from sentinel.core import charts
from sentinel.core.domain import Related
from sentinel.core.pages import not_found, render
from sentinel.fleet import _drawings, catch_curve, views
from sentinel.fleet.engine.engine import EngineNotFound, EngineValidationError, FleetEngine


class CatchCell(NamedTuple):
    """One table cell: "share within goal · median periods", and the rest of the point (p95,
    seconds, attribution, cost, the daily diagnostic) as its tooltip."""

    text: str
    title: str = ""


@dataclass(frozen=True)
class CatchPanel:
    """The fleet page's "What Sentinel can catch" panel: the curve, or why there is none."""

    curve: catch_curve.CatchCurve | None = None
    problem: str = ""
    """Why the recorded curve cannot be shown; empty when it can, or when there is none."""
    drawing: Markup = Markup()
    rates: list[str] = field(default_factory=list)
    """The table's columns: every measured rate, lowest first, as the drawing's x axis."""
    rows: list[tuple[str, str, list[CatchCell]]] = field(default_factory=list)
    """Per fault kind: kind, label and one cell per rate."""
    trials: str = ""
    """Faulty GPUs per point: one number, or the range when points differ."""


def read_catch_panel(path: Path) -> CatchPanel:
    """The panel for the curve at ``path``; a malformed file becomes a message, not an error."""
    try:
        curve = catch_curve.load(path)
    except ValueError as exc:
        return CatchPanel(
            problem=f"The recorded curve {path.name} is malformed ({exc}): "
            "run bench/bench_fault_curve.py to write it again."
        )
    if curve is None:
        return CatchPanel()
    rates = sorted(
        {r for c in curve.curves for p in c.points if (r := _drawings.number(p.rate)) is not None}
    )
    rows = []
    for c in curve.curves:
        by_rate = {_drawings.number(p.rate): p for p in c.points}
        cells = [_catch_cell(by_rate.get(r), curve.period_s) for r in rates]
        rows.append((c.kind, c.label, cells))
    trials = [p.trials for c in curve.curves for p in c.points if isinstance(p.trials, int)]
    return CatchPanel(
        curve=curve,
        drawing=_drawings.catch_curve_svg(curve),
        rates=[_drawings.rate_label(r) for r in rates],
        rows=rows,
        trials=_span(trials),
    )


def _span(values: list[int]) -> str:
    if not values:
        return ""
    lo, hi = min(values), max(values)
    return f"{lo:,}" if lo == hi else f"{lo:,}–{hi:,}"


def _catch_cell(point: catch_curve.CurvePoint | None, period_s: float) -> CatchCell:
    if point is None or (share := _drawings.number(point.within_goal)) is None:
        return CatchCell("—")
    median = _drawings.number(point.median_periods)
    text = f"{100 * share:.1f} % · " + ("—" if median is None else f"{median:.1f}")

    def periods(name: str, value: object) -> str:
        n = _drawings.number(value)
        return (
            f"{name} not reached"
            if n is None
            else f"{name} {n:.1f} periods ({n * period_s:,.0f} s)"
        )

    parts = [f"{periods('median', point.median_periods)}, {periods('p95', point.p95_periods)}"]
    if (right := _drawings.number(point.right_sm)) is not None:
        parts.append(f"right SM {100 * right:.1f} %")
    runs, gpu_ms = _drawings.number(point.probe_runs), _drawings.number(point.probe_gpu_ms)
    if runs is not None and gpu_ms is not None:
        parts.append(f"{runs:.1f} probe runs, {gpu_ms:.2f} ms of GPU time")
    if (daily := _drawings.number(point.diagnostic_within_day)) is not None:
        hours = _drawings.number(point.diagnostic_median_h)
        after = "" if hours is None else f", median {hours:.1f} h"
        parts.append(f"daily diagnostic {100 * daily:.1f} % within a day{after}")
    return CatchCell(text, "; ".join(parts))


@functools.cache
def catch_panel() -> CatchPanel:
    """The panel for the packaged curve, read once per process: only a release changes it.

    The fleet page looks this function up on every request, so a test may replace it (with
    ``lambda: read_catch_panel(path)``) to show another curve.
    """
    return read_catch_panel(catch_curve.CURVE_PATH)


def dashboard_router(
    engine: FleetEngine, env: Environment, related: Callable[[str, str], list[Related]]
) -> APIRouter:
    """The HTML pages; not part of the OpenAPI schema (``/api/v1`` is).

    ``related`` finds what other domains hold about a GPU (the runs that used it).
    """
    r = APIRouter(include_in_schema=False)
    env.globals["ledger_fault"] = engine.ledger.fault_message  # the degraded-mode banner
    env.globals["states"] = views.STATE_NAMES
    env.globals["entry_types"] = views.ENTRY_TYPES

    @r.get("/fleet", response_class=HTMLResponse)
    def fleet_page(q: Annotated[views.GpuQuery, Query()]) -> HTMLResponse:
        table = views.gpu_table(engine, q)
        filters = {"host": q.host, "model": q.model, "state": q.state}

        def link(**changes: Any) -> str:
            params = {**q.model_dump(), **changes}
            return "/fleet?" + urlencode({k: v for k, v in params.items() if v not in ("", None)})

        return render(
            env,
            "fleet/fleet.html",
            page="fleet",
            overview=views.fleet_overview(engine),
            config=views.config_summary(engine),
            catch=catch_panel(),
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
            charts.Marker(
                t.ts,
                _drawings.STATE_COLORS.get(t.to_state, "#888"),
                f"{t.from_state} → {t.to_state}: {t.reason}",
            )
            for t in d.transitions
        ]
        reliability = charts.line_chart(
            [charts.Series("reliability", "#3a78c9", [(p.ts, p.score) for p in d.reliability])],
            markers=markers,
            width=1280,
            height=280,
            title="reliability over time",
        )
        temperature = charts.line_chart(
            [
                charts.Series(
                    "temperature", "#d9621b", [(p.ts, p.temperature_c) for p in d.telemetry]
                )
            ],
            unit=" °C",
            width=760,
            height=170,
            title="temperature",
        )
        power = charts.line_chart(
            [charts.Series("power", "#6b4fbb", [(p.ts, p.power_w) for p in d.telemetry])],
            unit=" W",
            width=760,
            height=170,
            title="power",
        )
        clocks = charts.line_chart(
            [
                charts.Series(
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
            "fleet/gpu.html",
            page="gpu",
            d=d,
            latest=latest,
            reliability_chart=reliability,
            env_charts=[("Temperature", temperature), ("Power", power), ("SM clock", clocks)],
            heatmap=_drawings.sm_heatmap(d.sm),
            related=related("gpu", d.gpu.uuid),
        )

    @r.get("/directives", response_class=HTMLResponse)
    def directives_page() -> HTMLResponse:
        return render(env, "fleet/directives.html", page="directives", dl=views.directives(engine))

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
            "fleet/audit.html",
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
            env, "fleet/trust.html", page="trust", graph=graph, drawing=_drawings.trust_svg(graph)
        )

    return r
