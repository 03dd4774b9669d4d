"""The runs routes against a real HTTP server, on SQLite and PostgreSQL: every refusal is a
JSON error with the right status, and a refused request leaves the database unchanged."""

from __future__ import annotations

import gzip
from typing import Any

import pytest
from _runs_testing import call, csv_text, gz

FINISH = {"exit_code": 0, "run_status": "finished", "data_source": "inline"}


def register(s: Any, token: str | None = None, **meta: Any) -> dict[str, Any]:
    status, body = call(f"{s.url}/runs", token=token or s.token, body=meta)
    assert status == 201, body
    return dict(body)


def snapshot(s: Any) -> Any:
    page, total = s.domain.runs.store.search(limit=500)
    return total, [(r.run_id, r.status) for r in page]


def test_register_refresh_finish_inline(runs_server: Any) -> None:
    s = runs_server
    run = register(s, project_name="p", command='["python", "train.py"]', host_gpu_uuids=["GPU-a"])
    assert run["upload_uri_prefix"] == f"sentinel-local://runs/{run['run_id']}"
    creds = run["upload_credentials"]
    assert set(creds) >= {"access_key", "secret_key", "session_token", "expiration", "region"}
    status, fresh = call(f"{s.url}/runs/{run['run_id']}/refresh-credentials", token=s.token)
    assert status == 200 and fresh["upload_credentials"]["session_token"] != creds["session_token"]
    body = gz({**FINISH, "data_csv": csv_text()})
    status, done = call(
        f"{s.url}/runs/{run['run_id']}/finish",
        token=s.token,
        raw=body,
        headers={"Content-Encoding": "gzip"},
    )
    assert status == 200, done
    assert done["run_status"] == "finished" and done["statistics"]["samples"] == 120
    assert "series" not in done["statistics"]
    stored = s.domain.runs.store.get(run["run_id"])
    assert stored.metadata["command"] == ["python", "train.py"] and stored.statistics["series"]
    # Its duration is what the data covers (120 samples), not the instant it took to finish.
    assert stored.duration_s == done["statistics"]["duration_s"] > 100
    # Idempotent: a second finish (even with other data) answers the same statistics.
    again = call(
        f"{s.url}/runs/{run['run_id']}/finish",
        token=s.token,
        body={**FINISH, "data_csv": csv_text(5)},
    )
    assert again == (200, done)
    # A finished run takes no more credentials.
    status, err = call(f"{s.url}/runs/{run['run_id']}/refresh-credentials", token=s.token)
    assert status == 409 and "already finished" in err["error"]


def test_local_uploads_then_finish_from_objects(runs_server: Any) -> None:
    s = runs_server
    run = register(s)
    rid, token = run["run_id"], run["upload_credentials"]["session_token"]
    text = csv_text(200).splitlines(keepends=True)
    header, rows = text[0], text[1:]
    uris = []
    for n, part in enumerate((rows[:100], rows[100:]), start=1):
        status, got = call(
            f"{s.url}/runs/{rid}/objects/{n:04d}.csv.gz",
            "PUT",
            token=token,
            raw=gzip.compress((header + "".join(part)).encode()),
        )
        assert status == 201, got
        uris.append(got["uri"])
    assert uris[0] == f"{run['upload_uri_prefix']}/0001.csv.gz"
    status, done = call(
        f"{s.url}/runs/{rid}/finish",
        token=s.token,
        body={"exit_code": 3, "run_status": "failed", "data_source": "s3", "data_uris": uris},
    )
    assert status == 200, done
    assert done["statistics"]["samples"] == 200 and done["exit_code"] == 3
    # Uploads end with the run.
    status, err = call(
        f"{s.url}/runs/{rid}/objects/0003.csv.gz", "PUT", token=token, raw=gzip.compress(b"x")
    )
    assert status == 409


def test_upload_refusals(runs_server: Any) -> None:
    s = runs_server
    run = register(s)
    rid, token = run["run_id"], run["upload_credentials"]["session_token"]
    url = f"{s.url}/runs/{rid}/objects"
    data = gzip.compress(csv_text(3).encode())
    assert call(f"{url}/0001.csv.gz", "PUT", token=s.token, raw=data)[0] == 401  # the API token
    assert call(f"{url}/0001.csv.gz", "PUT", raw=data)[0] == 401
    assert call(f"{url}/0001.csv.gz", "PUT", token=token, raw=b"plain text")[0] == 400
    assert call(f"{url}/.hidden", "PUT", token=token, raw=data)[0] == 422
    assert call(f"{s.url}/runs/nope/objects/a.gz", "PUT", token=token, raw=data)[0] == 404
    # Refreshing replaces the session token: the old one stops working.
    call(f"{s.url}/runs/{rid}/refresh-credentials", token=s.token)
    assert call(f"{url}/0001.csv.gz", "PUT", token=token, raw=data)[0] == 401
    assert not (s.domain.runs.objects.root / rid).exists()


def test_finish_refuses_uris_outside_the_run(runs_server: Any) -> None:
    s = runs_server
    a, b = register(s), register(s)
    tok = a["upload_credentials"]["session_token"]
    status, _ = call(
        f"{s.url}/runs/{a['run_id']}/objects/0001.csv.gz",
        "PUT",
        token=tok,
        raw=gzip.compress(csv_text(10).encode()),
    )
    assert status == 201
    for uri in (
        f"{b['upload_uri_prefix']}/../{a['run_id']}/0001.csv.gz",
        f"{a['upload_uri_prefix']}/0001.csv.gz",
        f"{b['upload_uri_prefix']}0001.csv.gz",
        "s3://elsewhere/runs/0001.csv.gz",
        f"{b['upload_uri_prefix']}/sub/0001.csv.gz",
    ):
        status, err = call(
            f"{s.url}/runs/{b['run_id']}/finish",
            token=s.token,
            body={**FINISH, "data_source": "s3", "data_uris": [uri]},
        )
        assert status == 422 and "not under this run's prefix" in err["error"], uri
    status, err = call(
        f"{s.url}/runs/{a['run_id']}/finish",
        token=s.token,
        body={
            **FINISH,
            "data_source": "s3",
            "data_uris": [f"{a['upload_uri_prefix']}/0002.csv.gz"],
        },
    )
    assert status == 422 and "no object" in err["error"]
    assert s.domain.runs.store.get(a["run_id"]).status == "running"


@pytest.mark.parametrize(
    ("body", "status", "names"),
    [
        ({"pid": -1, "project_name": 5}, 422, ["pid", "project_name"]),
        ({"command": "python x.py"}, 422, ["command"]),
        ({"tags": ["a"]}, 422, ["tags"]),
        ({"host_gpu_uuids": "GPU 1 with spaces"}, 422, ["host_gpu_uuids"]),
        ({"cloud_nested": {"a": 1}}, 422, ["cloud_nested"]),
        ([1, 2], 422, ["JSON object"]),
    ],
)
def test_register_bad_fields(runs_server: Any, body: Any, status: int, names: list[str]) -> None:
    before = snapshot(runs_server)
    got, err = call(f"{runs_server.url}/runs", token=runs_server.token, body=body)
    assert got == status
    for name in names:
        assert name in err["error"]
    assert snapshot(runs_server) == before


def test_register_needs_a_runs_token(runs_server: Any) -> None:
    s = runs_server
    before = snapshot(s)
    assert call(f"{s.url}/runs", body={})[0] == 401
    status, err = call(f"{s.url}/runs", token="snt_runs_wrong", body={})
    assert status == 401 and "unknown token" in err["error"]
    agent = s.domain.host.tokens.create("agent", host="h1")[1]
    assert call(f"{s.url}/runs", token=agent, body={})[0] == 403
    assert snapshot(s) == before


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({}, ["exit_code: missing", "run_status: missing", "data_source: missing"]),
        ({**FINISH, "exit_code": "0"}, ["exit_code"]),
        ({**FINISH, "run_status": "stale"}, ["run_status"]),
        ({**FINISH}, ["data_csv: missing"]),
        ({**FINISH, "data_source": "s3"}, ["data_uris: missing"]),
        ({**FINISH, "data_source": "s3", "data_uris": "s3://x"}, ["data_uris"]),
        ({**FINISH, "data_csv": "timestamp,process_cpu_usage\n1,2\n"}, ["process_memory_mib"]),
    ],
)
def test_finish_bad_fields(runs_server: Any, body: Any, names: list[str]) -> None:
    s = runs_server
    rid = register(s)["run_id"]
    status, err = call(f"{s.url}/runs/{rid}/finish", token=s.token, body=body)
    assert status == 422, err
    for name in names:
        assert name in err["error"]
    assert s.domain.runs.store.get(rid).status == "running"


def test_finish_non_numeric_cell_names_it(runs_server: Any) -> None:
    s = runs_server
    rid = register(s)["run_id"]
    lines = csv_text(5).splitlines()
    cells = lines[3].split(",")
    cells[5] = "lots"
    lines[3] = ",".join(cells)
    status, err = call(
        f"{s.url}/runs/{rid}/finish", token=s.token, body={**FINISH, "data_csv": "\n".join(lines)}
    )
    assert status == 422 and "process_cpu_usage" in err["error"], err
    assert s.domain.runs.store.get(rid).status == "running"


def test_bodies_that_are_not_json_or_gzip(runs_server: Any) -> None:
    s = runs_server
    rid = register(s)["run_id"]
    url = f"{s.url}/runs/{rid}/finish"
    status, err = call(
        url, token=s.token, raw=b"\x1f\x8bnot gzip", headers={"Content-Encoding": "gzip"}
    )
    assert status == 400 and "gzip" in err["error"]
    status, err = call(
        url, token=s.token, raw=gz(FINISH)[:-8], headers={"Content-Encoding": "gzip"}
    )
    assert status == 400 and "truncated" in err["error"]
    assert call(url, token=s.token, raw=b"{not json")[0] == 400
    assert call(url, token=s.token, raw=b"{}", headers={"Content-Encoding": "br"})[0] == 415
    assert s.domain.runs.store.get(rid).status == "running"


def test_body_limits(runs_server: Any) -> None:
    s = runs_server
    rid = register(s)["run_id"]
    limits = s.domain.runs.settings
    # A gzip bomb: small on the wire, larger than max_data_bytes decompressed.
    bomb = gzip.compress(b" " * (limits.max_data_bytes + 1), compresslevel=9)
    status, err = call(
        f"{s.url}/runs/{rid}/finish", token=s.token, raw=bomb, headers={"Content-Encoding": "gzip"}
    )
    assert status == 413 and "decompresses" in err["error"]
    assert s.domain.runs.store.get(rid).status == "running"


def test_runs_belong_to_their_identity(runs_server: Any) -> None:
    s = runs_server
    rid = register(s, project_name="mine")["run_id"]
    for path in ("refresh-credentials", "finish"):
        status, err = call(
            f"{s.url}/runs/{rid}/{path}",
            token=s.other_token,
            body={**FINISH, "data_csv": csv_text(3)},
        )
        assert status == 404, err
    assert call(f"{s.url}/api/v1/runs/{rid}", "GET", token=s.other_token)[0] == 404
    assert call(f"{s.url}/api/v1/runs", "GET", token=s.other_token)[1]["total"] == 0
    assert call(f"{s.url}/api/v1/runs", "GET", token=s.token)[1]["total"] == 1
    # Operators see and may finish every run.
    status, listed = call(f"{s.url}/api/v1/runs?project=mine", "GET", token=s.operator_token)
    assert status == 200 and [r["run_id"] for r in listed["runs"]] == [rid]
    assert call(f"{s.url}/runs/unknown-run/finish", token=s.token, body=FINISH)[0] == 404
    assert s.domain.runs.store.get(rid).status == "running"


def test_listing_rejects_bad_parameters(runs_server: Any) -> None:
    s = runs_server
    assert call(f"{s.url}/api/v1/runs", "GET")[0] == 401
    assert call(f"{s.url}/api/v1/runs?status=bogus", "GET", token=s.token)[0] in (400, 422)
