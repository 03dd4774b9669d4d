"""The capture pages in real headless Chromium: a FastAPI app, a Flask app and a plain
script report into a real server, and their issues appear grouped, linked to GitHub."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from capture_helpers import REPO, issues, need, serve_asgi, wait_for_events
from fastapi import FastAPI
from playwright.sync_api import expect
from sentinel_testing import OPERATOR_TOKEN

import sentinel.capture as sdk

SRC = str(Path(__file__).parents[2] / "src")
SCRIPT = """
import os, sys
sys.path.insert(0, os.environ["SRC"])
import sentinel.capture as sentinel_sdk

sentinel_sdk.configure(api_key=os.environ["KEY"], github_repo="acme/shop",
                       gateway_url=os.environ["GATEWAY"], endpoint_label="nightly")
sentinel_sdk.install_hook()


def totals(rows):
    return sum(rows) / len(rows)


print(totals([]))
"""


@pytest.fixture(autouse=True)
def no_csp_violation(page: Any) -> Iterator[None]:
    """The pages work under the server's Content-Security-Policy (nothing blocked)."""
    blocked: list[str] = []
    page.on(
        "console",
        lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None,
    )
    yield
    assert not blocked


def report_from_three_kinds_of_service(server: Any, tmp_path: Path) -> None:
    sdk.configure(api_key=server.key, github_repo=REPO, gateway_url=server.http_url)
    api = FastAPI()
    api.add_middleware(sdk.SentinelMiddleware)

    @api.get("/api/orders/{order_id}")
    def get_order(order_id: int) -> None:
        raise LookupError(f"order {order_id} of erin@example.com")

    with serve_asgi(api) as url:
        for order in (1, 2, 3, 4):
            assert httpx.get(f"{url}/api/orders/{order}").status_code == 500

    flask = need("flask", "flask>=3.0")
    web = flask.Flask("shop")

    @web.post("/checkout")
    def checkout() -> str:
        raise PermissionError("card 4111 1111 1111 1111 refused")

    web.wsgi_app = sdk.SentinelWSGIMiddleware(web.wsgi_app)  # type: ignore[method-assign]
    for _ in range(2):
        assert web.test_client().post("/checkout").status_code == 500

    job = tmp_path / "shop" / "jobs" / "nightly.py"  # a checkout of acme/shop
    job.parent.mkdir(parents=True)
    job.write_text(textwrap.dedent(SCRIPT))
    env = {**os.environ, "SRC": SRC, "KEY": server.key, "GATEWAY": server.http_url}
    for _ in range(3):
        done = subprocess.run([sys.executable, str(job)], env=env, capture_output=True, timeout=60)
        assert done.returncode == 1
    wait_for_events(server, 9)


def test_issues_appear_grouped_and_link_their_frames_to_github(
    server: Any, page: Any, tmp_path: Path
) -> None:
    report_from_three_kinds_of_service(server, tmp_path)
    page.goto(server.http_url + "/capture")
    rows = page.locator("table.issues tbody tr")
    expect(rows).to_have_count(3)
    expect(page.locator('[data-count="open"] .value')).to_have_text("3")
    expect(page.locator('[data-count="events"] .value')).to_have_text("9")
    by_type = {i["exception_type"]: i for i in issues(server)}
    assert set(by_type) == {"LookupError", "PermissionError", "ZeroDivisionError"}
    for name, count in (("LookupError", 4), ("PermissionError", 2), ("ZeroDivisionError", 3)):
        row = page.locator(f'tr[data-issue="{by_type[name]["issue_id"]}"]')
        expect(row.locator("[data-events]")).to_have_text(str(count))
        expect(row.locator("svg.sparkline")).to_be_visible()
    expect(page.locator("main")).not_to_contain_text("erin@example.com")

    page.click(f'tr[data-issue="{by_type["ZeroDivisionError"]["issue_id"]}"] a')
    expect(page.locator("h1")).to_have_text("ZeroDivisionError")
    expect(page.locator("#issue-events")).to_have_text("3")
    link = page.locator("ol.frames li.in-app a").first
    expect(link).to_have_attribute(
        "href", "https://github.com/acme/shop/blob/HEAD/jobs/nightly.py#L12"
    )
    expect(page.locator("table.endpoints")).to_contain_text("nightly")
    expect(page.locator("table.events tbody tr")).to_have_count(3)
    page.locator("table.events tbody tr a").last.click()
    expect(page.locator("#event")).to_be_visible()

    checkout = by_type["PermissionError"]["issue_id"]
    page.goto(f"{server.http_url}/capture/issues/{checkout}")
    expect(page.locator("pre.message")).to_have_text("card [CREDIT_CARD] refused")
    expect(page.locator("table.endpoints")).to_contain_text("/checkout")
    resolved = httpx.post(
        f"{server.http_url}/api/v1/capture/issues/{checkout}/status",
        json={"status": "resolved"},
        headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
    )
    assert resolved.status_code == 200
    page.reload()
    expect(page.locator("#issue-status")).to_have_text("resolved")
    page.goto(server.http_url + "/capture")
    expect(page.locator("table.issues tbody tr")).to_have_count(2)  # open ones only
    page.goto(server.http_url + "/")
    expect(page.locator('[data-domain-card="/capture"]')).to_contain_text("open issues")
