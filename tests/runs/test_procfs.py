"""The /proc sampler against real processes: a process tree that allocates and burns CPU."""

from __future__ import annotations

import math
import select
import subprocess
import sys
from collections.abc import Iterator

import pytest

from sentinel.runs._nvml import NO_GPU
from sentinel.runs._procfs import COLUMNS, ProcessTreeSampler, RowSampler, descendants

# The parent forks a child that holds 150 MiB, then burns exactly 1 s of CPU when told
# to and exits; the parent reaps it (its time moves into the parent's cutime) and says so.
FAMILY = r"""
import os, sys, time
pid = os.fork()
if pid == 0:
    block = bytearray(150 * 2**20)
    for i in range(0, len(block), 4096):
        block[i] = 1
    print("allocated", flush=True)
    sys.stdin.readline()
    start = time.process_time()
    while time.process_time() - start < 1.0:
        pass
    os._exit(0)
os.waitpid(pid, 0)
print("reaped", flush=True)
sys.stdin.readline()
"""


@pytest.fixture
def family() -> Iterator[subprocess.Popen[str]]:
    with subprocess.Popen(
        [sys.executable, "-c", FAMILY], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None and proc.stdout.readline() == "allocated\n"
        yield proc
        proc.kill()


def test_sampler_sees_the_tree_and_counts_a_reaped_child_once(
    family: subprocess.Popen[str],
) -> None:
    assert family.stdin is not None and family.stdout is not None
    sampler = ProcessTreeSampler(family.pid)
    assert len(descendants(family.pid)) == 1
    _, children, _, _, memory, _, _ = sampler.sample()
    assert children == 1
    assert memory >= 140  # the child's 150 MiB, as PSS
    family.stdin.write("\n")
    family.stdin.flush()
    cpu = 0.0
    while True:  # sample while the child burns, then once after it was reaped
        ready, _, _ = select.select([family.stdout], [], [], 0.2)
        _, _, utime, stime, _, _, _ = sampler.sample()
        cpu += utime + stime
        if ready:
            assert family.stdout.readline() == "reaped\n"
            break
    _, children, utime, stime, _, _, _ = sampler.sample()
    cpu += utime + stime
    assert children == 0
    # 1 s burnt by the child: counted while it ran, not again when it moved into the
    # parent's cutime (that would be about 2 s)
    assert 0.9 <= cpu <= 1.4, cpu


def test_row_has_every_column_as_a_finite_number(family: subprocess.Popen[str]) -> None:
    sampler = RowSampler(family.pid)
    row = sampler.row(NO_GPU, NO_GPU)
    assert len(row) == len(COLUMNS)
    values = dict(zip(COLUMNS, row, strict=True))
    assert all(isinstance(v, int | float) and math.isfinite(v) for v in row)
    assert values["process_pid"] == family.pid
    assert values["process_children"] == 1
    assert values["process_memory_mib"] >= 140
    assert values["system_processes"] > 1
    assert values["system_memory_used_mib"] > values["process_memory_mib"] * 0.9
    assert values["system_disk_space_total_gb"] >= values["system_disk_space_used_gb"] > 0
    assert values["system_gpu_usage"] == values["process_gpu_vram_mib"] == 0


def test_columns_are_the_published_trackers() -> None:
    """The published resource-tracker's combined CSV has our columns, in our order."""
    from resource_tracker import ResourceTracker as PublishedTracker

    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        published = PublishedTracker(
            pid=burner.pid, interval=0.2, discover_server=False, discover_cloud=False
        )
        published.start()
        published.wait_for_samples(n=1, timeout=30)
        published.stop()
        assert tuple(published.get_combined_metrics().columns) == COLUMNS
    finally:
        burner.kill()
        burner.wait()
