"""The LLM dashboard: the anomaly list (by type, severity, service) and one anomaly's page
with a chart of its metric over the windows around it.

Read-only and server-rendered like every domain's pages; the chart is inline SVG.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse
from jinja2 import Environment

from sentinel.core import charts
from sentinel.core.pages import not_found, render
from sentinel.llm.findings import Anomaly
from sentinel.llm.store import LlmStore
from sentinel.llm.types import AnomalyType, Severity

PAGE_SIZE = 50
SPAN_WINDOWS = 30
"""Windows charted on each side of an anomaly."""
UNITS = {
    "count": "events",
    "error_rate": "",
    "latency_p50_ms": "ms",
    "latency_p95_ms": "ms",
    "latency_mean_ms": "ms",
    "tokens_mean": "tokens",
    "prompt_tokens_mean": "tokens",
    "completion_tokens_mean": "tokens",
    "cost_usd": "USD",
    "cost_per_1k_tokens": "USD",
    "quality_mean": "",
    "ungrounded_rate": "",
    "judged": "events",
}
_TYPES = "|".join(t.value for t in AnomalyType)
_SEVERITIES = "|".join(s.value for s in Severity)


def anomaly_chart(store: LlmStore, a: Anomaly, window_s: int) -> Any:
    """The anomaly's metric over the windows around it, its span marked."""
    windows = store.windows(
        a.service,
        a.model,
        a.window_start - SPAN_WINDOWS * window_s,
        a.window_end + SPAN_WINDOWS * window_s,
    )
    metric = a.metric if a.metric in UNITS else "count"
    points = []
    for t, f in windows:
        v = f.get(metric)
        if v is not None and math.isfinite(v):
            points.append((t, float(v)))
    markers = [
        charts.Marker(a.start, "#b3261e", "start"),
        charts.Marker(a.end, "#9aa3b5", "end"),
    ]
    return charts.line_chart(
        [charts.Series(metric, "#3a78c9", points)],
        markers=markers,
        unit=UNITS[metric],
        width=720,
        height=220,
        title=f"{metric} of {a.service} / {a.model}",
    )


def router(store: LlmStore, env: Environment, window_s: int) -> APIRouter:
    """The HTML pages ``/llm`` and ``/llm/anomalies/{id}``; not part of the OpenAPI schema."""
    r = APIRouter(include_in_schema=False)

    @r.get("/llm", response_class=HTMLResponse)
    def anomalies_page(
        type: Annotated[str, Query(pattern=f"^({_TYPES})?$")] = "",
        severity: Annotated[str, Query(pattern=f"^({_SEVERITIES})?$")] = "",
        service: Annotated[str, Query(max_length=255)] = "",
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> HTMLResponse:
        page, total = store.search(
            anomaly_type=type, severity=severity, service=service, limit=PAGE_SIZE, offset=offset
        )

        def link(**changes: Any) -> str:
            params = {
                "type": type,
                "severity": severity,
                "service": service,
                "offset": offset,
                **changes,
            }
            return "/llm?" + urlencode({k: v for k, v in params.items() if v not in ("", 0)})

        return render(
            env,
            "llm/anomalies.html",
            page="llm",
            anomalies=page,
            total=total,
            offset=offset,
            limit=PAGE_SIZE,
            counts=store.counts(),
            types=[t.value for t in AnomalyType],
            severities=[s.value for s in Severity],
            filters={"type": type, "severity": severity, "service": service},
            baselines=store.baselines(),
            link=link,
            now=datetime.now(timezone.utc),
        )

    @r.get("/llm/anomalies/{anomaly_id}", response_class=HTMLResponse)
    def anomaly_page(anomaly_id: str) -> HTMLResponse:
        a = store.get(anomaly_id) if len(anomaly_id) <= 36 else None
        if a is None:
            return not_found(env, f"No LLM anomaly {anomaly_id[:64]!r} is stored here.")
        return render(
            env,
            "llm/anomaly.html",
            page="llm",
            a=a,
            chart=anomaly_chart(store, a, window_s),
        )

    return r
