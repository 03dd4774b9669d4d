"""Dashboard pages of the capture domain: the issues, and one issue with its events."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse
from jinja2 import Environment
from markupsafe import Markup

from sentinel.capture import grouping
from sentinel.capture.store import HOUR_US, STATUSES, CaptureStore
from sentinel.core.charts import Series, line_chart
from sentinel.core.pages import not_found, render

PAGE = 50
SPARK_HOURS = 24


def sparkline(counts: list[int], width: int = 120, height: int = 26) -> Markup:
    """A tiny inline SVG of events per hour, oldest on the left."""
    top = max(counts) or 1
    step = width / max(len(counts) - 1, 1)
    points = " ".join(
        f"{i * step:.1f},{height - 2 - (n / top) * (height - 4):.1f}" for i, n in enumerate(counts)
    )
    total = sum(counts)
    return Markup(
        f'<svg class="sparkline" width="{width}" height="{height}" viewBox="0 0 {width} {height}"'
        f' role="img" aria-label="{total} events in the last {len(counts)} hours">'
        f'<polyline fill="none" stroke="#d9621b" stroke-width="1.5" points="{points}"/></svg>'
    )


def _now_us() -> int:
    return int(datetime.now(timezone.utc).timestamp() * 1e6)


def router(store: CaptureStore, templates: Environment) -> APIRouter:
    """The ``/capture`` pages over ``store``."""
    r = APIRouter(include_in_schema=False)

    @r.get("/capture")
    def issues_page(
        status: Annotated[str, Query()] = "open",
        repo: Annotated[str, Query()] = "",
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> HTMLResponse:
        chosen = status if status in STATUSES else ""
        issues, total = store.issues(status=chosen, repo=repo, limit=PAGE, offset=offset)
        spark = store.hourly([i.issue_id for i in issues], SPARK_HOURS, _now_us())

        def link(**changes: Any) -> str:
            query = {"status": status, "repo": repo, "offset": offset, **changes}
            return "/capture?" + urlencode({k: v for k, v in query.items() if v not in ("", 0)})

        return render(
            templates,
            "capture/issues.html",
            page="capture",
            issues=issues,
            total=total,
            counts=store.counts(),
            repos=store.repos(),
            filter_status=chosen or "all",
            repo=repo,
            offset=offset,
            limit=PAGE,
            statuses=STATUSES,
            spark={k: sparkline(v) for k, v in spark.items()},
            link=link,
        )

    @r.get("/capture/issues/{issue_id}")
    def issue_page(issue_id: str, event: Annotated[str, Query()] = "") -> HTMLResponse:
        issue = store.issue(issue_id)
        if issue is None:
            return not_found(templates, f"No issue has id {issue_id}.")
        events = store.events(issue_id, limit=PAGE)
        shown = store.event(event) if event else (events[0] if events else None)
        if shown is not None and shown.issue_id != issue_id:
            shown = None
        frames = grouping.parse_frames(shown.stack_trace) if shown else []
        now_us = _now_us()
        hours = 24 * 7
        counts = store.hourly([issue_id], hours, now_us)[issue_id]
        first_hour = datetime.fromtimestamp((now_us // HOUR_US - hours + 1) * 3600, timezone.utc)
        chart = line_chart(
            [
                Series(
                    "events per hour",
                    "#d9621b",
                    [(first_hour + timedelta(hours=i), float(n)) for i, n in enumerate(counts)],
                )
            ],
            unit="/h",
            height=160,
            title="Events per hour, last 7 days",
        )
        return render(
            templates,
            "capture/issue.html",
            page="capture",
            issue=issue,
            events=events,
            shown=shown,
            frames=[(f, grouping.github_url(issue.github_repo, f)) for f in reversed(frames)],
            endpoints=store.endpoints(issue_id),
            chart=chart,
            statuses=STATUSES,
        )

    return r
