"""Sentinel: keeps AI infrastructure honest.

``from sentinel import Sentinel, SentinelConfig, WatchConfig`` (seed 002's quick start) is
resolved lazily, so ``import sentinel`` stays light.
"""

from __future__ import annotations

from typing import Any

_FORECAST = ("Sentinel", "SentinelConfig", "WatchConfig")


def __getattr__(name: str) -> Any:
    if name in _FORECAST:
        import sentinel.forecast

        return getattr(sentinel.forecast, name)
    raise AttributeError(f"module 'sentinel' has no attribute {name!r}")
