"""The runs client under Python 3.10 with nothing installed: the standard library only."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from sentinel_testing import start_server

SRC = Path(__file__).resolve().parents[2] / "src"

CLIENT = """
import sys
from sentinel.runs import DataSource, RunStatus, SentinelAPIError, finish_run, register_run

run = register_run(None, {"project_name": "py310", "command": "python train.py --lr 0.1"})
try:
    register_run("snt_runs_not-a-token")
except SentinelAPIError as exc:
    assert exc.status_code == 401, exc.status_code
with open(sys.argv[1]) as f:
    done = finish_run(None, run["run_id"], run_status=RunStatus.failed, exit_code=3,
                      data_source=DataSource.inline, data_csv=f.read())
assert done["run_status"] == "failed", done
top = {m.split(".")[0] for m in sys.modules} - {"__main__"}
outside = sorted(top - set(sys.stdlib_module_names))
print(sys.version_info[:2], done["statistics"]["samples"], outside)
"""


def _python310() -> str:
    found = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.10.*/bin/python")))
    found = found or [p for p in (shutil.which("python3.10"),) if p]
    if not found:
        pytest.fail("no Python 3.10: install one (pyenv install 3.10) or put python3.10 on PATH")
    return found[-1]


def test_the_runs_client_runs_on_python_310_with_the_standard_library_only(
    tmp_path: Path,
) -> None:
    from sentinel.runs._demo import synthetic_csv

    csv = tmp_path / "metrics.csv"
    csv.write_text(synthetic_csv(60, cores=1.0, memory_mib=512, gpus=0, start=time.time(), seed=3))
    server = start_server(tmp_path, domains=("runs",))
    try:
        env = {
            "PYTHONPATH": str(SRC),
            "SENTINEL_API_URL": server.http_url,
            "SENTINEL_API_TOKEN": server.tokens.create("runs", name="py310")[1],
            "PATH": os.environ.get("PATH", ""),
        }
        done = subprocess.run(
            [_python310(), "-S", "-c", CLIENT, str(csv)],  # -S: not even site-packages
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "(3, 10) 60 ['sentinel']"
        (summary,) = server.runs.store.search(project="py310")[0]
        assert summary.status == "failed" and summary.exit_code == 3
    finally:
        server.stop()
