"""Statistics of a finished run, computed on the server from the tracker's CSV.

The CSV is resource-tracker's combined format: a ``timestamp`` (Unix seconds, the end
of each sample's interval) and one column per metric, prefixed ``process_`` (the
tracked process tree) or ``system_`` (the whole host). ``cpu_usage`` is in cores,
memory and VRAM in MiB, ``gpu_usage`` in busy GPUs (0 to the GPU count), and disk
and network columns are bytes moved during the sample's interval.

Server side only: this module needs NumPy (the ``server`` extra).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sentinel.runs._csv import CsvError, read_chunks
from sentinel.runs.recommend import Recommendation, recommend

__all__ = [
    "IDLE_CPU_CORES",
    "IDLE_GPU_USAGE",
    "METRICS",
    "SERIES_POINTS",
    "CsvError",
    "MetricSummary",
    "RunStatistics",
    "compute_statistics",
]

METRICS: Mapping[str, tuple[str, bool]] = {
    "process_cpu_usage": ("cores", False),
    "process_memory_mib": ("MiB", False),
    "process_disk_read_bytes": ("B", True),
    "process_disk_write_bytes": ("B", True),
    "process_gpu_usage": ("GPUs", False),
    "process_gpu_vram_mib": ("MiB", False),
    "process_gpu_utilized": ("GPUs", False),
    "system_cpu_usage": ("cores", False),
    "system_memory_used_mib": ("MiB", False),
    "system_disk_read_bytes": ("B", True),
    "system_disk_write_bytes": ("B", True),
    "system_net_recv_bytes": ("B", True),
    "system_net_sent_bytes": ("B", True),
    "system_gpu_usage": ("GPUs", False),
    "system_gpu_vram_mib": ("MiB", False),
    "system_gpu_utilized": ("GPUs", False),
}
"""Required columns: name to (unit, whether each value is a per-interval amount)."""

_OPTIONAL: Mapping[str, tuple[str, bool]] = {
    "system_processes": ("processes", False),
    "system_memory_free_mib": ("MiB", False),
    "system_memory_buffers_mib": ("MiB", False),
    "system_memory_cached_mib": ("MiB", False),
    "system_memory_active_mib": ("MiB", False),
    "system_memory_inactive_mib": ("MiB", False),
    "system_disk_space_used_gb": ("GB", False),
}

IDLE_CPU_CORES = 0.05
"""A sample is idle when the process tree used fewer cores than this and no GPU."""
IDLE_GPU_USAGE = 0.01
"""Below this many busy GPUs a sample counts as using no GPU."""

SERIES_POINTS = 500
"""Most points per metric in ``RunStatistics.series``."""


@dataclass(frozen=True)
class MetricSummary:
    """Distribution of one metric over the run's samples."""

    unit: str
    mean: float
    p50: float
    p95: float
    max: float
    total: float | None
    """Sum over the run for per-interval amounts (bytes moved); None for levels."""


@dataclass(frozen=True)
class RunStatistics:
    """What a run used, and what it should ask for next time."""

    samples: int
    start: float
    """Unix time of the first sample."""
    end: float
    """Unix time of the last sample."""
    interval_s: float | None
    """Median time between samples; None with a single sample."""
    duration_s: float
    """From the start of the first sample's interval to the last sample."""
    metrics: Mapping[str, MetricSummary]
    cpu_core_hours: float
    """CPU time of the process tree, in core-hours."""
    system_cpu_core_hours: float
    peak_memory_mib: float
    """Highest memory of the process tree."""
    system_peak_memory_mib: float
    gpu_hours: float
    """Busy-GPU time of the process tree, in GPU-hours."""
    gpus_used: int
    """Most GPUs the process tree used at once."""
    gpu_utilisation: float | None
    """Mean busy share of the GPUs the process used (0 to 1); None when it used none."""
    peak_vram_mib: float
    idle_share: float
    """Share of the run's time in which the process tree was idle (0 to 1)."""
    recommendation: Recommendation
    series: Mapping[str, list[list[float]]]
    """Metric to ``[[unix_ts, value], ...]`` for plots: the maximum of each of at most
    ``SERIES_POINTS`` consecutive buckets, stamped with the bucket's first sample."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe form."""
        return asdict(self)


def compute_statistics(chunks: Iterable[str]) -> RunStatistics:
    """Compute a run's statistics from its CSV files.

    Args:
        chunks: Text of each CSV file (header included) in time order; their rows form
            one series.

    Raises:
        CsvError: A required column is missing, a cell is not a number, or no rows.
    """
    table = read_chunks(chunks, list(METRICS), list(_OPTIONAL))
    ts, values = table.timestamps, table.values
    column = {name: values[:, j] for j, name in enumerate(table.columns)}
    steps = np.diff(ts)
    interval = float(np.median(steps)) if len(steps) else None
    # Each row measures the interval ending at its timestamp; the first row's interval
    # precedes the first timestamp, so it is taken as the typical one.
    seconds = np.concatenate(([interval or 0.0], steps))
    busy = (column["process_cpu_usage"] >= IDLE_CPU_CORES) | (
        column["process_gpu_usage"] >= IDLE_GPU_USAGE
    )
    idle_share = (
        float(seconds[~busy].sum() / seconds.sum()) if seconds.sum() > 0 else float(np.mean(~busy))
    )
    summaries = _summaries(table.columns, values)
    gpus_used = int(summaries["process_gpu_utilized"].max)
    return RunStatistics(
        samples=len(ts),
        start=float(ts[0]),
        end=float(ts[-1]),
        interval_s=interval,
        duration_s=float(seconds.sum()),
        metrics=summaries,
        cpu_core_hours=float(column["process_cpu_usage"] @ seconds) / 3600,
        system_cpu_core_hours=float(column["system_cpu_usage"] @ seconds) / 3600,
        peak_memory_mib=summaries["process_memory_mib"].max,
        system_peak_memory_mib=summaries["system_memory_used_mib"].max,
        gpu_hours=float(column["process_gpu_usage"] @ seconds) / 3600,
        gpus_used=gpus_used,
        gpu_utilisation=(summaries["process_gpu_usage"].mean / gpus_used if gpus_used else None),
        peak_vram_mib=summaries["process_gpu_vram_mib"].max,
        idle_share=idle_share,
        recommendation=recommend(
            cpu_p95=summaries["process_cpu_usage"].p95,
            cpu_max=summaries["process_cpu_usage"].max,
            memory_peak_mib=summaries["process_memory_mib"].max,
            gpu_p95=summaries["process_gpu_usage"].p95,
            gpus_used=gpus_used,
            vram_peak_mib=summaries["process_gpu_vram_mib"].max,
        ),
        series=_series(ts, table.columns, values),
    )


def _summaries(columns: tuple[str, ...], values: np.ndarray) -> dict[str, MetricSummary]:
    """Mean, median, p95, max (and total for amounts) of every column at once."""
    means = values.mean(axis=0)
    p50, p95 = np.percentile(values, [50, 95], axis=0)
    maxima = values.max(axis=0)
    totals = values.sum(axis=0)
    summaries = {}
    for j, name in enumerate(columns):
        unit, amount = METRICS.get(name) or _OPTIONAL[name]
        summaries[name] = MetricSummary(
            unit=unit,
            mean=float(means[j]),
            p50=float(p50[j]),
            p95=float(p95[j]),
            max=float(maxima[j]),
            total=float(totals[j]) if amount else None,
        )
    return summaries


def _series(
    ts: np.ndarray, columns: tuple[str, ...], values: np.ndarray
) -> dict[str, list[list[float]]]:
    """Downsample every column to at most ``SERIES_POINTS`` points, keeping the peaks."""
    buckets = min(len(ts), SERIES_POINTS)
    starts = np.arange(buckets) * len(ts) // buckets
    peaks = np.maximum.reduceat(values, starts, axis=0)
    stamps = ts[starts]
    return {name: np.column_stack((stamps, peaks[:, j])).tolist() for j, name in enumerate(columns)}
