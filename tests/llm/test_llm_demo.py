"""The LLM part of ``sentinel up``: its traffic reaches the server and shows every type."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from _llm_testing import FAST, start_llm_server
from sentinel_testing import wait_for

from sentinel.llm._demo import LlmDemo, day_plan
from sentinel.llm.types import AnomalyType


def test_demo_posts_traffic_with_every_anomaly_type(tmp_path: Path) -> None:
    settings = replace(FAST, min_events=12)
    llm = start_llm_server(tmp_path, settings=settings)
    try:
        demo = llm.domain.demo(llm.server)
        assert isinstance(demo, LlmDemo)
        demo = LlmDemo(llm.url, llm.server.tokens, settings, hours=2.0)
        assert "via HTTP" in demo.describe()[0]
        demo.start()
        wait_for(demo.done.is_set, "the demo to send its traffic", 120)
        demo.stop()
        assert demo.sent == llm.domain.llm.events > 5000
        counts = llm.domain.llm.store.counts()
        assert set(counts) == {t.value for t in AnomalyType}, counts
        assert len(day_plan(0, 2.0)) == len(AnomalyType) + 1
    finally:
        llm.server.stop()
