"""Settings of the exception gateway: how fast one key may report, how much may wait."""

from __future__ import annotations

import os
from dataclasses import dataclass


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(f"SENTINEL_CAPTURE_{name}", "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"SENTINEL_CAPTURE_{name} must be a number, got {raw!r}") from None


@dataclass(frozen=True)
class CaptureSettings:
    """The gateway's limits; ``from_env`` reads ``SENTINEL_CAPTURE_*``."""

    rate_per_second: float = 100.0
    """Events one key may report per second, sustained; above it the gateway answers 429."""
    burst: int = 1000
    """Events one key may report at once before ``rate_per_second`` applies (a crash loop's
    first burst is kept whole)."""
    queue_size: int = 20_000
    """Accepted events waiting for the database; when full, 429 until it drains."""
    batch_size: int = 500
    """Most events written in one transaction."""
    events_per_issue: int = 1000
    """Newest events kept per issue; older ones are deleted (counts keep every event)."""

    def __post_init__(self) -> None:
        if not (self.rate_per_second > 0 and self.burst >= 1):
            raise ValueError(
                "SENTINEL_CAPTURE_RATE_PER_SECOND must be positive and SENTINEL_CAPTURE_BURST "
                "at least 1"
            )
        if self.queue_size < 1 or self.batch_size < 1 or self.events_per_issue < 1:
            raise ValueError(
                "SENTINEL_CAPTURE_QUEUE_SIZE, _BATCH_SIZE and _EVENTS_PER_ISSUE must be at least 1"
            )

    @classmethod
    def from_env(cls) -> CaptureSettings:
        """Settings from ``SENTINEL_CAPTURE_*`` variables, defaults where unset."""
        return cls(
            rate_per_second=_env_number("RATE_PER_SECOND", 100.0),
            burst=int(_env_number("BURST", 1000)),
            queue_size=int(_env_number("QUEUE_SIZE", 20_000)),
            batch_size=int(_env_number("BATCH_SIZE", 500)),
            events_per_issue=int(_env_number("EVENTS_PER_ISSUE", 1000)),
        )
