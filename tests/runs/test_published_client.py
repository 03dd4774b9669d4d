"""The published Spare Cores client (PyPI ``resource-tracker``) against a real Sentinel server,
unchanged: its three calls, its streaming manager without S3, and a 200 MB body."""

from __future__ import annotations

import gzip
import http.client
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from _runs_testing import csv_text

sentinel_api = pytest.importorskip(
    "resource_tracker.sentinel_api", reason="pip install 'resource-tracker==0.5.0' (test extra)"
)


@pytest.fixture
def published(db_server: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, str]:
    """The real server (SQLite, then PostgreSQL), the published client pointed at it."""
    monkeypatch.setenv("SENTINEL_API_URL", db_server.http_url)
    return db_server, db_server.tokens.create("runs", name="published-client")[1]


def test_three_calls(published: tuple[Any, str]) -> None:
    server, token = published
    run = sentinel_api.register_run(
        token,
        metadata={
            "project_name": "interop",
            "command": "python train.py --epochs 2",
            "tags": {"k": "v"},
        },
        host_info={"host_vcpus": 8, "host_gpu_uuids": ["GPU-00000001-aaaa-bbbb-cccc-ddddeeeeffff"]},
        cloud_info={"cloud_vendor_id": "aws", "cloud_instance_type": "g5.xlarge"},
    )
    assert run["upload_uri_prefix"].endswith(run["run_id"])
    fresh = sentinel_api.refresh_credentials(token, run["run_id"])
    assert fresh["upload_credentials"]["expiration"]
    done = sentinel_api.finish_run(
        token,
        run["run_id"],
        exit_code=0,
        data_source=sentinel_api.DataSource.inline,
        data_csv=csv_text(300),
    )
    assert done["statistics"]["samples"] == 300
    assert done["statistics"]["recommendation"]["cpu"]["reason"]
    stored = server.runs.store.get(run["run_id"])
    assert stored.metadata["command"] == ["python", "train.py", "--epochs", "2"]
    assert stored.metadata["cloud_instance_type"] == "g5.xlarge"
    with pytest.raises(sentinel_api.SentinelAPIError) as refused:
        sentinel_api.refresh_credentials(token, run["run_id"])
    assert refused.value.status_code == 409 and json.loads(refused.value.body)["error"]
    with pytest.raises(sentinel_api.SentinelAPIError) as wrong:
        sentinel_api.register_run("snt_runs_not-a-token")
    assert wrong.value.status_code == 401


def test_streaming_manager_without_s3_finishes_inline(
    published: tuple[Any, str], tmp_path: Path
) -> None:
    """Without S3 the published client cannot upload to ``sentinel-local://`` (it logs a
    warning per batch), so it hands the whole CSV over inline at the end."""
    from resource_tracker.streaming import StreamingManager

    server, token = published
    path = tmp_path / "metrics.csv"
    path.write_text(csv_text(90))
    manager = StreamingManager(token, csv_path=str(path), metadata={"project_name": "stream"})
    manager.start()
    result = manager.stop(exit_code=0)
    assert result["statistics"]["samples"] == 90
    assert server.runs.store.get(manager.run_id).data_source == "inline"


def test_two_hundred_megabytes_is_413(published: tuple[Any, str]) -> None:
    server, token = published
    run = sentinel_api.register_run(token)
    url = urlparse(server.http_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    size = 200 * 1024 * 1024
    conn.putrequest("POST", f"/runs/{run['run_id']}/finish")
    conn.putheader("Authorization", f"Bearer {token}")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Encoding", "gzip")
    conn.putheader("Content-Length", str(size))
    conn.endheaders()
    try:
        conn.send(gzip.compress(b"{}") + b" " * (1024 * 1024))
    except OSError:
        pass  # the server may answer and stop reading first
    try:
        answer = conn.getresponse()
        assert answer.status == 413
        assert "bytes" in json.loads(answer.read())["error"]
    finally:
        conn.close()
    assert server.runs.store.get(run["run_id"]).status == "running"
