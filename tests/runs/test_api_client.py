"""``sentinel.runs.api``: the seed's three calls against a real server, env defaults, errors,
and that it stays light and runs on Python 3.10."""

from __future__ import annotations

import glob
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from _runs_testing import csv_text

from sentinel.runs import api

SRC = Path(__file__).parents[2] / "src"


def test_seed_signatures_and_defaults() -> None:
    finish = inspect.signature(api.finish_run).parameters
    assert list(finish) == [
        "token", "run_id", "exit_code", "run_status", "data_source", "data_uris", "data_csv"
    ]  # fmt: skip
    assert finish["exit_code"].default == 0
    assert finish["run_status"].default is api.RunStatus.finished
    assert finish["data_source"].default is api.DataSource.s3
    assert list(inspect.signature(api.register_run).parameters) == [
        "token", "metadata", "host_info", "cloud_info"
    ]  # fmt: skip
    assert [s.value for s in api.RunStatus] == ["finished", "failed"]
    assert [s.value for s in api.DataSource] == ["s3", "inline"]
    err = api.SentinelAPIError(418, "teapot")
    assert (err.status_code, err.body) == (418, "teapot")


def test_register_refresh_finish_from_environment(api_env: Any) -> None:
    run = api.register_run(
        None,
        {"project_name": "client", "command": ["python", "x.py"], "job_name": None},
        host_info={"host_gpu_uuids": ["GPU-1"]},
    )
    creds = api.refresh_credentials(None, run["run_id"])["upload_credentials"]
    assert creds["expiration"] == creds["expires_at"]
    done = api.finish_run(
        None,
        run["run_id"],
        run_status=api.RunStatus.failed,
        exit_code=2,
        data_source=api.DataSource.inline,
        data_csv=csv_text(60),
    )
    assert (done["run_status"], done["exit_code"], done["statistics"]["samples"]) == (
        "failed",
        2,
        60,
    )
    stored = api_env.domain.runs.store.get(run["run_id"])
    assert stored.metadata == {
        "project_name": "client",
        "command": ["python", "x.py"],
        "host_gpu_uuids": ["GPU-1"],
    }
    assert stored.gpu_uuids == ["GPU-1"]


def test_errors(api_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(api.SentinelAPIError) as e:
        api.refresh_credentials(None, "no-such-run")
    assert e.value.status_code == 404 and "no run" in json.loads(e.value.body)["error"]
    with pytest.raises(ValueError, match="data_uris"):
        api.finish_run(None, "r")
    with pytest.raises(ValueError, match="data_csv"):
        api.finish_run(None, "r", data_source="inline")  # type: ignore[arg-type]
    monkeypatch.delenv("SENTINEL_API_TOKEN")
    with pytest.raises(ValueError, match="SENTINEL_API_TOKEN"):
        api.register_run()
    monkeypatch.delenv("SENTINEL_API_URL")
    assert api.api_url() == "http://127.0.0.1:8000"


def test_import_is_light() -> None:
    code = (
        "import sys, sentinel.runs, sentinel.runs.api; "
        "heavy = [m for m in ('fastapi', 'sqlalchemy', 'numpy', 'boto3') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=SRC
    )
    assert out.stdout.strip() == "[]"


def test_runs_on_python_310(api_env: Any) -> None:
    found = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.10.*/bin/python")))
    if not found:
        pytest.fail("Python 3.10 is missing: pyenv install 3.10")
    code = (
        f"import sys; sys.path.insert(0, {str(SRC)!r}); from sentinel.runs import api; "
        "run = api.register_run(None, {'project_name': 'py310'}); "
        "print(api.refresh_credentials(None, run['run_id'])['run_id'] == run['run_id'])"
    )
    out = subprocess.run(
        [found[-1], "-I", "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": ""},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"
