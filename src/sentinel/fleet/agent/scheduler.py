"""Which probe runs next, so probes stay within the overhead budget of each device.

Each device's probes may use ``budget_pct`` of its wall time, measured as the device
time probes reported (``ProbeOutcome.duration_us``) over a sliding window. Due probes
run in priority order (lower ``priority`` first). A due probe whose expected cost (the
moving average of its past runs) does not fit the budget left is deferred, and so is
every lower-priority probe of that device, so cheap low-priority probes cannot starve
an expensive important one. Deferred probes run as soon as old usage leaves the window.
A probe that alone costs more than the whole window's budget runs only when the window
is empty, so it is rare rather than never.

A probe that fails is due again at once, up to ``CONFIRMATIONS`` times in a row (still
within the budget): a real fault fails again and reaches the engine's quarantine count
in seconds instead of periods, while a one-off upset passes its re-run.

A device the engine holds SUSPECT is watched: each of its probes runs ``WATCH_SPEEDUP``
times as often and over all of its SMs (its timeout grown to match), still within the
budget, until the engine clears or quarantines it. A fault on an SM that partial
coverage visits one run in four is then seen at every run. A device whose probe failed is
watched the same way for ``WATCH_AFTER_FAILURE_S``, without waiting for the engine: a rare
fault that fails one run in three reaches the engine's quarantine count in minutes, and a
healthy device, whose probes do not fail, never pays for it.
"""

from __future__ import annotations

import collections
import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass

from sentinel.fleet.agent._config import ScheduleEntry

__all__ = ["OverheadBudget", "Scheduler"]

_EWMA = 0.3
CONFIRMATIONS = 2
"""Immediate re-runs of a failed probe before it waits for its period again."""
WATCH_SPEEDUP = 4.0
"""How many times as often a watched (SUSPECT) device's probes run."""
WATCH_AFTER_FAILURE_S = 3600.0
"""How long a device is watched after one of its probes failed (the engine's failure window)."""


def _watched(entry: ScheduleEntry) -> ScheduleEntry:
    return dataclasses.replace(
        entry,
        period_s=entry.period_s / WATCH_SPEEDUP,
        sm_coverage=1.0,
        timeout_ms=int(entry.timeout_ms / entry.sm_coverage),
    )


class OverheadBudget:
    """Device time used per device over a sliding window, against a percentage of it.

    Args:
        window_s: Length of the window, in seconds.
        budget_pct: Share of the window probes may use on each device, in percent.
    """

    def __init__(self, window_s: float, budget_pct: float) -> None:
        self.window_s = window_s
        self.budget_pct = budget_pct
        self._used: dict[int, collections.deque[tuple[float, float]]] = {}

    @property
    def limit_s(self) -> float:
        """Device seconds each device may spend on probes per window."""
        return self.window_s * self.budget_pct / 100.0

    def record(self, device: int, seconds: float, now: float) -> None:
        """Count ``seconds`` of device time spent on ``device`` at ``now``."""
        self._used.setdefault(device, collections.deque()).append((now, seconds))

    def used_s(self, device: int, now: float) -> float:
        """Device seconds spent on ``device`` within the window ending at ``now``."""
        q = self._used.get(device)
        if not q:
            return 0.0
        while q and q[0][0] <= now - self.window_s:
            q.popleft()
        return sum(s for _, s in q)

    def fits(self, device: int, cost_s: float, now: float) -> bool:
        """Whether spending ``cost_s`` more on ``device`` now stays within the budget."""
        used = self.used_s(device, now)
        if cost_s > self.limit_s:
            return used == 0.0
        return used + cost_s <= self.limit_s

    def frees_at(self, device: int, cost_s: float, now: float) -> float:
        """Earliest time at which ``cost_s`` fits on ``device`` again."""
        q = self._used.get(device, collections.deque())
        need = 0.0 if cost_s > self.limit_s else self.limit_s - cost_s
        used = self.used_s(device, now)
        for t, seconds in q:
            if used <= need:
                break
            used -= seconds
            now = t + self.window_s
        return now


@dataclass
class _Slot:
    entry: ScheduleEntry
    last_run: float | None = None
    cost_s: float = 0.0
    failures_in_row: int = 0
    """Failed runs since the last pass."""


class Scheduler:
    """The probe schedule of one agent over its devices, within an overhead budget.

    Not thread-safe: the agent's probe runner is its only user.

    Args:
        devices: Device indexes to schedule.
        schedule: Enabled entries, any order.
        budget: The overhead budget shared by all of them.
    """

    def __init__(
        self, devices: Iterable[int], schedule: Iterable[ScheduleEntry], budget: OverheadBudget
    ) -> None:
        self.budget = budget
        self.deferred = 0
        """How many times a due probe was held back by the budget."""
        self._active = {d: True for d in devices}
        self._watched: set[int] = set()
        self._failed_at: dict[int, float] = {}
        self._slots: dict[int, dict[int, _Slot]] = {d: {} for d in self._active}
        self.configure(schedule, budget.budget_pct)

    def configure(self, schedule: Iterable[ScheduleEntry], budget_pct: float) -> None:
        """Switch to a new schedule; probe types kept keep their last run and cost."""
        self.budget.budget_pct = budget_pct
        entries = sorted(schedule, key=lambda e: (e.priority, e.probe_type))
        for slots in self._slots.values():
            old = dict(slots)
            slots.clear()
            for e in entries:
                prev = old.get(e.probe_type)
                slots[e.probe_type] = _Slot(e, prev.last_run, prev.cost_s) if prev else _Slot(e)

    def set_active(self, device: int, active: bool) -> None:
        """Take ``device`` in or out of the regular schedule (quarantined GPUs are out)."""
        self._active[device] = active

    def set_watched(self, device: int, watched: bool) -> bool:
        """Probe ``device`` more often and fully (it is SUSPECT), or as scheduled again.

        Returns:
            Whether this changed the device's schedule.
        """
        if watched == (device in self._watched):
            return False
        if watched:
            self._watched.add(device)
        else:
            self._watched.discard(device)
        return True

    def next_probe(self, now: float) -> tuple[int, ScheduleEntry] | float:
        """The most important due probe that fits the budget, or when to ask again.

        Returns:
            ``(device, entry)`` to run now, or the time (same clock as ``now``) at which
            something becomes due or fits; ``inf`` when nothing is scheduled.
        """
        wake = float("inf")
        best: tuple[int, ScheduleEntry] | None = None
        for device, slots in self._slots.items():
            if not self._active[device]:
                continue
            watched = device in self._watched or (
                now - self._failed_at.get(device, -math.inf) < WATCH_AFTER_FAILURE_S
            )
            for slot in slots.values():
                e = _watched(slot.entry) if watched else slot.entry
                due = now if slot.last_run is None else slot.last_run + e.period_s
                if 0 < slot.failures_in_row <= CONFIRMATIONS:  # re-run now to confirm
                    due = now
                if due > now:
                    wake = min(wake, due)
                    continue
                if not self.budget.fits(device, slot.cost_s, now):
                    self.deferred += 1
                    wake = min(wake, self.budget.frees_at(device, slot.cost_s, now))
                    break  # lower priorities of this device wait too
                if best is None or (e.priority, device) < (best[1].priority, best[0]):
                    best = (device, e)
                break
        if best is None:
            return wake
        return best

    def finished(
        self, device: int, probe_type: int, device_s: float, now: float, *, failed: bool = False
    ) -> None:
        """Record a run of ``probe_type`` on ``device`` that used ``device_s`` device seconds.

        ``failed`` makes the probe due again at once, unless it has already been re-run
        ``CONFIRMATIONS`` times in a row, and watches the device for ``WATCH_AFTER_FAILURE_S``.
        """
        self.budget.record(device, device_s, now)
        if failed:
            self._failed_at[device] = now
        slot = self._slots[device].get(probe_type)
        if slot is None:  # the schedule changed while it ran
            return
        slot.last_run = now
        slot.failures_in_row = slot.failures_in_row + 1 if failed else 0
        slot.cost_s = (
            device_s if slot.cost_s == 0.0 else (1 - _EWMA) * slot.cost_s + _EWMA * device_s
        )
