"""Short labelled streams for the detector tests."""

from __future__ import annotations

from _llm_testing import START

from sentinel.llm._traffic import Injection, gpu_of
from sentinel.llm.types import AnomalyType

KEYS = [("chat", "gpt-4o"), ("search", "llama-3-70b"), ("support", "mistral-7b")]
WARMUP_S = 20 * 60
SLOT_S = 15 * 60
LENGTH_S = 8 * 60


def plan() -> list[Injection]:
    """Every anomaly type once, rotating over the keys, plus a GPU whose outputs go wrong."""
    out = []
    for i, kind in enumerate(AnomalyType):
        service, model = KEYS[i % 3]
        at = START + WARMUP_S + (i // 3) * SLOT_S
        out.append(Injection(kind, service, model, at, at + LENGTH_S))
    at = START + WARMUP_S + 4 * SLOT_S
    out.append(
        Injection(
            AnomalyType.OUTPUT_DRIFT,
            "chat",
            "gpt-4o",
            at,
            at + 10 * 60,
            gpu_of("chat", "gpt-4o", 1),
        )
    )
    return out


HOURS = (WARMUP_S + 5 * SLOT_S + 10 * 60) / 3600
