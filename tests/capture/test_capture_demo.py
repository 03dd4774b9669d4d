"""The capture part of ``sentinel up``: a small shop whose requests fail through the SDK."""

from __future__ import annotations

from typing import Any

import httpx
from capture_helpers import issues
from sentinel_testing import wait_for

from sentinel.capture.service import CaptureDomain, ShopDemo


def test_the_demo_shop_reports_scrubbed_issues(server: Any) -> None:
    domain = server.domains["capture"]
    assert isinstance(domain, CaptureDomain)
    assert not CaptureDomain.in_use(server.settings)
    demo = ShopDemo(server.http_url, server.tokens, interval_s=0.05)
    demo.start()

    def every_kind() -> list[dict[str, Any]] | None:
        """The shop fails at random among its requests: wait until each kind has shown."""
        found = issues(server, repo="sentinel-demo/shop")
        kinds = {i["exception_type"].rsplit(".", 1)[-1] for i in found}
        wanted = {"KeyError", "ZeroDivisionError", "PaymentDeclined"}
        enough = sum(i["event_count"] for i in found) >= 8
        return found if enough and wanted <= kinds else None

    try:
        found = wait_for(every_kind, "8 events of every kind the shop raises")
    finally:
        demo.stop()
    kinds = {i["exception_type"] for i in found}
    assert {"KeyError", "ZeroDivisionError"} <= kinds
    assert any(k.endswith("PaymentDeclined") for k in kinds)
    assert "4111" not in str(found) and "@example.com" not in str(found)
    assert demo.describe() and not CaptureDomain.in_use(server.settings)  # demo data only
    httpx.post(
        server.http_url + "/api/v1/exceptions",
        json={
            "exceptionType": "E",
            "errorMessage": "",
            "stackTrace": "",
            "endpoint": "/",
            "timestamp": "2026-01-01T00:00:00+00:00",
            "githubRepo": "acme/shop",
            "language": "go",
        },
        headers={"Authorization": f"Bearer {server.key}"},
    ).raise_for_status()
    assert CaptureDomain.in_use(server.settings)
    assert "open issues" in domain.status_line()
    card = domain.card()
    assert card.href == "/capture" and card.items
    assert len(issues(server)) == len(issues(server, repo="sentinel-demo/shop")) + 1
