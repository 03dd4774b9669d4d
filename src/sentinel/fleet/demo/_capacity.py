"""Refusing a demo fleet too big for this machine, before anything starts.

The figures are measured (server and fleet in one process, 8 GPUs per host): resident memory
grew by 0.10-0.16 MiB per GPU, host share included, at 512 to 2048 GPUs, and the idle server
takes ~115 MiB, growing by ~1 MiB a minute for its first half hour (the engine's duplicate
filter filling up). Each simulated host runs about four threads.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from sentinel.fleet.demo._spec import DemoSpec

__all__ = ["DemoTooLarge", "check_capacity", "estimate_bytes"]

_MIB = 1 << 20
_GIB = 1 << 30
PER_GPU_BYTES = 256 << 10
"""Per simulated GPU: the measured ~0.15 MiB, plus the 64 KiB of simulated device memory that
the MEMORY probe fills over hours."""
PER_HOST_BYTES = 512 << 10
"""Per simulated host on top of its GPUs: agent threads' stacks, gRPC channel, buffer."""
BASE_BYTES = 256 << 20
"""The server itself, with room for the engine's caches to fill."""
THREADS_PER_HOST = 4
"""The agent's runner, link and command reader, and the probe it is running."""
_THREADS_BASE = 64
_LIMITS = Path("/proc/sys/kernel")
_MEMINFO = Path("/proc/meminfo")


class DemoTooLarge(ValueError):
    """The demo fleet asked for would not fit in this machine's memory (or thread limit)."""


def estimate_bytes(spec: DemoSpec) -> int:
    """Resident memory the server plus a demo fleet of ``spec``'s size is expected to use."""
    return BASE_BYTES + spec.hosts * PER_HOST_BYTES + spec.gpus * PER_GPU_BYTES


def check_capacity(spec: DemoSpec, available: int | None = None) -> None:
    """Refuse ``spec`` when its estimated memory exceeds what is available.

    Threads are checked too: half the system's thread limit (``threads-max``, ``pid_max``)
    must cover about four per simulated host. Nothing is checked where ``/proc`` cannot be
    read (not Linux).

    Args:
        spec: The demo fleet to start.
        available: Bytes available; default ``MemAvailable`` from ``/proc/meminfo``.

    Raises:
        DemoTooLarge: saying the size asked, what it needs, what is available and the
            largest fleet (same GPUs per host) that fits.
    """
    if available is None:
        available = _mem_available()
    threads = _thread_limit()
    per_host = spec.gpus_per_host * PER_GPU_BYTES + PER_HOST_BYTES
    by_memory = None if available is None else max(0, available - BASE_BYTES) // per_host
    spare = None if threads is None else max(0, threads // 2 - _THREADS_BASE)
    by_threads = None if spare is None else spare // THREADS_PER_HOST
    limits = [n for n in (by_memory, by_threads) if n is not None]
    if not limits or spec.hosts <= min(limits):
        return
    hosts = int(min(limits))
    fits = (
        f"the largest that fits is {hosts:,} hosts x {spec.gpus_per_host} GPUs "
        f"({hosts * spec.gpus_per_host:,} GPUs"
        + (", bounded by threads)" if hosts == by_threads and hosts != by_memory else ")")
        if _valid(spec, hosts)
        else "no demo fleet fits on this machine"
    )
    asked = f"a demo of {spec.gpus:,} GPUs ({spec.hosts:,} hosts x {spec.gpus_per_host})"
    need = estimate_bytes(spec)
    if available is not None and need > available:
        raise DemoTooLarge(
            f"{asked} needs about {_size(need)} of memory (~{PER_GPU_BYTES / _MIB:g} MiB per "
            f"GPU), but only {_size(available)} is available; {fits}"
        )
    raise DemoTooLarge(
        f"{asked} needs about {spec.hosts * THREADS_PER_HOST + _THREADS_BASE:,} threads "
        f"({THREADS_PER_HOST} per host), but this system allows {threads:,} in all, half of "
        f"them for the demo; {fits}"
    )


def _valid(spec: DemoSpec, hosts: int) -> bool:
    try:
        dataclasses.replace(spec, hosts=hosts)
    except ValueError:
        return False
    return True


def _mem_available() -> int | None:
    try:
        lines = _MEMINFO.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024  # the kernel reports kB
    return None


def _thread_limit() -> int | None:
    try:
        return min(int((_LIMITS / name).read_text()) for name in ("threads-max", "pid_max"))
    except (OSError, ValueError):
        return None


def _size(n: int) -> str:
    return f"{n / _GIB:,.1f} GiB" if n >= _GIB else f"{n / _MIB:.0f} MiB"
