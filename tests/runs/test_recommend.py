"""Right-sizing rules: each amount and the numbers its reason quotes."""

from __future__ import annotations

import pytest

from sentinel.runs.recommend import Recommendation, recommend

IDLE_GPU = {"gpu_p95": 0.0, "gpus_used": 0, "vram_peak_mib": 0.0}


def _cpu_only(cpu_p95: float, cpu_max: float = 8.0, memory_peak_mib: float = 512.0):
    return recommend(cpu_p95=cpu_p95, cpu_max=cpu_max, memory_peak_mib=memory_peak_mib, **IDLE_GPU)


@pytest.mark.parametrize(
    ("p95", "cores"),
    [
        (2.5, 3),  # 3.0 exactly
        (2.6, 4),  # 3.12 rounds up
        (5.833333333333334, 7),  # 7.000000000000001 in floats: still 7
        (0.04, 1),  # the floor
        (0.0, 1),
    ],
)
def test_cpu_is_p95_with_headroom_rounded_up(p95: float, cores: int) -> None:
    advice = _cpu_only(p95).cpu
    assert (advice.value, advice.unit) == (cores, "cores")
    assert f"{p95:.2f} cores" in advice.reason
    assert "peak 8.00" in advice.reason


def test_cpu_reason_says_when_the_minimum_applies() -> None:
    assert "minimum" in _cpu_only(0.04).cpu.reason
    assert "rounded up to 4 cores" in _cpu_only(2.6).cpu.reason


@pytest.mark.parametrize(
    ("peak_mib", "gib"),
    [(100.0, 1), (1000.0, 2), (1024 * 5 / 1.2, 5), (3210.0, 4), (0.0, 1)],
)
def test_memory_is_peak_with_headroom_in_whole_gib(peak_mib: float, gib: int) -> None:
    advice = _cpu_only(1.0, memory_peak_mib=peak_mib).memory
    assert (advice.value, advice.unit) == (gib, "GiB")
    assert f"{peak_mib:,.0f} MiB" in advice.reason
    assert f"{peak_mib * 1.2 / 1024:.2f} GiB" in advice.reason


def test_no_gpu_and_no_vram_when_none_was_used() -> None:
    rec = _cpu_only(1.0)
    assert (rec.gpu.value, rec.vram.value) == (0, 0)
    assert "no GPU" in rec.gpu.reason
    assert "no GPU memory" in rec.vram.reason


@pytest.mark.parametrize(
    ("gpu_p95", "gpus_used", "count"),
    [
        (1.3, 4, 2),  # four GPUs touched, under two busy: two carry it
        (1.99, 2, 2),
        (2.0, 2, 2),
        (0.2, 1, 1),
        (0.0, 1, 1),  # touched a GPU, barely busy: still one
        (0.5, 0, 1),  # usage without a count (inconsistent input): one, not zero
    ],
)
def test_gpu_count_follows_p95_load_within_gpus_used(
    gpu_p95: float, gpus_used: int, count: int
) -> None:
    rec = recommend(
        cpu_p95=1.0,
        cpu_max=1.0,
        memory_peak_mib=100.0,
        gpu_p95=gpu_p95,
        gpus_used=gpus_used,
        vram_peak_mib=0.0,
    )
    assert (rec.gpu.value, rec.gpu.unit) == (count, "GPUs")
    assert f"up to {gpus_used} GPU(s)" in rec.gpu.reason
    assert f"{gpu_p95:.2f} busy GPUs" in rec.gpu.reason


def test_vram_is_peak_with_headroom_in_whole_gib() -> None:
    rec = recommend(
        cpu_p95=1.0,
        cpu_max=1.0,
        memory_peak_mib=100.0,
        gpu_p95=1.0,
        gpus_used=1,
        vram_peak_mib=30_000.0,
    )
    # 30000 * 1.2 / 1024 = 35.16 GiB
    assert (rec.vram.value, rec.vram.unit) == (36, "GiB")
    assert "30,000 MiB" in rec.vram.reason
    assert "35.16 GiB" in rec.vram.reason


def test_to_dict_is_plain() -> None:
    rec = _cpu_only(2.5)
    assert isinstance(rec, Recommendation)
    data = rec.to_dict()
    assert set(data) == {"cpu", "memory", "gpu", "vram"}
    assert data["cpu"] == {"value": 3, "unit": "cores", "reason": rec.cpu.reason}
