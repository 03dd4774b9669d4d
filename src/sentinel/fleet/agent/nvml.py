"""NVML: finding the host's NVIDIA GPUs and sampling their environmental telemetry.

``pynvml`` (the ``nvidia-ml-py`` package, extra ``sentinel[gpu]``) is imported only
here and only when asked for, so the agent runs on the CPU backend without it. Every
field is best effort: a counter a GPU does not support (retired pages on Ampere and
later, remapped rows before it, ECC on consumer boards) reads as 0 rather than failing
the sample. Xid critical errors come from an NVML event set polled without blocking at
each sample; GPUs that cannot register for them simply report none.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from sentinel.v1 import agent_pb2

__all__ = ["NO_GPU_MESSAGE", "NvmlTelemetry", "NvmlUnavailable", "check_nvml"]

log = logging.getLogger("sentinel.fleet.agent.nvml")

NO_GPU_MESSAGE = (
    "no NVIDIA GPU/NVML found; install the NVIDIA driver and `pip install 'sentinel[gpu]'`, "
    "or run with --backend cpu for a simulated device"
)


class NvmlUnavailable(RuntimeError):
    """NVML cannot be used here; the message says why and what to do."""


def _import() -> ModuleType:
    try:
        import pynvml
    except ImportError as exc:
        raise NvmlUnavailable(f"{NO_GPU_MESSAGE} (pynvml is not installed)") from exc
    return pynvml


def check_nvml() -> int:
    """Initialise NVML and count the GPUs; shut it down again.

    Returns:
        The number of NVIDIA GPUs NVML sees (at least 1).

    Raises:
        NvmlUnavailable: pynvml is missing, the driver's library cannot be loaded, or
            there is no GPU.
    """
    nvml = _import()
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as exc:
        raise NvmlUnavailable(f"{NO_GPU_MESSAGE} (NVML: {exc})") from exc
    try:
        count = int(nvml.nvmlDeviceGetCount())
    finally:
        nvml.nvmlShutdown()
    if count == 0:
        raise NvmlUnavailable(f"{NO_GPU_MESSAGE} (NVML sees no GPU)")
    return count


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class NvmlTelemetry:
    """Samples temperature, power, clocks, throttling, ECC, page retirement and Xids.

    Args:
        gpu_uuids: The GPUs to sample (as the probe backend names them).

    Raises:
        NvmlUnavailable: As ``check_nvml``.
    """

    def __init__(self, gpu_uuids: Sequence[str]) -> None:
        self._nvml = nvml = _import()
        try:
            nvml.nvmlInit()
        except nvml.NVMLError as exc:
            raise NvmlUnavailable(f"{NO_GPU_MESSAGE} (NVML: {exc})") from exc
        self._handles = {u: nvml.nvmlDeviceGetHandleByUUID(u) for u in gpu_uuids}
        self._xids: dict[str, list[int]] = {u: [] for u in gpu_uuids}
        self._events = self._register_xids()

    def _register_xids(self) -> Any:
        nvml = self._nvml
        try:
            events = nvml.nvmlEventSetCreate()
        except nvml.NVMLError as exc:
            log.info("NVML events unavailable (%s); telemetry carries no Xid events", exc)
            return None
        for u, handle in self._handles.items():
            try:
                nvml.nvmlDeviceRegisterEvents(handle, nvml.nvmlEventTypeXidCriticalError, events)
            except nvml.NVMLError as exc:
                log.info("GPU %s cannot report Xid events (%s)", u, exc)
        return events

    def _poll_xids(self) -> None:
        nvml = self._nvml
        if self._events is None:
            return
        while True:
            try:
                data = nvml.nvmlEventSetWait_v2(self._events, 0)
            except nvml.NVMLError:  # NVML_ERROR_TIMEOUT: nothing pending
                return
            if data.eventType != nvml.nvmlEventTypeXidCriticalError:
                continue
            try:
                u = _text(nvml.nvmlDeviceGetUUID(data.device))
            except nvml.NVMLError:
                continue
            if u in self._xids:
                self._xids[u].append(int(data.eventData))

    def _read(self, fn: str, *args: Any) -> Any:
        try:
            return getattr(self._nvml, fn)(*args)
        except (self._nvml.NVMLError, AttributeError):
            return None

    def sample(self) -> list[agent_pb2.GpuTelemetry]:
        """One sample per GPU; Xid events seen since the previous sample go with it."""
        nvml = self._nvml
        self._poll_xids()
        now = time.time()
        out = []
        for u, h in self._handles.items():
            s = agent_pb2.GpuTelemetry(gpu_uuid=u)
            s.timestamp.FromNanoseconds(int(now * 1e9))
            s.temperature_c = float(
                self._read("nvmlDeviceGetTemperature", h, nvml.NVML_TEMPERATURE_GPU) or 0
            )
            s.power_w = (self._read("nvmlDeviceGetPowerUsage", h) or 0) / 1000.0
            s.sm_clock_mhz = self._read("nvmlDeviceGetClockInfo", h, nvml.NVML_CLOCK_SM) or 0
            s.mem_clock_mhz = self._read("nvmlDeviceGetClockInfo", h, nvml.NVML_CLOCK_MEM) or 0
            reasons = self._read("nvmlDeviceGetCurrentClocksEventReasons", h)
            if reasons is None:
                reasons = self._read("nvmlDeviceGetCurrentClocksThrottleReasons", h)
            s.throttle_reasons = reasons or 0
            # Volatile counts (since the driver loaded): the engine looks at increases.
            for field, kind in (
                ("ecc_single_bit", nvml.NVML_MEMORY_ERROR_TYPE_CORRECTED),
                ("ecc_double_bit", nvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED),
            ):
                count = self._read("nvmlDeviceGetTotalEccErrors", h, kind, nvml.NVML_VOLATILE_ECC)
                setattr(s, field, count or 0)
            s.retired_rows = sum(
                len(self._read("nvmlDeviceGetRetiredPages", h, cause) or ())
                for cause in (
                    nvml.NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS,
                    nvml.NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR,
                )
            )
            remapped = self._read("nvmlDeviceGetRemappedRows", h)
            s.remapped_rows = int(remapped[0]) + int(remapped[1]) if remapped else 0
            s.xid_events.extend(self._xids[u])
            self._xids[u].clear()
            out.append(s)
        return out

    def close(self) -> None:
        """Free the event set and shut NVML down."""
        if self._events is not None:
            self._read("nvmlEventSetFree", self._events)
        self._read("nvmlShutdown")
