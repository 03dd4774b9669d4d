"""GPU usage through NVML (``nvidia-ml-py``), per device and per process.

NVML is a library call, where the published tracker starts two ``nvidia-smi``
processes every second. Without the package, the driver or a GPU, every GPU value is
0, as the published tracker writes them: the columns stay, so both trackers' CSVs
have one shape.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

logger = logging.getLogger(__name__)

GpuSample = tuple[float, float, int]
"""``(gpu_usage, gpu_vram_mib, gpu_utilized)``: usage in GPUs (0..count), VRAM in MiB, and
the number of GPUs in use."""

NO_GPU: GpuSample = (0.0, 0.0, 0)
_MIB = 1024 * 1024


class Gpus:
    """The machine's NVIDIA GPUs, or none when NVML cannot be loaded."""

    def __init__(self) -> None:
        self._nvml: Any = None
        self._handles: list[Any] = []
        self._seen: dict[int, int] = {}  # device -> last process sample time (µs)
        try:
            import pynvml

            pynvml.nvmlInit()
            count = pynvml.nvmlDeviceGetCount()
            self._handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
            self._nvml = pynvml
        except ImportError:
            logger.debug("nvidia-ml-py is not installed (pip install 'sentinel[gpu]'): no GPUs")
        except Exception as exc:  # NVMLError: no driver, no device, no permission
            logger.debug("NVML unavailable, no GPU metrics: %s", exc)

    def info(self) -> dict[str, Any]:
        """``host_gpu_*`` fields for run registration: count, model, VRAM and UUIDs."""
        if self._nvml is None:
            return {"host_gpu_count": 0}
        nvml = self._nvml
        names = [_text(nvml.nvmlDeviceGetName(h)) for h in self._handles]
        return {
            "host_gpu_count": len(self._handles),
            "host_gpu_model": names[0] if names else None,
            "host_gpu_memory_mib": sum(
                nvml.nvmlDeviceGetMemoryInfo(h).total // _MIB for h in self._handles
            ),
            "host_gpu_uuids": [_text(nvml.nvmlDeviceGetUUID(h)) for h in self._handles],
        }

    def sample(self, pids: Collection[int]) -> tuple[GpuSample, GpuSample]:
        """``(system, processes)``: the whole machine, and the processes ``pids`` alone."""
        if self._nvml is None:
            return NO_GPU, NO_GPU
        nvml = self._nvml
        system = [0.0, 0.0, 0]
        process = [0.0, 0.0, 0]
        wanted = set(pids)
        for index, handle in enumerate(self._handles):
            try:
                usage = nvml.nvmlDeviceGetUtilizationRates(handle).gpu / 100
                system[0] += usage
                system[1] += nvml.nvmlDeviceGetMemoryInfo(handle).used / _MIB
                system[2] += usage > 0
                mine = self._process_usage(index, handle, wanted)
                process[0] += mine
                process[1] += self._process_vram(handle, wanted)
                process[2] += mine > 0
            except nvml.NVMLError as exc:
                logger.debug("NVML query of GPU %d failed: %s", index, exc)
        return (
            (round(system[0], 4), round(system[1], 4), int(system[2])),
            (round(process[0], 4), round(process[1], 4), int(process[2])),
        )

    def _process_usage(self, index: int, handle: Any, pids: set[int]) -> float:
        """SM usage of ``pids`` on one device since the last call, as a fraction."""
        nvml = self._nvml
        try:
            samples = nvml.nvmlDeviceGetProcessUtilization(handle, self._seen.get(index, 0))
        except nvml.NVMLError_NotFound:  # no process ran a kernel since the last call
            return 0.0
        latest: dict[int, Any] = {}
        for item in samples:
            if item.pid in pids and item.timeStamp >= getattr(latest.get(item.pid), "timeStamp", 0):
                latest[item.pid] = item
            self._seen[index] = max(self._seen.get(index, 0), item.timeStamp)
        return sum(item.smUtil for item in latest.values()) / 100

    def _process_vram(self, handle: Any, pids: set[int]) -> float:
        """Device memory held by ``pids`` in MiB (compute and graphics contexts)."""
        nvml = self._nvml
        used = 0
        for query in (
            nvml.nvmlDeviceGetComputeRunningProcesses,
            nvml.nvmlDeviceGetGraphicsRunningProcesses,
        ):
            for item in query(handle):
                if item.pid in pids and item.usedGpuMemory:  # None where not permitted
                    used += item.usedGpuMemory
        return used / _MIB

    def close(self) -> None:
        """Release NVML."""
        if self._nvml is not None:
            self._nvml.nvmlShutdown()
            self._nvml = None


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
