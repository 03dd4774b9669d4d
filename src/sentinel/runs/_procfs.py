"""Process-tree and system metrics read from ``/proc``, one CSV row per sample.

The row has the published ``resource-tracker``'s combined column set and units
(``timestamp``, ``system_*``, ``process_*``; CPU in cores, memory in MiB, disk space
in GB, disk and network in bytes per interval), so the server's statistics read data
from either tracker. Linux only; no psutil, no subprocesses.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass

from sentinel.runs._nvml import GpuSample

SYSTEM_COLUMNS = (
    "processes",
    "utime",
    "stime",
    "cpu_usage",
    "memory_free_mib",
    "memory_used_mib",
    "memory_buffers_mib",
    "memory_cached_mib",
    "memory_active_mib",
    "memory_inactive_mib",
    "disk_read_bytes",
    "disk_write_bytes",
    "disk_space_total_gb",
    "disk_space_used_gb",
    "disk_space_free_gb",
    "net_recv_bytes",
    "net_sent_bytes",
    "gpu_usage",
    "gpu_vram_mib",
    "gpu_utilized",
)
PROCESS_COLUMNS = (
    "pid",
    "children",
    "utime",
    "stime",
    "cpu_usage",
    "memory_mib",
    "disk_read_bytes",
    "disk_write_bytes",
    "gpu_usage",
    "gpu_vram_mib",
    "gpu_utilized",
)
COLUMNS = (
    "timestamp",
    *(f"system_{name}" for name in SYSTEM_COLUMNS),
    *(f"process_{name}" for name in PROCESS_COLUMNS),
)
"""The combined CSV header, in the published tracker's order."""

_TICKS = os.sysconf("SC_CLK_TCK")
_SECTOR = 512  # /proc/diskstats counts 512-byte sectors whatever the device's sector size
_VIRTUAL_MOUNTS = ("/proc", "/sys", "/dev", "/run")


@dataclass
class _Proc:
    """Cumulative counters of one process, its reaped children included."""

    ppid: int
    utime: int  # clock ticks, utime + cutime
    stime: int  # clock ticks, stime + cstime
    read_bytes: int
    write_bytes: int


_Key = tuple[int, int]
"""A process: (pid, start time in ticks), so that a reused pid is a new process."""


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:  # gone, or not ours to read
        return None


def _proc(pid: int) -> tuple[_Key, _Proc] | None:
    stat = _read(f"/proc/{pid}/stat")
    if stat is None:
        return None
    # the command name in parentheses may hold spaces: fields are counted after it
    fields = stat[stat.rindex(")") + 2 :].split()
    io = _read(f"/proc/{pid}/io") or ""
    counters = dict(line.split(": ") for line in io.splitlines())
    proc = _Proc(
        ppid=int(fields[1]),
        utime=int(fields[11]) + int(fields[13]),
        stime=int(fields[12]) + int(fields[14]),
        read_bytes=int(counters.get("read_bytes", 0)),
        write_bytes=int(counters.get("write_bytes", 0)),
    )
    return (pid, int(fields[19])), proc


def _children(pid: int) -> list[int]:
    """Direct children, of every thread (a child started by a worker thread counts)."""
    found: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tids:
        text = _read(f"/proc/{pid}/task/{tid}/children")
        if text:
            found.extend(int(child) for child in text.split())
    return found


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` in the process tree, found level by level."""
    found: list[int] = []
    level = [pid]
    while level:
        level = [child for parent in level for child in _children(parent)]
        found.extend(level)
    return found


def pss_mib(pid: int) -> float:
    """Proportional set size in MiB (shared pages split between their users), 0 if gone."""
    text = _read(f"/proc/{pid}/smaps_rollup") or ""
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


class ProcessTreeSampler:
    """CPU, memory and I/O of a process and its descendants, per interval.

    Counters are kept per process. A child reaped by a tracked parent moves its time into
    the parent's ``cutime``, so its last seen counters are taken off again; a child that
    leaves the tree otherwise (re-parented to init) keeps what was seen of it, instead
    of the whole tree's interval turning negative.
    """

    def __init__(self, pid: int, *, children: bool = True) -> None:
        self.pid = pid
        self.children = children
        self._time = time.monotonic()
        self._last = self._scan()[0]

    def _scan(self) -> tuple[dict[_Key, _Proc], list[int]]:
        pids = [self.pid, *descendants(self.pid)] if self.children else [self.pid]
        procs = dict(found for pid in pids if (found := _proc(pid)) is not None)
        return procs, [key[0] for key in procs]

    def sample(self) -> tuple[float, float, float, float, float, int, int]:
        """``(interval, children, utime, stime, memory_mib, read, write)`` since the last call.

        ``utime``/``stime`` are in seconds, ``read``/``write`` in bytes.
        """
        now = time.monotonic()
        procs, pids = self._scan()
        delta = [0, 0, 0, 0]
        alive = {key[0] for key in procs}
        for key, proc in procs.items():
            before = self._last.get(key)
            for i, (new, old) in enumerate(_pairs(proc, before)):
                delta[i] += new - old
        for key, gone in self._last.items():
            if key not in procs and _reaped_inside(gone, self._last, alive):
                for i, (_, old) in enumerate(_pairs(gone, gone)):
                    delta[i] -= old
        self._last = procs
        interval, self._time = now - self._time, now
        memory = sum(pss_mib(pid) for pid in pids)
        return (
            interval,
            len(pids) - 1 if pids else 0,
            max(0, delta[0]) / _TICKS,
            max(0, delta[1]) / _TICKS,
            memory,
            max(0, delta[2]),
            max(0, delta[3]),
        )

    @property
    def pids(self) -> list[int]:
        """The processes seen at the last sample (the tracked one first)."""
        return [key[0] for key in self._last]


def _pairs(proc: _Proc, before: _Proc | None) -> Iterable[tuple[int, int]]:
    old = before or _Proc(0, 0, 0, 0, 0)
    return (
        (proc.utime, old.utime),
        (proc.stime, old.stime),
        (proc.read_bytes, old.read_bytes),
        (proc.write_bytes, old.write_bytes),
    )


def _reaped_inside(gone: _Proc, last: dict[_Key, _Proc], alive: set[int]) -> bool:
    """Whether a vanished process's counters went into a tracked ancestor still alive."""
    parents = {key[0]: proc.ppid for key, proc in last.items()}
    ppid = gone.ppid
    while ppid not in alive:
        if ppid not in parents:
            return False
        ppid = parents.pop(ppid)
    return True


@dataclass
class _SystemCounters:
    time: float
    user: int  # ticks, user + nice
    system: int
    disk_read: int
    disk_write: int
    net_recv: int
    net_sent: int


def _disks() -> list[str]:
    """Whole physical disks: partitions, loop, device-mapper and md devices would count
    the same bytes twice."""
    try:
        names = os.listdir("/sys/block")
    except OSError:
        return []
    return [name for name in names if os.path.exists(f"/sys/block/{name}/device")]


class SystemSampler:
    """System-wide CPU, memory, disk, disk space and network, per interval."""

    def __init__(self) -> None:
        self._disks = set(_disks())
        self._last = self._counters()

    def _counters(self) -> _SystemCounters:
        now = time.monotonic()
        cpu = (_read("/proc/stat") or "cpu  0 0 0\n").split("\n", 1)[0].split()
        user, system = int(cpu[1]) + int(cpu[2]), int(cpu[3])
        read = write = 0
        for line in (_read("/proc/diskstats") or "").splitlines():
            parts = line.split()
            if len(parts) >= 10 and parts[2] in self._disks:
                read += int(parts[5]) * _SECTOR
                write += int(parts[9]) * _SECTOR
        recv = sent = 0
        for line in (_read("/proc/net/dev") or "").splitlines()[2:]:
            name, _, values = line.partition(":")
            if name.strip() != "lo" and values:
                fields = values.split()
                recv += int(fields[0])
                sent += int(fields[8])
        return _SystemCounters(now, user, system, read, write, recv, sent)

    def sample(self) -> list[float]:
        """The ``system_*`` values except the GPU's, since the last call."""
        now = self._counters()
        last, self._last = self._last, now
        interval = max(now.time - last.time, 1e-9)
        utime = max(0, now.user - last.user) / _TICKS
        stime = max(0, now.system - last.system) / _TICKS
        processes = sum(1 for name in os.listdir("/proc") if name.isdigit())
        return [
            processes,
            round(utime, 6),
            round(stime, 6),
            round((utime + stime) / interval, 4),
            *_memory(),
            max(0, now.disk_read - last.disk_read),
            max(0, now.disk_write - last.disk_write),
            *_disk_space(),
            max(0, now.net_recv - last.net_recv),
            max(0, now.net_sent - last.net_sent),
        ]


def _memory() -> list[float]:
    """Free, used, buffers, cached, active, inactive in MiB; used is total - available."""
    info: dict[str, int] = {}
    for line in (_read("/proc/meminfo") or "").splitlines():
        name, _, rest = line.partition(":")
        value = rest.split()
        if value:
            info[name] = int(value[0])
    free, buffers = info.get("MemFree", 0), info.get("Buffers", 0)
    cached = info.get("Cached", 0) + info.get("SReclaimable", 0)
    available = info.get("MemAvailable", free + buffers + cached)
    values = (
        free,
        info.get("MemTotal", 0) - available,
        buffers,
        cached,
        info.get("Active", 0),
        info.get("Inactive", 0),
    )
    return [round(kib / 1024, 4) for kib in values]


def _disk_space() -> list[float]:
    """Total, used and free GB over real filesystems, each filesystem counted once."""
    seen: set[int] = set()
    total = used = free = 0
    for line in (_read("/proc/mounts") or "").splitlines():
        parts = line.split()
        if len(parts) < 3 or parts[1].startswith(_VIRTUAL_MOUNTS):
            continue
        try:
            fs = os.statvfs(parts[1])
        except OSError:
            continue
        if fs.f_blocks == 0 or fs.f_fsid in seen:
            continue
        seen.add(fs.f_fsid)
        size, avail = fs.f_blocks * fs.f_frsize, fs.f_bavail * fs.f_frsize
        total, used, free = total + size, used + size - avail, free + avail
    return [round(value / 1e9, 2) for value in (total, used, free)]


class RowSampler:
    """One combined CSV row per call: system, then the process tree, GPU included."""

    def __init__(self, pid: int, *, children: bool = True) -> None:
        self.process = ProcessTreeSampler(pid, children=children)
        self.system = SystemSampler()

    def row(self, gpu_system: GpuSample, gpu_process: GpuSample) -> list[float]:
        """A row of ``COLUMNS`` for the interval since the last call."""
        timestamp = time.time()
        system = self.system.sample()
        interval, children, utime, stime, memory, read, write = self.process.sample()
        cpu = (utime + stime) / max(interval, 1e-9)
        return [
            round(timestamp, 3),
            *system,
            *gpu_system,
            self.process.pid,
            children,
            round(utime, 6),
            round(stime, 6),
            round(cpu, 4),
            round(memory, 4),
            read,
            write,
            *gpu_process,
        ]
