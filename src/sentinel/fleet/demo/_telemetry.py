"""Simulated NVML telemetry: smooth, plausible readings, and a node whose cooling fails.

The CPU backend has no sensors, so the demo invents them, as a ``TelemetrySource`` the real
agent sends with its heartbeats. Healthy GPUs stay well inside the envelope (about 45-70 °C,
no throttling, no ECC errors, no Xid), so they never feed the engine an environmental
excursion; an overheating node climbs past the 85 °C limit and throttles.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Sequence

from sentinel.v1 import agent_pb2

__all__ = ["HOT_C", "SimulatedTelemetry"]

HOT_C = 91.0
"""Where an overheating GPU settles: above the engine's 85 °C limit."""
_LIMIT_C = 85.0
_THERMAL_SLOWDOWN = 0x20 | 0x40  # NVML: SW and HW thermal slowdown
_SM_CLOCK_MHZ = 1980
_THROTTLED_SM_CLOCK_MHZ = 1410
_MEM_CLOCK_MHZ = 2619


class SimulatedTelemetry:
    """Readings for the GPUs of one simulated host.

    Each GPU has its own base temperature and a slow swing around it; power follows the
    temperature. ``overheat`` makes every GPU of the host climb to ``HOT_C`` over a ramp.

    Args:
        gpu_uuids: The host's GPUs, in device order.
        seed: Seeds each GPU's base temperature, swing and noise.
    """

    def __init__(self, gpu_uuids: Sequence[str], seed: int) -> None:
        rng = random.Random(seed)
        self._gpus = [
            (uuid, rng.uniform(48.0, 60.0), rng.uniform(120.0, 300.0), rng.uniform(0, math.tau))
            for uuid in gpu_uuids
        ]
        self._noise = random.Random(seed + 1)
        self._lock = threading.Lock()
        self._heat: tuple[float, float] | None = None

    def overheat(self, ramp_s: float) -> None:
        """Start the climb to ``HOT_C`` now; it takes ``ramp_s`` seconds."""
        self._heat = (time.monotonic(), max(ramp_s, 1e-3))

    def sample(self) -> list[agent_pb2.GpuTelemetry]:
        """One reading per GPU, as of now."""
        now, wall = time.monotonic(), time.time_ns()
        heat = self._heat
        share = 0.0 if heat is None else min(1.0, (now - heat[0]) / heat[1])
        samples = []
        with self._lock:
            for uuid, base, period, phase in self._gpus:
                normal = base + 4.0 * math.sin(math.tau * now / period + phase)
                temp = normal + (HOT_C - normal) * share + self._noise.gauss(0.0, 0.3)
                hot = temp > _LIMIT_C
                s = agent_pb2.GpuTelemetry(
                    gpu_uuid=uuid,
                    temperature_c=round(temp, 1),
                    power_w=round(100.0 + 5.0 * temp + self._noise.gauss(0.0, 4.0), 1),
                    sm_clock_mhz=_THROTTLED_SM_CLOCK_MHZ if hot else _SM_CLOCK_MHZ,
                    mem_clock_mhz=_MEM_CLOCK_MHZ,
                    throttle_reasons=_THERMAL_SLOWDOWN if hot else 0,
                )
                s.timestamp.FromNanoseconds(wall)
                samples.append(s)
        return samples

    def close(self) -> None:
        """Nothing to release; part of the ``TelemetrySource`` protocol."""
