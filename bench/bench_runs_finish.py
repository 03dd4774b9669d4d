"""Statistics for one day of a run at 1 Hz (86,400 rows inline): seconds, median of 5.

The CSV has resource-tracker 0.5.0's combined column set, with values shaped like its
output. The baseline, measured in the same run on the same file, is the published
tracker's own summary (``TinyDataFrame`` reading the CSV, then ``ResourceTracker.stats``'s
default specs: mean and max of a few columns), when ``resource-tracker`` is installed.

Usage: .venv/bin/python bench/bench_runs_finish.py [--rows N]
"""

from __future__ import annotations

import argparse
import csv
import inspect
import io
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from sentinel.runs.stats import compute_statistics

T0 = 1_750_000_000.0


def _csv(rows: int) -> str:
    """A combined tracker CSV: every column it writes, plausible values, 1 s apart."""
    rng = np.random.default_rng(1)
    cpu = np.round(rng.gamma(2.0, 1.0, rows), 4)
    columns = {
        "timestamp": np.round(T0 + np.arange(rows) + rng.uniform(0, 0.01, rows), 3),
        "system_processes": rng.integers(90, 110, rows),
        "system_utime": np.round(cpu * 0.9, 2),
        "system_stime": np.round(cpu * 0.1, 2),
        "system_cpu_usage": np.round(cpu + 0.2, 4),
        "system_memory_free_mib": np.round(rng.uniform(20_000, 22_000, rows), 4),
        "system_memory_used_mib": np.round(rng.uniform(6_000, 9_000, rows), 4),
        "system_memory_buffers_mib": np.full(rows, 46.5391),
        "system_memory_cached_mib": np.round(rng.uniform(1_400, 1_500, rows), 4),
        "system_memory_active_mib": np.round(rng.uniform(500, 600, rows), 4),
        "system_memory_inactive_mib": np.round(rng.uniform(900, 950, rows), 4),
        "system_disk_read_bytes": rng.integers(0, 4, rows) * 4096,
        "system_disk_write_bytes": rng.integers(0, 64, rows) * 4096,
        "system_disk_space_total_gb": np.full(rows, 270.55),
        "system_disk_space_used_gb": np.full(rows, 186.85),
        "system_disk_space_free_gb": np.full(rows, 83.7),
        "system_net_recv_bytes": rng.integers(0, 100_000, rows),
        "system_net_sent_bytes": rng.integers(0, 50_000, rows),
        "system_gpu_usage": np.round(rng.uniform(0, 2, rows), 4),
        "system_gpu_vram_mib": np.round(rng.uniform(10_000, 30_000, rows), 4),
        "system_gpu_utilized": rng.integers(1, 3, rows),
        "process_pid": np.full(rows, 4242),
        "process_children": np.full(rows, None),  # written as "" like the tracker's None
        "process_utime": np.round(cpu * 0.9, 2),
        "process_stime": np.round(cpu * 0.1, 2),
        "process_cpu_usage": cpu,
        "process_memory_mib": np.round(rng.uniform(3_000, 6_000, rows), 4),
        "process_disk_read_bytes": rng.integers(0, 4, rows) * 4096,
        "process_disk_write_bytes": rng.integers(0, 64, rows) * 4096,
        "process_gpu_usage": np.round(rng.uniform(0, 2, rows), 4),
        "process_gpu_vram_mib": np.round(rng.uniform(10_000, 30_000, rows), 4),
        "process_gpu_utilized": rng.integers(1, 3, rows),
    }
    out = io.StringIO(newline="")
    writer = csv.writer(out, quoting=csv.QUOTE_NONNUMERIC)
    writer.writerow(columns)
    writer.writerows(zip(*(values.tolist() for values in columns.values()), strict=True))
    return out.getvalue()


def _median_of_5(work: Callable[[], object]) -> tuple[float, float, float]:
    """Median, min and max seconds of five calls."""
    times = []
    for _ in range(5):
        began = time.perf_counter()
        work()
        times.append(time.perf_counter() - began)
    return statistics.median(times), min(times), max(times)


def _published_summary(text: str) -> Callable[[], object] | None:
    """resource-tracker's own read-and-summarise of the same CSV, or None if not installed."""
    try:
        from resource_tracker import ResourceTracker
        from resource_tracker.tiny_data_frame import TinyDataFrame
    except ImportError:
        return None
    specs = inspect.signature(ResourceTracker.stats).parameters["specs"].default
    path = Path(tempfile.mkdtemp()) / "run.csv"
    path.write_text(text)
    return lambda: TinyDataFrame(csv_file_path=str(path)).stats(specs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=86_400)
    args = parser.parse_args()
    text = _csv(args.rows)
    print(f"{args.rows:,} rows, {len(text) / 1e6:.1f} MB of CSV")
    print(f"{'what':<44}{'median s':>10}{'min':>8}{'max':>8}")
    ours = _median_of_5(lambda: compute_statistics([text]))
    print(f"{'sentinel compute_statistics':<44}{ours[0]:>10.3f}{ours[1]:>8.3f}{ours[2]:>8.3f}")
    published = _published_summary(text)
    if published is not None:
        theirs = _median_of_5(published)
        label = "resource-tracker TinyDataFrame + stats"
        print(f"{label:<44}{theirs[0]:>10.3f}{theirs[1]:>8.3f}{theirs[2]:>8.3f}")
        print(f"ratio (published / sentinel): {theirs[0] / ours[0]:.1f}x")


if __name__ == "__main__":
    main()
