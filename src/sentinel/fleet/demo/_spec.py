"""``DemoSpec``: the size and timing of the demo fleet, checked before anything starts."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from sentinel.fleet.engine.engine import default_config
from sentinel.v1 import types_pb2

__all__ = ["MIN_GPUS", "DemoSpec", "fma_period_s"]

MIN_GPUS = 16
"""Smallest fleet that stages every scenario: the three bad-firmware GPUs must fail at three
times the rate of the rest of the fleet while four other scenario GPUs fail beside them (the
hot node starts to err only later)."""

_REPORTS_PER_S = 100.0
"""Fleet-wide probe reports per second the demo aims at. The server and the fleet share one
process, so one core does the work (measured: 100/s took ~40% of it at 512 and 2048 GPUs,
180/s ~60%, 265/s all of it; past that the engine falls behind)."""


@dataclass(frozen=True)
class DemoSpec:
    """Size and timing of the simulated fleet (``sentinel up --demo``).

    Big fleets run a slower schedule than asked for: ``effective_scale`` stretches
    ``schedule_scale`` so the fleet sends at most about 100 probe reports a second (from about
    280 GPUs at the default 0.1; FMA every 44 s at 2048 GPUs), about 40% of one core.
    """

    hosts: int = 4
    """Simulated hosts, one agent each; the first is the hot node."""
    gpus_per_host: int = 8
    """CPU-simulated devices per host."""
    sm_count: int = 16
    """SMs per device; probe cost grows with it."""
    schedule_scale: float = 0.1
    """Factor on the engine's probe periods: 0.1 runs FMA every 6 s instead of every minute."""
    fault_delay_s: float = 45.0
    """Seconds after start at which the scenarios' faults appear."""
    seed: int = 0
    """Seeds fault SMs, intermittent draws, telemetry and inference traffic."""

    def __post_init__(self) -> None:
        if self.hosts < 3:
            raise ValueError(
                f"hosts={self.hosts}: the demo needs at least 3 hosts (a hot node, and two "
                "more to spread the bad-firmware GPUs over)"
            )
        if self.gpus_per_host < 2:
            raise ValueError(
                f"gpus_per_host={self.gpus_per_host}: the hot node needs at least 2 GPUs to "
                "fail together"
            )
        if self.gpus < MIN_GPUS or (self.hosts - 1) * self.gpus_per_host < 9:
            raise ValueError(
                f"{self.hosts} hosts x {self.gpus_per_host} GPUs is too small to stage every "
                f"scenario: it needs at least {MIN_GPUS} GPUs, 9 of them off the hot node "
                "(e.g. 4 hosts x 4 GPUs)"
            )
        if not 1 <= self.sm_count <= 4096:
            raise ValueError(f"sm_count={self.sm_count}: expected 1..4096 SMs per device")
        if not (self.schedule_scale > 0 and math.isfinite(self.schedule_scale)):
            raise ValueError(
                f"schedule_scale={self.schedule_scale}: expected a factor > 0 (1 = real time)"
            )
        if not (self.fault_delay_s >= 0 and math.isfinite(self.fault_delay_s)):
            raise ValueError(f"fault_delay_s={self.fault_delay_s}: expected seconds >= 0")

    @property
    def gpus(self) -> int:
        """Simulated GPUs in all."""
        return self.hosts * self.gpus_per_host

    @property
    def effective_scale(self) -> float:
        """``schedule_scale``, stretched for big fleets to hold the report rate at ~100/s."""
        return max(self.schedule_scale, self.gpus * _reports_per_gpu_s() / _REPORTS_PER_S)


def fma_period_s(scale: float) -> float:
    """Seconds between two FMA probes of a GPU under the engine's default schedule."""
    (period,) = (
        e.period_seconds
        for e in default_config().probe_schedule
        if e.type == types_pb2.PROBE_TYPE_FMA
    )
    return period * scale


@functools.cache
def _reports_per_gpu_s() -> float:
    """Probe reports per GPU and second at scale 1 under the engine's default schedule."""
    return sum(1 / e.period_seconds for e in default_config().probe_schedule if e.enabled)
