"""What every domain's dashboard pages share: the Jinja2 environment, filters, rendering.

The server builds one environment: its own templates (``base.html`` with the navigation bar,
``error.html``, the home page) at the root, and each enabled domain's ``templates`` folder
under the domain's name (``fleet/gpu.html``), so two domains never shadow each other's
pages.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader, select_autoescape


def age(ts: datetime | None) -> str:
    """How long ago ``ts`` was, in the largest unit that reads well ("3.5 h ago")."""
    if ts is None:
        return "never"
    s = (datetime.now(timezone.utc) - ts).total_seconds()
    if s < 60:
        return f"{max(s, 0):.0f} s ago"
    if s < 3600:
        return f"{s / 60:.0f} min ago"
    if s < 86400:
        return f"{s / 3600:.1f} h ago"
    return f"{s / 86400:.1f} d ago"


def when(ts: datetime | None) -> str:
    """``ts`` as a UTC timestamp to the second; a dash for none."""
    return ts.strftime("%Y-%m-%d %H:%M:%S UTC") if ts else "—"


def make_templates(root: Path, domains: Mapping[str, Path]) -> Environment:
    """The dashboard's environment: ``root``'s templates, and each domain's under its name."""
    env = Environment(
        loader=ChoiceLoader(
            [
                FileSystemLoader(root),
                PrefixLoader({name: FileSystemLoader(path) for name, path in domains.items()}),
            ]
        ),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["age"] = age
    env.filters["when"] = when
    return env


def render(env: Environment, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """The template ``name`` rendered with ``context`` as an HTML response."""
    return HTMLResponse(env.get_template(name).render(**context), status_code=status)


def not_found(env: Environment, message: str) -> HTMLResponse:
    """The dashboard's 404 page, saying what was not found."""
    return render(env, "error.html", status=404, page="", title="Not found", message=message)
