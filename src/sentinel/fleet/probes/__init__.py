"""SDC probes: seven kernels whose every outcome is attributed to the SM that computed it.

>>> from sentinel.fleet.probes import CpuBackend, FaultSpec
>>> from sentinel.fleet.types import ProbeResult, ProbeType
>>> backend = CpuBackend(sm_count=8, hostname="demo")
>>> ProbeResult(backend.run(0, ProbeType.FMA).result).name
'PASS'
>>> backend.inject(0, FaultSpec("stuck_bit", sm_id=3, bit=7))
>>> [d.sm_id for d in backend.run(0, ProbeType.FMA).details]
[3]

``GpuBackend`` needs the ``gpu`` extra; CuPy and NVML are imported when one is constructed,
so importing this package never imports them.
"""

from __future__ import annotations

from sentinel.fleet.probes._types import (
    DeviceInfo,
    FaultKind,
    FaultSpec,
    ProbeBackend,
    ProbeOutcome,
    SmDetail,
)
from sentinel.fleet.probes.backends import open_backend
from sentinel.fleet.probes.cpu import CpuBackend
from sentinel.fleet.probes.gpu import GpuBackend

__all__ = [
    "CpuBackend",
    "DeviceInfo",
    "FaultKind",
    "FaultSpec",
    "GpuBackend",
    "ProbeBackend",
    "ProbeOutcome",
    "SmDetail",
    "open_backend",
]
