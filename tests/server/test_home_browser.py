"""The home page and the runs pages in headless Chromium: navigation across domains."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from playwright.sync_api import expect
from sentinel_testing import register_host

from sentinel.runs import DataSource, finish_run, register_run
from sentinel.runs._demo import synthetic_csv


def test_from_home_to_a_run_to_its_gpu_and_back(
    server: Any, page: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    gpu = register_host(server.engine, "node-a", 2, 0)[1]
    token = server.tokens.create("runs", name="ci")[1]
    monkeypatch.setenv("SENTINEL_API_URL", server.http_url)
    run = register_run(
        token,
        {"project_name": "vision", "job_name": "resnet", "command": ["python", "train.py"]},
        host_info={"host_gpu_uuids": [gpu]},
    )
    csv = synthetic_csv(120, cores=2.0, memory_mib=4096, gpus=1, start=time.time() - 120, seed=1)
    finish_run(token, run["run_id"], data_source=DataSource.inline, data_csv=csv)
    register_run(token, {"project_name": "nlp", "job_name": "still-going"})

    page.goto(server.http_url + "/")
    expect(page.locator('nav a[aria-current="page"]')).to_have_text("Home")
    fleet_card = page.locator('[data-domain-card="/fleet"]')
    expect(fleet_card).to_contain_text("GPU fleet")
    expect(fleet_card.locator("dd").first).to_have_text("2")
    runs_card = page.locator('[data-domain-card="/runs"]')
    expect(runs_card).to_contain_text("vision / resnet")
    runs_card.get_by_role("link", name="vision / resnet").click()

    expect(page.locator("#run-head h1")).to_contain_text(run["run_id"])
    expect(page.locator('nav a[aria-current="page"]')).to_have_text("Runs")
    expect(page.locator("#run-charts svg")).to_have_count(6)
    expect(page.locator("#run-recommendation")).to_contain_text("CPU")
    page.locator(f'a[href="/gpus/{gpu}"]').first.click()

    expect(page.locator("h1 .badge")).to_have_text("HEALTHY")
    related = page.locator("#gpu-related")
    expect(related).to_contain_text("vision / resnet")
    related.get_by_role("link").first.click()
    expect(page.locator("#run-head h1")).to_contain_text(run["run_id"])

    page.goto(server.http_url + "/runs")
    expect(page.locator("tbody tr[data-run]")).to_have_count(2)
    page.select_option('select[name="status"]', "running")
    page.click('form.filters button[type="submit"]')
    expect(page.locator("tbody tr[data-run]")).to_have_count(1)
    expect(page.locator("tbody tr[data-run]")).to_contain_text("still-going")
