"""Run data in S3 (a real moto_server): STS credentials limited to the run, uploads with
them, finish reading the objects back; and the settings that choose the store."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _runs_testing import RunsServer, call, csv_text, start_runs_server

from sentinel.runs.objects import object_name, session_policy
from sentinel.runs.settings import RunsSettings

BUCKET = "sentinel-runs"
ROLE = "arn:aws:iam::123456789012:role/sentinel-runs-upload"


def s3_settings(moto_url: str, **changes: Any) -> RunsSettings:
    base: dict[str, Any] = {
        "s3_bucket": BUCKET,
        "s3_endpoint_url": moto_url,
        "s3_access_key": "server-key",
        "s3_secret_key": "server-secret",
        "sts_role_arn": ROLE,
    }
    return RunsSettings(**{**base, **changes})


def s3_client(moto_url: str, creds: dict[str, str] | None = None) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id=creds["access_key"] if creds else "server-key",
        aws_secret_access_key=creds["secret_key"] if creds else "server-secret",
        aws_session_token=(creds or {}).get("session_token") or None,
    )


@pytest.fixture
def s3_server(tmp_path: Path, moto_server: str) -> Iterator[tuple[RunsServer, str]]:
    s3_client(moto_server).create_bucket(Bucket=BUCKET)
    server, stop = start_runs_server(
        tmp_path, f"sqlite:///{tmp_path / 'runs.db'}", s3_settings(moto_server)
    )
    try:
        yield server, moto_server
    finally:
        stop()


def upload(moto_url: str, run: dict[str, Any], name: str, text: str) -> str:
    creds = run["upload_credentials"]
    key = f"{run['upload_uri_prefix'].removeprefix(f's3://{BUCKET}/')}/{name}"
    s3_client(moto_url, creds).put_object(
        Bucket=creds["bucket"], Key=key, Body=gzip.compress(text.encode())
    )
    return f"{run['upload_uri_prefix']}/{name}"


def test_sts_credentials_upload_and_finish(s3_server: tuple[RunsServer, str]) -> None:
    s, moto_url = s3_server
    status, run = call(f"{s.url}/runs", token=s.token, body={"project_name": "s3"})
    assert status == 201, run
    assert run["upload_uri_prefix"] == f"s3://{BUCKET}/runs/{run['run_id']}"
    creds = run["upload_credentials"]
    assert creds["session_token"] and creds["access_key"] != "server-key"
    assert creds["endpoint_url"] == moto_url and creds["region"] == "us-east-1"
    lines = csv_text(240).splitlines(keepends=True)
    uris = [
        upload(moto_url, run, "0001.csv.gz", "".join(lines[:121])),
        upload(moto_url, run, "0002.csv.gz", lines[0] + "".join(lines[121:])),
    ]
    status, fresh = call(f"{s.url}/runs/{run['run_id']}/refresh-credentials", token=s.token)
    assert status == 200 and fresh["upload_credentials"]["access_key"] != creds["access_key"]
    body = {"exit_code": 0, "run_status": "finished", "data_source": "s3"}
    status, err = call(
        f"{s.url}/runs/{run['run_id']}/finish",
        token=s.token,
        body={**body, "data_uris": [*uris, f"s3://{BUCKET}/runs/other-run/0001.csv.gz"]},
    )
    assert status == 422 and "not under this run's prefix" in err["error"]
    status, err = call(
        f"{s.url}/runs/{run['run_id']}/finish",
        token=s.token,
        body={**body, "data_uris": [*uris, f"{run['upload_uri_prefix']}/0009.csv.gz"]},
    )
    assert status == 422 and "no object" in err["error"]
    status, done = call(
        f"{s.url}/runs/{run['run_id']}/finish", token=s.token, body={**body, "data_uris": uris}
    )
    assert status == 200, done
    assert done["statistics"]["samples"] == 240
    # Local uploads are off when S3 is on.
    status, err = call(
        f"{s.url}/runs/{run['run_id']}/objects/0003.csv.gz", "PUT", token="x", raw=b"\x1f\x8b"
    )
    assert status in (404, 409)


def test_object_that_is_not_gzip_is_422(s3_server: tuple[RunsServer, str]) -> None:
    s, moto_url = s3_server
    _, run = call(f"{s.url}/runs", token=s.token, body={})
    key = f"runs/{run['run_id']}/0001.csv.gz"
    s3_client(moto_url).put_object(Bucket=BUCKET, Key=key, Body=b"plain,csv\n")
    status, err = call(
        f"{s.url}/runs/{run['run_id']}/finish",
        token=s.token,
        body={
            "exit_code": 0,
            "run_status": "finished",
            "data_source": "s3",
            "data_uris": [f"{run['upload_uri_prefix']}/0001.csv.gz"],
        },
    )
    assert status == 422 and "gzip" in err["error"]


def test_static_upload_keys_without_sts(tmp_path: Path, moto_server: str) -> None:
    settings = s3_settings(
        moto_server, sts_role_arn="", upload_access_key="uploader", upload_secret_key="up-secret"
    )
    server, stop = start_runs_server(tmp_path, f"sqlite:///{tmp_path / 'r.db'}", settings)
    try:
        _, run = call(f"{server.url}/runs", token=server.token, body={})
        creds = run["upload_credentials"]
        assert (creds["access_key"], creds["secret_key"], creds["session_token"]) == (
            "uploader",
            "up-secret",
            "",
        )
    finally:
        stop()


def test_session_policy_allows_only_the_run_prefix() -> None:
    policy = session_policy("b", "runs/r1/")
    (statement,) = policy["Statement"]
    assert statement["Resource"] == ["arn:aws:s3:::b/runs/r1/*"]
    assert statement["Action"] == ["s3:PutObject", "s3:AbortMultipartUpload"]


@pytest.mark.parametrize(
    ("uri", "name"),
    [
        ("s3://b/runs/r1/0001.csv.gz", "0001.csv.gz"),
        ("s3://b/runs/r1/../r2/0001.csv.gz", None),
        ("s3://b/runs/r1/a/b.gz", None),
        ("s3://b/runs/r10/0001.csv.gz", None),
        ("s3://b/runs/r1/..", None),
        ("s3://b/runs/r1/", None),
    ],
)
def test_object_name(uri: str, name: str | None) -> None:
    assert object_name(uri, "s3://b/runs/r1") == name


def test_settings_refuse_a_bucket_without_upload_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ValueError, match="STS_ROLE_ARN"):
        RunsSettings(s3_bucket="b")
    monkeypatch.setenv("SENTINEL_RUNS_CREDENTIALS_TTL_S", "60")
    with pytest.raises(ValueError, match="900 to 43200"):
        RunsSettings.from_env()
    monkeypatch.setenv("SENTINEL_RUNS_CREDENTIALS_TTL_S", "soon")
    with pytest.raises(ValueError, match="integer"):
        RunsSettings.from_env()
