"""The tracker against a real Sentinel server: local object store, S3 (moto_server), CLI."""

from __future__ import annotations

import gzip
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sentinel_testing import start_server

from sentinel.runs import _upload, api
from sentinel.runs._procfs import COLUMNS
from sentinel.runs.tracker import ResourceTracker

WORK = "import time\nwhile time.process_time() < {seconds}: pass\n"
"""Burns this much CPU time (not wall time: the machine may be busy with other tests)."""
TRACK = [sys.executable, "-c", "from sentinel._cli.track import track; track()"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def moto() -> Iterator[str]:
    """A real moto_server on a free loopback port; yields its URL."""
    port = _free_port()
    binary = Path(sys.executable).parent / "moto_server"
    with subprocess.Popen(
        [str(binary), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as proc:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(
                        "moto_server did not start: pip install 'moto[server]'"
                    ) from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
        proc.terminate()


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    server = start_server(tmp_path, domains=("runs",))
    monkeypatch.setenv("SENTINEL_API_URL", server.http_url)
    yield server
    server.stop()


def _token(server: Any) -> str:
    return str(server.tokens.create("runs")[1])


def _work(seconds: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", WORK.format(seconds=seconds)])


def _exited(work: subprocess.Popen[bytes]) -> None:
    """Wait for the work to end, unreaped, so the tracker's last sample still reads it."""
    os.waitid(os.P_PID, work.pid, os.WEXITED | os.WNOWAIT)


def _objects(tmp_path: Path, run_id: str) -> list[Path]:
    return sorted((tmp_path / "data").rglob(f"{run_id}/*.csv.gz"))


def test_batches_stream_to_the_server_and_finish_with_statistics(
    server: Any, tmp_path: Path
) -> None:
    work = _work(2.0)
    with ResourceTracker(
        work.pid, interval=0.2, upload_interval=0.5, token=_token(server)
    ) as tracker:
        assert tracker.run_url == f"{server.http_url}/runs/{tracker.run_id}"
        _exited(work)
    work.wait()
    assert tracker.error is None and tracker.result is not None
    stats = tracker.result["statistics"]
    assert stats["samples"] == tracker.samples  # every row arrived, the tail included
    assert 1.6 <= stats["cpu_core_hours"] * 3600 <= 2.6  # the 2 s of CPU the work burnt
    objects = _objects(tmp_path, tracker.run_id or "")
    assert len(objects) >= 2
    # each object is a whole CSV with its header, like the published client's
    assert all(gzip.decompress(o.read_bytes()).startswith(b'"timestamp",') for o in objects)
    assert not tracker.csv_path.exists()  # the server has it: the temporary CSV is gone


def test_the_tail_is_uploaded_at_stop(server: Any, tmp_path: Path) -> None:
    work = _work(0.6)
    with ResourceTracker(
        work.pid, interval=0.1, upload_interval=3600, token=_token(server)
    ) as tracker:
        work.wait()
    assert tracker.result is not None
    assert tracker.result["statistics"]["samples"] == tracker.samples
    assert len(_objects(tmp_path, tracker.run_id or "")) == 1  # one final batch


def test_credentials_are_refreshed_and_the_new_ones_used(
    server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # refresh before every batch; the server revokes the old session token on refresh,
    # so uploads only keep working with the refreshed credentials
    monkeypatch.setattr(_upload, "_REFRESH_SHARE", 1.0)
    monkeypatch.setattr(_upload, "_REFRESH_MARGIN_S", float("inf"))
    refreshed: list[str] = []
    real = api.refresh_credentials

    def counting(token: str | None, run_id: str) -> dict[str, Any]:
        refreshed.append(run_id)
        return real(token, run_id)

    monkeypatch.setattr(api, "refresh_credentials", counting)
    work = _work(1.8)
    with ResourceTracker(
        work.pid, interval=0.2, upload_interval=0.5, token=_token(server)
    ) as tracker:
        work.wait()
    assert len(refreshed) >= 2
    assert tracker.result is not None and tracker.error is None
    assert tracker.result["statistics"]["samples"] == tracker.samples


def test_track_command_reports_the_run_and_its_failure(server: Any) -> None:
    token = _token(server)
    done = subprocess.run(
        [
            *TRACK,
            "--interval",
            "0.1",
            "--project",
            "demo",
            "--tag",
            "team=ml",
            "--",
            sys.executable,
            "-c",
            WORK.format(seconds=0.5) + "raise SystemExit(3)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={
            "PATH": "/usr/bin:/bin",
            "SENTINEL_API_URL": server.http_url,
            "SENTINEL_API_TOKEN": token,
        },
    )
    assert done.returncode == 3, done.stderr
    found = re.search(rf"{re.escape(server.http_url)}/runs/([0-9a-f-]+)", done.stderr)
    assert found, done.stderr
    assert "finished run" in done.stderr
    # finishing again returns what the tracker's finish stored
    csv = ",".join(COLUMNS) + "\n" + ",".join("1" for _ in COLUMNS) + "\n"
    again = api.finish_run(token, found[1], data_source=api.DataSource.inline, data_csv=csv)
    assert again["run_status"] == "failed" and again["exit_code"] == 3


def test_batches_go_to_s3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moto: str) -> None:
    import boto3

    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "SENTINEL_RUNS_S3_BUCKET": "runs-data",
        "SENTINEL_RUNS_S3_ENDPOINT_URL": moto,
        "SENTINEL_RUNS_STS_ROLE_ARN": "arn:aws:iam::123456789012:role/run-uploads",
    }.items():
        monkeypatch.setenv(name, value)
    s3 = boto3.client("s3", endpoint_url=moto)
    s3.create_bucket(Bucket="runs-data")
    server = start_server(tmp_path, domains=("runs",))
    monkeypatch.setenv("SENTINEL_API_URL", server.http_url)
    try:
        work = _work(1.5)
        with ResourceTracker(
            work.pid, interval=0.2, upload_interval=0.5, token=_token(server)
        ) as tracker:
            work.wait()
    finally:
        server.stop()
    assert tracker.error is None and tracker.result is not None
    assert tracker.result["statistics"]["samples"] == tracker.samples
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="runs-data")["Contents"]]
    assert len(keys) >= 2
    assert all(key.startswith(f"runs/{tracker.run_id}/") for key in keys)
