"""The runs dashboard: the list of runs (by project and status) and one run's page.

Like the fleet's pages they are read-only and server-rendered; charts are inline SVG from
the statistics' downsampled series, so a run page needs nothing but its stored row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse
from jinja2 import Environment
from markupsafe import Markup

from sentinel.core import charts
from sentinel.core.pages import not_found, render
from sentinel.runs.store import STATUSES, RunStore

PAGE_SIZE = 50
CHARTS: Sequence[tuple[str, str, Sequence[tuple[str, str, str]]]] = (
    (
        "CPU",
        "cores",
        (("process", "#3a78c9", "process_cpu_usage"), ("system", "#9aa3b5", "system_cpu_usage")),
    ),
    (
        "Memory",
        "MiB",
        (
            ("process", "#7b4fc9", "process_memory_mib"),
            ("system used", "#9aa3b5", "system_memory_used_mib"),
        ),
    ),
    (
        "GPU",
        "GPUs",
        (("process", "#2e9e5b", "process_gpu_usage"), ("system", "#9aa3b5", "system_gpu_usage")),
    ),
    (
        "VRAM",
        "MiB",
        (
            ("process", "#1f7a4d", "process_gpu_vram_mib"),
            ("system", "#9aa3b5", "system_gpu_vram_mib"),
        ),
    ),
    (
        "Disk I/O",
        "B",
        (
            ("read", "#d9621b", "process_disk_read_bytes"),
            ("write", "#b3261e", "process_disk_write_bytes"),
        ),
    ),
    (
        "Network",
        "B",
        (
            ("received", "#3a78c9", "system_net_recv_bytes"),
            ("sent", "#d9a21b", "system_net_sent_bytes"),
        ),
    ),
)
"""The run page's plots: title, unit and ``(label, colour, series name)`` lines."""


def _points(raw: Sequence[Sequence[float]]) -> list[tuple[datetime, float]]:
    return [(datetime.fromtimestamp(t, tz=timezone.utc), float(v)) for t, v in raw]


def run_charts(statistics: dict[str, Any]) -> list[tuple[str, Markup]]:
    """The run page's plots from the stored statistics' ``series``."""
    series = statistics.get("series") or {}
    out = []
    for title, unit, lines in CHARTS:
        drawn = [
            charts.Series(label, color, _points(series[name]))
            for label, color, name in lines
            if name in series
        ]
        out.append((title, charts.line_chart(drawn, unit=unit, width=640, height=200, title=title)))
    return out


def router(store: RunStore, env: Environment) -> APIRouter:
    """The HTML pages ``/runs`` and ``/runs/{run_id}``; not part of the OpenAPI schema."""
    r = APIRouter(include_in_schema=False)

    @r.get("/runs", response_class=HTMLResponse)
    def runs_page(
        project: Annotated[str, Query(max_length=255)] = "",
        status: Annotated[str, Query(pattern=f"^({'|'.join(STATUSES)})?$")] = "",
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> HTMLResponse:
        page, total = store.search(project=project, status=status, limit=PAGE_SIZE, offset=offset)

        def link(**changes: Any) -> str:
            params = {"project": project, "status": status, "offset": offset, **changes}
            return "/runs?" + urlencode({k: v for k, v in params.items() if v not in ("", 0)})

        return render(
            env,
            "runs/runs.html",
            page="runs",
            runs=page,
            total=total,
            offset=offset,
            limit=PAGE_SIZE,
            counts=store.counts(),
            projects=store.projects(),
            filters={"project": project, "status": status},
            statuses=STATUSES,
            link=link,
        )

    @r.get("/runs/{run_id}", response_class=HTMLResponse)
    def run_page(run_id: str) -> HTMLResponse:
        run = store.get(run_id) if len(run_id) <= 36 else None
        if run is None:
            return not_found(env, f"No run {run_id[:64]!r} is registered with this server.")
        statistics = run.statistics or {}
        return render(
            env,
            "runs/run.html",
            page="runs",
            run=run,
            s=statistics,
            charts=run_charts(statistics) if statistics else [],
            advice=statistics.get("recommendation") or {},
            metrics=statistics.get("metrics") or {},
        )

    return r
