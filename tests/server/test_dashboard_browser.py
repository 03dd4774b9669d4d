"""The dashboard in real headless Chromium against a real server."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sentinel_testing import (
    OPERATOR_TOKEN,
    gpu_uuid,
    issue_pending,
    probe,
    register_host,
)


@pytest.fixture(autouse=True)
def no_csp_violation(page: Any) -> Iterator[None]:
    """Every page of every test here works under the server's Content-Security-Policy.

    The browser reports what the policy blocks both as a ``securitypolicyviolation``
    event and on the console; either one fails the test.
    """
    console: list[str] = []
    page.on(
        "console",
        lambda m: console.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.add_init_script(
        "window.__csp = [];"
        "document.addEventListener('securitypolicyviolation', e => window.__csp.push("
        "e.violatedDirective + ' ' + e.blockedURI + ' ' + e.sourceFile + ':' + e.lineNumber));"
    )
    yield
    events = [] if page.is_closed() or page.url == "about:blank" else page.evaluate("window.__csp")
    assert not console and not events, (console, events)


@pytest.fixture
def fleet(server: Any) -> list[str]:
    uuids = register_host(server.engine, "node-a", 4, 0) + register_host(
        server.engine, "node-b", 4, 4
    )
    for u in uuids:
        probe(server.engine, u, n=3)
    return uuids


def _row(page: Any, uuid: str) -> Any:
    return page.locator(f'tr[data-uuid="{uuid}"]')


def test_fleet_page_updates_live_when_a_gpu_is_quarantined(
    server: Any, fleet: list[str], page: Any
) -> None:
    page.goto(server.http_url + "/fleet")
    expect(page.locator("#live")).to_contain_text("live")
    expect(page.locator('[data-count="TOTAL"]')).to_have_text("8")
    expect(_row(page, fleet[5]).locator(".badge")).to_have_text("HEALTHY")
    page.evaluate("window.__sameDocument = true")
    probe(server.engine, fleet[5], failing_sm=3, n=3)  # three failures quarantine at once
    expect(_row(page, fleet[5]).locator(".badge")).to_have_text("QUARANTINED")
    expect(page.locator('[data-count="QUARANTINED"]')).to_have_text("1")
    assert page.evaluate("window.__sameDocument") is True  # updated without a reload


def test_fleet_table_sorts_and_filters(server: Any, fleet: list[str], page: Any) -> None:
    probe(server.engine, fleet[6], failing_sm=1, n=1)
    page.goto(server.http_url + "/fleet")
    page.click('th a[data-sort="reliability"]')  # already ascending: this flips it
    expect(page.locator("#gpu-table tbody tr").last).to_have_attribute("data-uuid", fleet[6])
    page.click('th a[data-sort="reliability"]')
    expect(page.locator("#gpu-table tbody tr").first).to_have_attribute("data-uuid", fleet[6])
    page.fill('input[name="host"]', "node-b")
    page.click('form.filters button[type="submit"]')
    expect(page.locator("#gpu-table tbody tr")).to_have_count(4)
    assert set(
        page.locator("#gpu-table tbody tr").evaluate_all("rs => rs.map(r => r.dataset.uuid)")
    ) == set(fleet[4:])
    page.select_option('select[name="state"]', "QUARANTINED")
    page.click('form.filters button[type="submit"]')
    expect(page.locator("#gpu-table tbody")).to_contain_text("No GPU matches")


def test_gpu_page_draws_heatmap_history_and_audit(server: Any, fleet: list[str], page: Any) -> None:
    probe(server.engine, fleet[2], failing_sm=11, n=3)
    page.goto(f"{server.http_url}/gpus/{fleet[2]}")
    expect(page.locator("h1 .badge")).to_have_text("QUARANTINED")
    expect(page.locator("svg.heatmap g.sm")).to_have_count(16)
    failing = page.locator("svg.heatmap g.failing")
    expect(failing).to_have_count(1)
    expect(failing).to_have_attribute("data-sm", "11")
    expect(page.locator("#gpu-reliability svg.chart .marker")).to_have_count(1)
    expect(page.locator("#gpu-reliability svg.chart path.line")).to_have_count(1)
    expect(page.locator("#gpu-correlations")).to_contain_text("SM LOCALIZED")
    expect(page.locator("#gpu-audit tbody tr").first).to_contain_text("QUARANTINE_ACTION")


def test_unknown_gpu_shows_a_404_page(server: Any, fleet: list[str], page: Any) -> None:
    response = page.goto(f"{server.http_url}/gpus/{gpu_uuid(4242)}")
    assert response.status == 404
    expect(page.locator("h1")).to_have_text("Not found")
    expect(page.locator(".message")).to_contain_text("is registered")


def test_approving_in_the_ui_needs_sign_in_then_changes_state(
    server: Any, fleet: list[str], page: Any
) -> None:
    target = fleet[1]
    directive = issue_pending(server.engine, target, reason="suspicious logits")
    page.goto(server.http_url + "/directives")
    row = page.locator(f'#pending tr[data-directive="{directive}"]')
    expect(row).to_contain_text("suspicious logits")

    row.locator("button.approve").click()
    expect(page.locator("#review-status")).to_contain_text("403")
    expect(page.locator("#review-status")).to_contain_text("requires an operator")
    assert server.engine.state.gpus[target].state == 1  # still HEALTHY: nothing changed
    assert directive in server.engine.pending

    page.fill("#token", OPERATOR_TOKEN)
    page.click("#signin-button")
    expect(page.locator("#operator")).to_have_text("operator: alice")
    row.locator(".comment").fill("confirmed by the on-call")
    row.locator("button.approve").click()
    expect(page.locator("#review-status")).to_contain_text("the GPU is now QUARANTINED")
    expect(page.locator(f'#history tr[data-directive="{directive}"]')).to_contain_text("alice")
    page.goto(f"{server.http_url}/gpus/{target}")
    expect(page.locator("h1 .badge")).to_have_text("QUARANTINED")


def test_bad_token_sign_in_is_refused(server: Any, page: Any) -> None:
    page.goto(server.http_url + "/directives")
    page.fill("#token", "not-a-token")
    page.click("#signin-button")
    expect(page.locator("#flash")).to_contain_text("unknown token")
    expect(page.locator("#operator")).to_be_hidden()


def test_tampered_ledger_shows_broken_in_the_ui(server: Any, fleet: list[str], page: Any) -> None:
    page.goto(server.http_url + "/audit")
    page.click("#verify")
    expect(page.locator("#verify-result")).to_contain_text("requires an operator")
    page.fill("#token", OPERATOR_TOKEN)
    page.click("#signin-button")
    expect(page.locator("#operator")).to_have_text("operator: alice")
    page.click("#verify")
    expect(page.locator("#verify-result")).to_contain_text("Chain intact")
    db = server.settings.resolved_database_url.removeprefix("sqlite:///")
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE ledger_entries SET data = X'deadbeef' WHERE entry_id = 7")
    page.click("#verify")
    result = page.locator("#verify-result")
    expect(result).to_contain_text("Chain BROKEN at entry 7")
    expect(result).to_have_class("verify-result broken")


def test_audit_filter_and_export_link(server: Any, fleet: list[str], page: Any) -> None:
    page.goto(server.http_url + "/audit")
    page.fill('input[name="gpu_uuid"]', fleet[0])
    page.select_option('select[name="entry_type"]', "PROBE_RESULT")
    page.click('form.filters button[type="submit"]')
    expect(page.locator("#audit-table tbody tr")).to_have_count(3)
    href = page.locator("#export").get_attribute("href")
    assert href == f"/api/v1/audit/export?gpu_uuid={fleet[0]}&entry_type=PROBE_RESULT"
    with page.expect_download() as download:
        page.click("#export")
    lines = Path(download.value.path()).read_text().splitlines()
    assert len(lines) == 3


def test_trust_page_draws_edges_coloured_by_trust(server: Any, fleet: list[str], page: Any) -> None:
    from sentinel.v1 import agent_pb2

    canary = server.engine.create_tmr_canary(fleet[:3]).result(timeout=10)
    server.engine.submit_tmr_results(
        [
            agent_pb2.TmrReport(report_id=f"t{i}", canary_id=canary, gpu_uuid=u, digest=d)
            for i, (u, d) in enumerate(zip(fleet[:3], (b"a", b"a", b"b"), strict=True))
        ]
    ).result(timeout=10)
    page.goto(server.http_url + "/trust")
    expect(page.locator("svg.trust circle.node")).to_have_count(3)
    edges = page.locator("svg.trust line.edge")
    expect(edges).to_have_count(3)
    trusts = sorted(float(t) for t in edges.evaluate_all("es => es.map(e => e.dataset.trust)"))
    assert trusts == [0.0, 0.0, 1.0]
    expect(page.locator('[data-metric="coverage"]')).not_to_have_text("0.0%")


def test_the_demo_bad_gpu_shows_quarantined_live(tmp_path: Path, page: Any) -> None:
    import dataclasses
    import re

    from sentinel.core.settings import ServerSettings
    from sentinel.fleet.demo import DemoSpec
    from sentinel.fleet.service import FleetSettings
    from sentinel.server.up import start

    settings = ServerSettings(grpc_port=0, http_port=0, data_dir=tmp_path / "data")
    spec = DemoSpec(hosts=4, gpus_per_host=4, fault_delay_s=4)
    settings = dataclasses.replace(settings, domain_settings={"fleet": FleetSettings(demo=spec)})
    running = start(settings, demo=True)
    try:
        assert running.demos["fleet"].fleet is not None
        scenario = next(s for s in running.demos["fleet"].fleet.scenarios if s.key == "stuck_bit")
        stuck = scenario.gpu_uuids[0]
        sm = re.search(r"on SM (\d+)", scenario.title)
        assert sm is not None
        page.goto(running.server.http_url + "/fleet?sort=uuid")
        row = _row(page, stuck)
        expect(row.locator(".badge")).to_have_text("HEALTHY")  # before the fault appears
        taken = re.compile("QUARANTINED|DEEP TEST|CONDEMNED")
        expect(row.locator(".badge")).to_have_text(taken, timeout=90_000)
        for healthy in running.demos["fleet"].fleet.healthy_uuids:
            expect(_row(page, healthy).locator(".badge")).to_have_text("HEALTHY")
        page.goto(f"{running.server.http_url}/gpus/{stuck}")
        expect(page.locator("h1 .badge")).to_have_text(taken)
        expect(page.locator(f'svg.heatmap g.failing[data-sm="{sm.group(1)}"]')).to_have_count(1)
        expect(page.locator("#gpu-correlations")).to_contain_text("SM LOCALIZED")
    finally:
        running.stop()


def test_a_pending_directive_can_be_reviewed_from_the_gpu_page(
    server: Any, fleet: list[str], page: Any
) -> None:
    target = fleet[3]
    directive = issue_pending(server.engine, target, reason="deep test failed")
    page.add_init_script(f"localStorage.setItem('sentinel.operatorToken', '{OPERATOR_TOKEN}')")
    page.goto(f"{server.http_url}/gpus/{target}")
    row = page.locator(f'#gpu-directives table.pending tr[data-directive="{directive}"]')
    row.locator(".comment").fill("not convinced")
    row.locator("button.reject").click()
    expect(page.locator("#review-status")).to_contain_text("Not applied: rejected by alice")
    expect(page.locator("#gpu-directives table.pending")).to_have_count(0)
    expect(page.locator(f'#gpu-directives tr[data-directive="{directive}"]')).to_contain_text(
        "rejected"
    )
    assert directive not in server.engine.pending
    assert server.engine.state.gpus[target].state == 1


def test_approve_selected_reviews_each_and_reports_the_one_refused(
    server: Any, fleet: list[str], page: Any
) -> None:
    ids = [issue_pending(server.engine, u, reason=f"bulk {i}") for i, u in enumerate(fleet[:3])]
    page.add_init_script(f"localStorage.setItem('sentinel.operatorToken', '{OPERATOR_TOKEN}')")
    page.goto(server.http_url + "/directives")
    expect(page.locator("#operator")).to_have_text("operator: alice")
    page.check("#select-all")
    expect(page.locator("#pending input.select:checked")).to_have_count(3)
    expect(page.locator("#selected-count")).to_have_text("3 selected")
    # Someone else reviews one of them meanwhile: the others must still go through.
    server.engine.review_directive(ids[1], False, "bob", "").result(timeout=10)
    page.fill("#bulk-comment", "rack 7 swap")
    page.click("#approve-selected")
    status = page.locator("#review-status")
    expect(status).to_contain_text("Approved 2 of 3.")
    expect(status).to_contain_text(f"{ids[1]}: no pending directive")
    for done in (ids[0], ids[2]):
        expect(page.locator(f'#history tr[data-directive="{done}"]')).to_contain_text("alice")
    expect(page.locator("#pending tbody")).to_contain_text("Nothing waits for approval")
    assert server.engine.state.gpus[fleet[0]].state == 3  # QUARANTINED
    assert server.engine.state.gpus[fleet[1]].state == 1  # rejected by bob: still HEALTHY


def test_reject_selected_leaves_the_unselected_pending(
    server: Any, fleet: list[str], page: Any
) -> None:
    keep, drop = (issue_pending(server.engine, u) for u in fleet[4:6])
    page.add_init_script(f"localStorage.setItem('sentinel.operatorToken', '{OPERATOR_TOKEN}')")
    page.goto(server.http_url + "/directives")
    page.click("#reject-selected")
    expect(page.locator("#review-status")).to_contain_text("Select the directives")
    page.check(f'#pending input.select[value="{drop}"]')
    page.click("#reject-selected")
    expect(page.locator("#review-status")).to_contain_text("Rejected 1 of 1.")
    expect(page.locator("#pending tr[data-directive]")).to_have_count(1)
    expect(page.locator(f'#pending tr[data-directive="{keep}"]')).to_have_count(1)
    assert list(server.engine.pending) == [keep]


@pytest.mark.parametrize("path", ["/", "/fleet", "/directives", "/audit", "/trust", "/gpus/{gpu}"])
def test_no_page_is_wider_than_a_420_px_screen(
    server: Any, fleet: list[str], page: Any, path: str
) -> None:
    issue_pending(server.engine, fleet[0], reason="a reason long enough to need wrapping " * 3)
    probe(server.engine, fleet[0], failing_sm=3, n=1)
    page.set_viewport_size({"width": 420, "height": 800})
    page.goto(server.http_url + path.format(gpu=fleet[0]))
    expect(page.locator("main")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 420
    boxes = page.locator("table").evaluate_all(
        "ts => ts.map(t => [t.parentElement.className, t.parentElement.clientWidth])"
    )
    assert boxes or path in ("/", "/trust"), "no table on the page"
    for parent, width in boxes:  # wide tables scroll inside their own box
        assert parent == "scroll" and width <= 420, (parent, width)


def test_trust_graph_labels_are_not_clipped(server: Any, page: Any) -> None:
    uuids = register_host(server.engine, "gpu-node-with-a-rather-long-name-017", 4, 0)
    uuids += register_host(server.engine, "gpu-node-with-a-rather-long-name-018", 4, 4)
    from sentinel.v1 import agent_pb2

    for n, trio in enumerate((uuids[:3], uuids[3:6], uuids[5:8])):
        canary = server.engine.create_tmr_canary(trio).result(timeout=10)
        server.engine.submit_tmr_results(
            [
                agent_pb2.TmrReport(
                    report_id=f"c{n}-{i}", canary_id=canary, gpu_uuid=u, digest=b"x"
                )
                for i, u in enumerate(trio)
            ]
        ).result(timeout=10)
    page.goto(server.http_url + "/trust")
    labels = page.locator("svg.trust text.label")
    expect(labels).to_have_count(8)
    outside = page.evaluate(
        """() => {
          const svg = document.querySelector("svg.trust"), vb = svg.viewBox.baseVal;
          return [...svg.querySelectorAll("text.label")].map(t => t.getBBox())
            .filter(b => b.x < vb.x || b.y < vb.y || b.x + b.width > vb.x + vb.width
                         || b.y + b.height > vb.y + vb.height)
            .map(b => [b.x, b.width]);
        }"""
    )
    assert outside == []


def test_api_docs_render_offline(server: Any, page: Any) -> None:
    outside: list[str] = []

    def only_this_server(route: Any) -> None:
        if route.request.url.startswith(server.http_url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_server)
    page.goto(server.http_url + "/docs")
    expect(page.locator(".opblock").first).to_be_visible()
    assert page.locator(".opblock").count() >= 15
    expect(page.locator("#swagger-ui")).to_contain_text("/api/v1/directives/review")
    expect(page.locator("#swagger-ui")).to_contain_text("Sentinel")
    assert outside == []
