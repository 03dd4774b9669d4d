"""Which SMs a probe run covers: a window that rotates so every SM is probed over time."""

from __future__ import annotations

import math
import threading


class Rotation:
    """Deterministic round-robin over the SMs of each (device, probe type)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next: dict[tuple[int, int], int] = {}

    def take(
        self, device_index: int, probe_type: int, sm_count: int, coverage: float, deep: bool
    ) -> list[int]:
        """The ``ceil(coverage * sm_count)`` SMs after the previous run's; all of them if deep."""
        if not 0.0 < coverage <= 1.0:
            raise ValueError(f"sm_coverage {coverage} must be in (0, 1]")
        if deep or coverage == 1.0:
            return list(range(sm_count))
        count = min(sm_count, math.ceil(coverage * sm_count))
        with self._lock:
            start = self._next.get((device_index, probe_type), 0)
            self._next[(device_index, probe_type)] = (start + count) % sm_count
        return sorted((start + i) % sm_count for i in range(count))
