"""An LLM's answers drifting on one GPU alone reach the fleet as an anomaly of that GPU,
through the host's events, when the server hosts both domains."""

from __future__ import annotations

import json
from pathlib import Path

from _llm_testing import FAST, START, call
from sentinel_testing import start_server, wait_for

from sentinel.llm._traffic import Injection, generate, gpu_of
from sentinel.llm.types import AnomalyType

KEYS = [("chat", "gpt-4o"), ("search", "llama-3-70b")]


def test_output_drift_on_one_gpu_becomes_a_fleet_anomaly(tmp_path: Path) -> None:
    bad = gpu_of("chat", "gpt-4o", 2)
    server = start_server(tmp_path, domains=("fleet", "llm"), domain_settings={"llm": FAST})
    try:
        gpus = [gpu_of("chat", "gpt-4o", i) for i in range(4)]
        server.engine.register_gpus(
            "inference-01",
            [
                (u, i, "NVIDIA H100 80GB HBM3", "535.129.03", "96.00", 132)
                for i, u in enumerate(gpus)
            ],
        )
        plan = [
            Injection(AnomalyType.OUTPUT_DRIFT, "chat", "gpt-4o", START + 900, START + 1500, bad)
        ]
        events = list(generate(START, 0.45, KEYS, plan, rate_per_s=1.0))
        token = server.tokens.create("llm", name="app")[1]
        for i in range(0, len(events), 500):
            batch = {"events": [e.to_dict() for e in events[i : i + 500]]}
            status, _, _ = call(
                f"{server.http_url}/api/v1/llm/events",
                "POST",
                token=token,
                body=json.dumps(batch).encode(),
            )
            assert status == 202, status

        def counted() -> bool:
            with server.engine.state.lock:
                return server.engine.state.gpus[bad].anomaly_count > 0

        wait_for(counted, "the drift to reach the fleet as an anomaly of the GPU")
        with server.engine.state.lock:
            others = [server.engine.state.gpus[u].anomaly_count for u in gpus if u != bad]
        assert others == [0, 0, 0]
        page = call(f"{server.http_url}/gpus/{bad}")[1].decode()
        assert "/llm/anomalies/" in page  # the GPU page links the LLM's finding
    finally:
        server.stop()
