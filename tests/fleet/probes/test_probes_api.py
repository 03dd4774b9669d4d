"""The package surface: exported names, device identity, the light import and the GPU extra."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import sentinel.fleet.probes as probes
from sentinel.fleet.probes import CpuBackend, FaultSpec, open_backend
from sentinel.fleet.probes.golden import GoldenKey, GoldenStore, consensus


def test_exported_names() -> None:
    assert sorted(probes.__all__) == [
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


def test_cpu_devices_are_deterministic_per_host_and_index() -> None:
    first = CpuBackend(2, 4, hostname="node-1").devices()
    assert first == CpuBackend(2, 4, hostname="node-1").devices()
    assert first[0].uuid != first[1].uuid
    assert first[0].uuid != CpuBackend(1, hostname="node-2").devices()[0].uuid
    assert re.fullmatch(
        r"GPU-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", first[0].uuid
    )
    assert first[1].index == 1
    assert first[0].model == "Sentinel CPU-simulated GPU"
    assert first[0].driver_version == f"cpu-{np.__version__}"
    assert first[0].firmware_version == "sim-1"
    assert first[0].sm_count == 4


def test_open_backend_by_name() -> None:
    backend = open_backend("cpu", n_devices=3, hostname="h")
    assert len(backend.devices()) == 3
    with pytest.raises(ValueError, match="unknown probe backend"):
        open_backend("tpu")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [{"kind": "burnt"}, {"bit": 32}, {"rate": 1.5}, {"sm_id": -1}],
)
def test_fault_spec_rejects_nonsense(kwargs: dict) -> None:
    spec = {"kind": "stuck_bit", "sm_id": 0} | kwargs
    with pytest.raises(ValueError, match="use|not one of|negative"):
        FaultSpec(**spec)


def test_inject_rejects_unknown_sm() -> None:
    with pytest.raises(ValueError, match="outside 0..3"):
        CpuBackend(1, 4).inject(0, FaultSpec("flip_bit", sm_id=4))


def test_import_does_not_load_cupy_and_gpu_backend_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['cupy'] = None\n"
        "import sentinel.fleet.probes as p\n"
        "assert 'cupy' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
        "try:\n    p.GpuBackend()\nexcept ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'sentinel[gpu]'" in out.stdout


def test_kernel_source_ships_with_the_package() -> None:
    from importlib import resources

    source = resources.files("sentinel.fleet.probes").joinpath("kernels/probes.cu").read_text()
    for kernel in ("fma", "tensor", "transcendental", "aes", "memory", "shared", "register"):
        assert f'extern "C" __global__ void {kernel}_probe(' in source
    assert "%%smid" in source and "%%nsmid" in source


def test_golden_store_survives_restart(tmp_path: Path) -> None:
    key = GoldenKey("FMA", "90", 132, "cupy13-cuda12080", "size=16384")
    GoldenStore(tmp_path).put(key, np.arange(5, dtype=np.uint32))
    assert GoldenStore(tmp_path).get(key).tolist() == [0, 1, 2, 3, 4]
    assert GoldenStore(tmp_path).get(GoldenKey("FMA", "80", 108, "x", "y")) is None
    assert GoldenStore().get_or_compute(key, lambda: np.ones(2, np.uint32)).tolist() == [1, 1]


def test_consensus_needs_a_strict_majority() -> None:
    good, bad = np.array([1, 2], np.uint32), np.array([1, 3], np.uint32)
    assert consensus([good, bad, good]).tolist() == [1, 2]
    with pytest.raises(RuntimeError, match="no majority"):
        consensus([good, bad, good, bad])
    with pytest.raises(RuntimeError, match="at least 3"):
        consensus([good, good])
