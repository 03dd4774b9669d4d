"""The forecast dashboard: every watched series, and one series with actual, predicted and
interval, drift over time, its versions and a rollback button for operators."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse
from jinja2 import Environment
from markupsafe import Markup

from sentinel.core import charts
from sentinel.core.pages import not_found, render
from sentinel.forecast.engine import Sentinel
from sentinel.forecast.routes import PROMETHEUS_BASE
from sentinel.forecast.series import SeriesState
from sentinel.forecast.store import ActionStore
from sentinel.forecast.versions import series_id

SHOWN = 180
"""Most recent steps of actual data a series chart shows."""
_STATIC = Path(__file__).parent / "static"


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)


def series_chart(state: SeriesState) -> Markup:
    """Actual, past predictions at the horizon, the interval and the current forecast."""
    step = state.watch.step_s
    values = state.values[-SHOWN:]
    first = state.last_index - len(values) + 1
    actual = [(_dt((first + i) * step), float(v)) for i, v in enumerate(values.tolist())]
    past = [p for p in state.past if p[0] >= first]
    predicted = [(_dt(i * step), v) for i, v, _, _ in past]
    lower = [(_dt(i * step), lo) for i, _, lo, _ in past if lo == lo]
    upper = [(_dt(i * step), hi) for i, _, _, hi in past if hi == hi]
    f = state.forecast
    future: list[tuple[datetime, float]] = []
    if f is not None:
        future = [
            (_dt(t), float(v)) for t, v in zip(f.timestamps(), f.values.tolist(), strict=True)
        ]
        if f.lower is not None and f.upper is not None:
            lower += [
                (_dt(t), float(v)) for t, v in zip(f.timestamps(), f.lower.tolist(), strict=True)
            ]
            upper += [
                (_dt(t), float(v)) for t, v in zip(f.timestamps(), f.upper.tolist(), strict=True)
            ]
    lines = [
        charts.Series("actual", "#3a78c9", actual),
        charts.Series(f"predicted ({state.watch.horizon} ahead)", "#d9621b", predicted),
        charts.Series("forecast", "#b3261e", future),
        charts.Series("90 % interval, low", "#c9b8a6", lower),
        charts.Series("high", "#c9b8a6", upper),
    ]
    unit = "per second" if state.counter else ""
    return charts.line_chart(lines, unit=unit, width=860, height=260, title=state.key)


def drift_chart(state: SeriesState) -> Markup:
    points = [(_dt(t), mae) for t, mae in state.drift_history]
    return charts.line_chart(
        [charts.Series("rolling MAE", "#7b4fc9", points)], width=860, height=160, title="drift"
    )


def router(sentinel: Sentinel, actions: ActionStore, env: Environment) -> APIRouter:
    """``/forecast``, ``/forecast/series/{id}`` and the page script."""
    r = APIRouter(include_in_schema=False)

    @r.get("/forecast/static/forecast.js")
    def script() -> FileResponse:
        return FileResponse(_STATIC / "forecast.js", media_type="text/javascript")

    @r.get("/forecast", response_class=HTMLResponse)
    def overview() -> HTMLResponse:
        status = sentinel.status()
        rows = [(key, series_id(key), s) for key, s in status.items()]
        return render(
            env,
            "forecast/overview.html",
            page="forecast",
            rows=rows,
            watches=sentinel.config.watches,
            prometheus_url=sentinel.config.prometheus_url,
            grafana_path=PROMETHEUS_BASE,
            actions=actions.recent(limit=10),
        )

    @r.get("/forecast/series/{sid}", response_class=HTMLResponse)
    def series_page(sid: str) -> HTMLResponse:
        state = next((s for s in sentinel.series() if series_id(s.key) == sid), None)
        if state is None:
            return not_found(env, f"No watched series has the id {sid[:64]!r}.")
        current = state.versions.current
        return render(
            env,
            "forecast/series.html",
            page="forecast",
            s=state,
            st=sentinel.status().get(state.key, {}),
            current=current,
            versions=list(reversed(state.versions.versions)),
            chart=series_chart(state),
            drift=drift_chart(state),
            events=[(_dt(t), text) for t, text in reversed(state.events)],
            actions=actions.recent(series=state.key, limit=10),
            when=_dt,
        )

    return r
