"""Settings of the forecast domain on the server; ``from_env`` reads ``SENTINEL_FORECAST_*``."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from sentinel.forecast.config import WatchConfig
from sentinel.forecast.models import BUILTIN


def _env(name: str, default: str = "") -> str:
    return os.environ.get(f"SENTINEL_FORECAST_{name}", default).strip()


def parse_watches(raw: str) -> tuple[WatchConfig, ...]:
    """Watches from JSON: a list of objects with ``WatchConfig``'s fields, ``model_class``
    naming a built-in model (or absent: the automatic choice).

    Raises:
        ValueError: the JSON or a field is wrong; the message says which.
    """
    try:
        items = json.loads(raw) if raw else []
    except ValueError as exc:
        raise ValueError(f"SENTINEL_FORECAST_WATCHES is not JSON: {exc}") from None
    if not isinstance(items, list):
        raise ValueError("SENTINEL_FORECAST_WATCHES must be a JSON list of watch objects")
    out = []
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValueError(f"watch {n} must be a JSON object")
        spec: dict[str, Any] = dict(item)
        model = spec.pop("model_class", None)
        if model is not None and model not in BUILTIN:
            raise ValueError(f"watch {n}: model_class {model!r} is not one of {', '.join(BUILTIN)}")
        try:
            out.append(WatchConfig(**spec, model_class=BUILTIN[model] if model else None))
        except TypeError as exc:
            raise ValueError(f"watch {n}: {exc}") from None
    return tuple(out)


@dataclass(frozen=True)
class ForecastSettings:
    """What the server's forecast domain watches and where it keeps models."""

    prometheus_url: str = "http://localhost:9090"
    """The Prometheus to read from and to hand Grafana's PromQL to."""
    watches: tuple[WatchConfig, ...] = ()
    """Watched metrics; none leaves the domain idle (pages say how to add some)."""
    artifact_store: str = ""
    """Directory or ``s3://bucket/prefix``; empty: ``<data_dir>/forecast-artifacts``."""
    s3_endpoint_url: str = ""
    """Endpoint of an S3-compatible store; empty: AWS."""
    max_versions_per_metric: int = 5
    scrape_timeout: int = 10
    emit_confidence_bounds: bool = True
    """Emit ``_lower``/``_upper`` series too (the server's default; the seed's is off)."""
    shards: int = 0
    """Spread the watched series over this many shards leased by the servers sharing the
    (PostgreSQL) database, each forecasting its own; 0: this server forecasts them all."""
    demo: bool = False
    """Set by ``sentinel up``: the demo's exporter is watched (see ``_demo``)."""
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> ForecastSettings:
        """Settings from ``SENTINEL_FORECAST_*`` variables, defaults where unset."""
        bounds = _env("EMIT_CONFIDENCE_BOUNDS", "true").lower()
        if bounds not in ("true", "false", "1", "0"):
            raise ValueError("SENTINEL_FORECAST_EMIT_CONFIDENCE_BOUNDS must be true or false")
        return cls(
            prometheus_url=_env("PROMETHEUS_URL", "http://localhost:9090"),
            watches=parse_watches(_env("WATCHES")),
            artifact_store=_env("ARTIFACT_STORE"),
            s3_endpoint_url=_env("S3_ENDPOINT_URL"),
            max_versions_per_metric=int(_env("MAX_VERSIONS_PER_METRIC", "5")),
            scrape_timeout=int(_env("SCRAPE_TIMEOUT", "10")),
            emit_confidence_bounds=bounds in ("true", "1"),
            shards=int(_env("SHARDS", "0")),
        )
