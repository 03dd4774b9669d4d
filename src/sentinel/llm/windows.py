"""One event-time window of one (service, model): what arrived, and its figures."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sentinel.llm.events import TelemetryEvent
from sentinel.llm.judge import Verdict

FIGURES = (
    "count",
    "error_rate",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_mean_ms",
    "tokens_mean",
    "prompt_tokens_mean",
    "completion_tokens_mean",
    "cost_usd",
    "cost_per_1k_tokens",
    "quality_mean",
    "ungrounded_rate",
    "judged",
)
"""The per-window figures stored for charts and learned by baselines."""


def features(prompt_tokens: int, completion_tokens: int) -> list[float]:
    """The per-event vector the outlier models see: how long the answer is for the question."""
    return [math.log1p(prompt_tokens), math.log1p(completion_tokens)]


@dataclass
class Window:
    """Events of ``[start, start + width)`` in event time, kept as the columns the checks use."""

    start: float
    count: int = 0
    errors: int = 0
    cost: float = 0.0
    latency: list[float] = field(default_factory=list)
    prompt_tokens: list[int] = field(default_factory=list)
    completion_tokens: list[int] = field(default_factory=list)
    quality: list[float] = field(default_factory=list)
    judged: int = 0
    """Events with a context that the RAG check graded."""
    ungrounded: int = 0
    finish: dict[str, int] = field(default_factory=dict)
    similarity: list[float] = field(default_factory=list)
    """Cosine similarity of each embedding to the baseline's reference centroid."""
    gpus: dict[str, list[list[float]]] = field(default_factory=dict)
    """Per GPU: ``[completion_tokens, quality]`` of each of its events."""

    def add(self, event: TelemetryEvent, verdict: Verdict, similarity: float | None) -> None:
        self.count += 1
        self.errors += bool(event.errors)
        self.cost += event.cost_usd
        self.latency.append(float(event.latency_ms))
        self.prompt_tokens.append(event.prompt.tokens)
        self.completion_tokens.append(event.response.tokens)
        self.quality.append(verdict.quality)
        if verdict.grounded is not None:
            self.judged += 1
            self.ungrounded += verdict.ungrounded
        reason = event.response.finish_reason or "stop"
        self.finish[reason] = self.finish.get(reason, 0) + 1
        if similarity is not None:
            self.similarity.append(similarity)
        gpu = event.metadata.get("gpu_uuid")
        if gpu:
            self.gpus.setdefault(gpu[:64], []).append(
                [float(event.response.tokens), verdict.quality]
            )

    def figures(self) -> dict[str, float]:
        """The window's figures (NaN where it has no events to take them from)."""
        n = self.count
        nan = float("nan")
        if not n:
            zero = ("count", "cost_usd", "judged")
            return {name: (0.0 if name in zero else nan) for name in FIGURES}
        lat = np.asarray(self.latency)
        tokens = sum(self.prompt_tokens) + sum(self.completion_tokens)
        return {
            "count": float(n),
            "error_rate": self.errors / n,
            "latency_p50_ms": float(np.percentile(lat, 50)),
            "latency_p95_ms": float(np.percentile(lat, 95)),
            "latency_mean_ms": float(lat.mean()),
            "tokens_mean": tokens / n,
            "prompt_tokens_mean": sum(self.prompt_tokens) / n,
            "completion_tokens_mean": sum(self.completion_tokens) / n,
            "cost_usd": self.cost,
            "cost_per_1k_tokens": 1000 * self.cost / tokens if tokens else nan,
            "quality_mean": sum(self.quality) / n,
            "ungrounded_rate": self.ungrounded / self.judged if self.judged else nan,
            "judged": float(self.judged),
        }

    def to_state(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Window:
        return cls(**state)
