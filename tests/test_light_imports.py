"""Client paths must not pull in the server stack (ARCHITECTURE.md, 'Client-side code is light')."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = (
    "sqlalchemy",
    "fastapi",
    "alembic",
    "uvicorn",
    "numpy",
    "prometheus_client",
    "sklearn",
    "torch",
    "boto3",
)
CLIENTS = [
    "sentinel",
    "sentinel.fleet",
    "sentinel.fleet.types",
    "sentinel.runs",
    "sentinel.runs.api",
    "sentinel.capture",
    "sentinel.llm",
]


@pytest.mark.parametrize("module", CLIENTS)
def test_import_stays_light(module: str) -> None:
    code = (
        f"import sys, {module}; "
        f"loaded = [m for m in {HEAVY!r} if m in sys.modules]; "
        "print(','.join(loaded))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"import {module} loaded {out.stdout.strip()}"
