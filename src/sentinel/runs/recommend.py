"""Right-sizing: the CPU, memory, GPU and VRAM a run should ask for next time, and why."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

HEADROOM = 1.2
"""Factor over the measured need, so that a slightly heavier input does not hit the limit."""

MIB_PER_GIB = 1024


@dataclass(frozen=True)
class Advice:
    """One recommended resource amount."""

    value: int
    """How much to request, in ``unit``."""
    unit: str
    """``cores``, ``GiB`` or ``GPUs``."""
    reason: str
    """The measurements behind ``value``, in one sentence."""


@dataclass(frozen=True)
class Recommendation:
    """What the run should request next time."""

    cpu: Advice
    memory: Advice
    gpu: Advice
    vram: Advice

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Plain JSON-safe form."""
        return asdict(self)


def _up(value: float) -> int:
    """Round up, ignoring float noise such as 3.0000000000000004."""
    return math.ceil(round(value, 6))


def recommend(
    *,
    cpu_p95: float,
    cpu_max: float,
    memory_peak_mib: float,
    gpu_p95: float,
    gpus_used: int,
    vram_peak_mib: float,
) -> Recommendation:
    """Size the next run from this one's process-tree measurements.

    CPU follows the 95th percentile rather than the peak, because a one-second spike
    does not justify a core held for the whole run; memory and VRAM follow the peak,
    because exceeding them kills the run. GPUs follow the 95th percentile of the
    busy-GPU load, never more than the number of GPUs the run touched.

    Args:
        cpu_p95: 95th percentile of process CPU use, in cores.
        cpu_max: Highest process CPU use, in cores.
        memory_peak_mib: Highest process memory, in MiB.
        gpu_p95: 95th percentile of process GPU use, in busy GPUs (0 to the GPU count).
        gpus_used: Most GPUs the process used at once.
        vram_peak_mib: Highest process VRAM over all GPUs, in MiB.
    """
    cores = max(1, _up(cpu_p95 * HEADROOM))
    cpu = Advice(
        cores,
        "cores",
        f"p95 CPU use was {cpu_p95:.2f} cores (peak {cpu_max:.2f}); "
        f"with {HEADROOM:g}x headroom that is {cpu_p95 * HEADROOM:.2f}, "
        + ("so 1 core, the minimum" if cores == 1 else f"rounded up to {cores} cores"),
    )
    memory_gib = memory_peak_mib * HEADROOM / MIB_PER_GIB
    gib = max(1, _up(memory_gib))
    memory = Advice(
        gib,
        "GiB",
        f"peak memory was {memory_peak_mib:,.0f} MiB; with {HEADROOM:g}x headroom that is "
        f"{memory_gib:.2f} GiB, "
        + ("so 1 GiB, the minimum" if gib == 1 and memory_gib < 1 else f"rounded up to {gib} GiB"),
    )
    if gpus_used == 0 and gpu_p95 == 0:
        gpu = Advice(0, "GPUs", "the process used no GPU in any sample")
    else:
        count = max(1, min(_up(gpu_p95), max(gpus_used, 1)))
        gpu = Advice(
            count,
            "GPUs",
            f"the process used up to {gpus_used} GPU(s) at once and its p95 load was "
            f"{gpu_p95:.2f} busy GPUs, which {count} GPU(s) carry",
        )
    if vram_peak_mib == 0:
        vram = Advice(0, "GiB", "the process held no GPU memory in any sample")
    else:
        vram_gib = vram_peak_mib * HEADROOM / MIB_PER_GIB
        vram = Advice(
            _up(vram_gib),
            "GiB",
            f"peak VRAM over all GPUs was {vram_peak_mib:,.0f} MiB; with {HEADROOM:g}x "
            f"headroom that is {vram_gib:.2f} GiB, rounded up to {_up(vram_gib)} GiB",
        )
    return Recommendation(cpu=cpu, memory=memory, gpu=gpu, vram=vram)
