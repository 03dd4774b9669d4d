"""The dashboard in a real browser: a labelled stream sent through Kafka into a server shows
every injected anomaly, of the right type, with a chart of its metric."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from _broker import topic
from _llm_testing import FAST, call, start_llm_server
from _streams import HOURS, KEYS, plan
from sentinel_testing import wait_for

from sentinel.llm import SentinelClient
from sentinel.llm._traffic import generate
from sentinel.llm.types import AnomalyType


def test_dashboard_shows_every_injected_anomaly(tmp_path: Path, kafka: str, page: Any) -> None:
    settings = replace(
        FAST,
        kafka_brokers=(kafka,),
        topic=topic(),
        group_id=topic(),
        session_timeout_ms=2000,
        persist_interval_s=0.5,
    )
    llm = start_llm_server(tmp_path, settings=settings)
    try:
        events = list(generate(llm_start(), HOURS, KEYS, plan(), rate_per_s=1.0))
        with SentinelClient(brokers=[kafka], topic=settings.topic) as client:
            for e in events:
                client.send(e)
        wait_for(lambda: llm.domain.llm.events == len(events), "the stream to be consumed", 90)

        page.goto(llm.url + "/llm")
        for kind in AnomalyType:
            assert page.locator(f'#llm-counts [data-type="{kind.value}"]').count() == 1, kind
        rows = page.locator("#llm-anomalies tr[data-anomaly]")
        assert rows.count() == len(plan())
        shown = {rows.nth(i).get_attribute("data-type") for i in range(rows.count())}
        assert shown == {k.value for k in AnomalyType}
        gpu_row = page.locator("#llm-anomalies tr[data-anomaly] a.gpu-link")
        assert gpu_row.count() == 1

        page.select_option("select[name=type]", "cost_anomaly")
        page.click("form.filters button")
        assert page.locator("#llm-anomalies tr[data-anomaly]").count() == 1
        page.click("#llm-anomalies tr[data-anomaly] a >> nth=0")
        page.wait_for_selector("#anomaly-chart svg")
        assert page.locator("#anomaly-method").inner_text() == "cusum"
        assert "cost_per_1k_tokens" in page.locator("#anomaly-chart h2").inner_text()
        assert page.locator("#anomaly-chart svg polyline, #anomaly-chart svg path").count() >= 1

        status, body, _ = call(llm.url + "/")
        assert status == 200 and b"LLM telemetry" in body
        status, body, _ = call(llm.url + "/llm/anomalies/nope")
        assert status == 404
    finally:
        llm.server.stop()


def llm_start() -> float:
    from _llm_testing import START

    return START
