"""Event counts over a sliding time window, in memory bounded by the window length."""

from __future__ import annotations

import math
from collections import deque

_SECONDS_PER_HOUR = 3600.0


class WindowCounter:
    """Sum of event weights over the last ``window_seconds``, at one-second resolution.

    Events are summed into one bucket per whole second, so at most ``window_seconds + 1``
    buckets are ever held however many events arrive. An event at ``ts`` counts while
    ``now - floor(ts) < window_seconds``.
    """

    __slots__ = ("_buckets", "_total", "window_seconds")

    def __init__(self, window_seconds: float) -> None:
        if not window_seconds > 0:
            raise ValueError(f"window_seconds must be > 0, got {window_seconds}")
        self.window_seconds = window_seconds
        self._buckets: deque[list[float]] = deque()  # [second, weight], oldest first
        self._total = 0.0

    def add(self, ts: float, n: float = 1.0) -> None:
        """Count ``n`` events at ``ts``; a slightly late ``ts`` lands in its own second."""
        second = float(math.floor(ts))
        buckets = self._buckets
        if not buckets or second > buckets[-1][0]:
            buckets.append([second, n])
        else:
            index = len(buckets) - 1
            while index >= 0 and buckets[index][0] > second:
                index -= 1
            if index >= 0 and buckets[index][0] == second:
                buckets[index][1] += n
            else:
                buckets.insert(index + 1, [second, n])
        self._total += n

    @property
    def empty(self) -> bool:
        """Whether no event is held (cheap: no eviction)."""
        return not self._buckets

    def copy(self) -> WindowCounter:
        """An independent copy (the engine keeps one to undo a failed batch)."""
        twin = WindowCounter.__new__(WindowCounter)
        twin.window_seconds, twin._total = self.window_seconds, self._total
        twin._buckets = deque([list(b) for b in self._buckets])
        return twin

    def count(self, now: float) -> float:
        """Sum of the events within the window ending at ``now``."""
        buckets = self._buckets
        while buckets and now - buckets[0][0] >= self.window_seconds:
            self._total -= buckets.popleft()[1]
        if not buckets:
            self._total = 0.0  # drop rounding residue of fractional weights
        return self._total

    def rate_per_hour(self, now: float) -> float:
        """Events per hour over the window ending at ``now``."""
        return self.count(now) * _SECONDS_PER_HOUR / self.window_seconds
