"""The runs dashboard pages, the home card, ``related`` for a GPU, and the demo."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import urlopen

import pytest
from _runs_testing import call, csv_text
from sentinel_testing import register_host, start_server, wait_for

GPU = "GPU-12345678-aaaa-bbbb-cccc-ddddeeeeffff"


def page(url: str) -> str:
    with urlopen(url, timeout=30) as resp:
        return str(resp.read().decode())


def finished_run(s: Any, token: str, **meta: Any) -> str:
    _, run = call(f"{s}/runs", token=token, body=meta)
    status, done = call(
        f"{s}/runs/{run['run_id']}/finish",
        token=token,
        body={
            "exit_code": 0,
            "run_status": "finished",
            "data_source": "inline",
            "data_csv": csv_text(),
        },
    )
    assert status == 200, done
    return str(run["run_id"])


def test_list_filters_and_run_page(runs_server: Any) -> None:
    s = runs_server
    rid = finished_run(
        s.url, s.token, project_name="vision", job_name="train", host_gpu_uuids=[GPU]
    )
    call(f"{s.url}/runs", token=s.token, body={"project_name": "nlp", "job_name": "still-going"})
    listing = page(f"{s.url}/runs?project=vision")
    assert rid in listing and "still-going" not in listing
    running = page(f"{s.url}/runs?status=running")
    assert "still-going" in running and rid not in running
    detail = page(f"{s.url}/runs/{rid}")
    assert f'href="/gpus/{GPU}"' in detail
    assert detail.count("<svg") >= 6
    assert "Recommendation" in detail and 'data-resource="cpu"' in detail
    with pytest.raises(HTTPError) as missing:
        page(f"{s.url}/runs/not-a-run")
    assert missing.value.code == 404
    missing.value.close()


def test_card_and_related(runs_server: Any) -> None:
    s = runs_server
    rid = finished_run(s.url, s.token, project_name="vision", host_gpu_uuids=[GPU])
    (found,) = s.domain.related("gpu", GPU)
    assert found.href == f"/runs/{rid}" and "vision" in found.label
    assert s.domain.related("gpu", "GPU-other") == []
    card = s.domain.card()
    assert ("finished", "1") in card.figures and card.items[0][2] == f"/runs/{rid}"


def test_on_the_server_fleet_gpu_page_lists_the_run(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    try:
        (uuid,) = register_host(server.engine, "node-1", 1)
        token = server.tokens.create("runs", name="t")[1]
        rid = finished_run(server.http_url, token, project_name="fleet-link", host_gpu_uuids=[uuid])
        assert f"/runs/{rid}" in page(f"{server.http_url}/gpus/{uuid}")
        assert f'href="/gpus/{uuid}"' in page(f"{server.http_url}/runs/{rid}")
    finally:
        server.stop()


def test_demo_registers_and_finishes_runs(tmp_path: Path) -> None:
    server = start_server(tmp_path, domains=("runs",))
    try:
        demo = server.domains["runs"].demo(server)
        demo.start()
        try:
            wait_for(lambda: len(demo.finished) == 4, "the demo's four runs", timeout=60)
        finally:
            demo.stop()
        counts = server.runs.store.counts()
        assert counts == {"running": 0, "finished": 3, "failed": 1}
        assert "nightly-features" in page(f"{server.http_url}/runs")
    finally:
        server.stop()
