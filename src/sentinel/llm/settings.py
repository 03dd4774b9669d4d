"""Settings of the LLM detector service; ``from_env`` reads ``SENTINEL_LLM_*`` variables."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MIB = 1024 * 1024
_LSTM = ("auto", "on", "off")
_JUDGES = ("local", "openai")


def _env(name: str, default: str = "") -> str:
    return os.environ.get(f"SENTINEL_LLM_{name}", default).strip()


def _number(name: str, default: float, kind: type = float) -> Any:
    raw = _env(name)
    if not raw:
        return default
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"SENTINEL_LLM_{name} must be a number, got {raw!r}") from None


@dataclass(frozen=True)
class LlmSettings:
    """Where telemetry comes from and how sensitive each detector is."""

    kafka_brokers: tuple[str, ...] = ()
    """Kafka bootstrap servers; empty: no consumer, events arrive over HTTP only."""
    topic: str = "llm-telemetry"
    """The topic the SDK produces to (the SDK's ``SENTINEL_TOPIC``)."""
    group_id: str = "sentinel-llm-detector"
    """Consumer group: every ``sentinel serve`` and ``sentinel llm-detect`` worker shares
    the topic's partitions."""
    partitions: int = 6
    """Partitions of the topic when the service creates it (more allow more workers)."""
    session_timeout_ms: int = 10_000
    """Kafka group session timeout: how fast a dead worker's partitions move on."""
    window_s: int = 60
    """Event-time window over which rates, percentiles and distributions are taken."""
    warmup_windows: int = 20
    """Windows a (service, model) baseline learns from before it scores anything."""
    history_windows: int = 120
    """Recent normal windows a baseline keeps for its statistics."""
    drift_windows: int = 5
    """Windows pooled into the recent distribution the drift tests compare."""
    min_events: int = 20
    """Events a window needs before its rates and percentiles are scored."""
    z_threshold: float = 5.0
    mad_threshold: float = 5.0
    iqr_k: float = 4.0
    cusum_k: float = 0.5
    cusum_h: float = 8.0
    psi_threshold: float = 0.25
    kl_threshold: float = 0.25
    outlier_z: float = 6.0
    """Binomial z of the share of outlying events (isolation forest, one-class SVM, failed
    judge checks) above the baseline's share."""
    lstm: str = "auto"
    """LSTM autoencoder: ``on`` (torch required), ``off``, or ``auto`` (on when installed)."""
    lstm_train_windows: int = 48
    """Normal windows before the autoencoder trains."""
    judge: str = "local"
    """``local`` (no network) or ``openai`` (an OpenAI-compatible chat endpoint)."""
    judge_url: str = ""
    judge_model: str = ""
    judge_api_key: str = ""
    judge_sample_rate: float = 1.0
    """Share of events the ``openai`` judge sees (the local checks see every event)."""
    max_body_bytes: int = 16 * MIB
    """Largest request on the event and OTLP ingest routes."""
    persist_interval_s: float = 2.0
    """How often changed baselines are written to the database."""
    gpu_reporter: Callable[[Any], None] | None = None
    """Receives a :class:`~sentinel.llm.findings.GpuReport` when one GPU's outputs drift
    alone (wired to the fleet engine by the server)."""

    def __post_init__(self) -> None:
        if self.lstm not in _LSTM:
            raise ValueError(f"SENTINEL_LLM_LSTM must be one of {', '.join(_LSTM)}")
        if self.judge not in _JUDGES:
            raise ValueError(f"SENTINEL_LLM_JUDGE must be one of {', '.join(_JUDGES)}")
        if self.judge == "openai" and not (self.judge_url and self.judge_model):
            raise ValueError(
                "SENTINEL_LLM_JUDGE=openai needs SENTINEL_LLM_JUDGE_URL (e.g. "
                "http://localhost:8000/v1) and SENTINEL_LLM_JUDGE_MODEL"
            )
        if self.window_s < 1 or self.warmup_windows < 3 or self.drift_windows < 1:
            raise ValueError(
                "SENTINEL_LLM_WINDOW_S must be >= 1, _WARMUP_WINDOWS >= 3, _DRIFT_WINDOWS >= 1"
            )
        if self.history_windows < self.warmup_windows:
            raise ValueError("SENTINEL_LLM_HISTORY_WINDOWS must be >= SENTINEL_LLM_WARMUP_WINDOWS")
        if not 0 < self.judge_sample_rate <= 1:
            raise ValueError("SENTINEL_LLM_JUDGE_SAMPLE_RATE must be in (0, 1]")

    @classmethod
    def from_env(cls) -> LlmSettings:
        """Settings from ``SENTINEL_LLM_*`` variables, defaults where unset."""
        brokers = tuple(b.strip() for b in _env("KAFKA_BROKERS").split(",") if b.strip())
        return cls(
            kafka_brokers=brokers,
            topic=_env("TOPIC", "llm-telemetry"),
            group_id=_env("GROUP_ID", "sentinel-llm-detector"),
            partitions=_number("PARTITIONS", 6, int),
            session_timeout_ms=_number("SESSION_TIMEOUT_MS", 10_000, int),
            window_s=_number("WINDOW_S", 60, int),
            warmup_windows=_number("WARMUP_WINDOWS", 20, int),
            history_windows=_number("HISTORY_WINDOWS", 120, int),
            drift_windows=_number("DRIFT_WINDOWS", 5, int),
            min_events=_number("MIN_EVENTS", 20, int),
            lstm=_env("LSTM", "auto"),
            judge=_env("JUDGE", "local"),
            judge_url=_env("JUDGE_URL"),
            judge_model=_env("JUDGE_MODEL"),
            judge_api_key=_env("JUDGE_API_KEY"),
            judge_sample_rate=_number("JUDGE_SAMPLE_RATE", 1.0),
            max_body_bytes=_number("MAX_BODY_BYTES", 16 * MIB, int),
        )
