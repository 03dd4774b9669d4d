"""Run statistics from resource-tracker CSVs: known answers, real tracker output, bad input."""

from __future__ import annotations

import csv
import io
import json
import random
import statistics
from pathlib import Path

import pytest
from resource_tracker import ResourceTracker

from sentinel.runs.stats import METRICS, SERIES_POINTS, CsvError, compute_statistics

T0 = 1_750_000_000.0


def _csv(columns: dict[str, list[float]], header: list[str] | None = None) -> str:
    """A combined resource-tracker CSV: every required column, zero unless given."""
    rows = len(columns["timestamp"])
    names = header or ["timestamp", *METRICS]
    table = {name: columns.get(name, [0.0] * rows) for name in names}
    out = io.StringIO(newline="")
    writer = csv.writer(out, quoting=csv.QUOTE_NONNUMERIC)
    writer.writerow(names)
    for i in range(rows):
        writer.writerow([table[name][i] for name in names])
    return out.getvalue()


def _seconds(n: int, start: float = T0) -> list[float]:
    return [start + i for i in range(n)]


def test_distribution_matches_the_statistics_module() -> None:
    rng = random.Random(7)
    cpu = [round(rng.uniform(0, 8), 4) for _ in range(1001)]
    mem = [round(rng.uniform(100, 5000), 4) for _ in range(1001)]
    stats = compute_statistics(
        [_csv({"timestamp": _seconds(1001), "process_cpu_usage": cpu, "process_memory_mib": mem})]
    )
    for name, values in (("process_cpu_usage", cpu), ("process_memory_mib", mem)):
        summary = stats.metrics[name]
        assert summary.mean == pytest.approx(statistics.fmean(values))
        assert summary.p50 == pytest.approx(statistics.median(values))
        # numpy's default percentile is the "inclusive" (linear) method
        p95 = statistics.quantiles(values, n=100, method="inclusive")[94]
        assert summary.p95 == pytest.approx(p95)
        assert summary.max == max(values)
        assert summary.total is None
    assert stats.metrics["process_cpu_usage"].unit == "cores"
    assert stats.peak_memory_mib == max(mem)
    assert stats.samples == 1001


def test_duration_and_core_hours_count_each_rows_interval() -> None:
    # Rows at 0, 1, 3, 4 s: intervals 1, 2, 1 and the first row's assumed to be the median, 1.
    ts = [T0, T0 + 1, T0 + 3, T0 + 4]
    cpu = [2.0, 2.0, 4.0, 2.0]
    stats = compute_statistics(
        [_csv({"timestamp": ts, "process_cpu_usage": cpu, "system_cpu_usage": [8.0] * 4})]
    )
    assert stats.interval_s == 1.0
    assert stats.duration_s == 5.0
    assert (stats.start, stats.end) == (T0, T0 + 4)
    assert stats.cpu_core_hours == pytest.approx((2 * 1 + 2 * 1 + 4 * 2 + 2 * 1) / 3600)
    assert stats.system_cpu_core_hours == pytest.approx(8 * 5 / 3600)


def test_one_day_at_one_hertz() -> None:
    n = 86_400
    stats = compute_statistics([_csv({"timestamp": _seconds(n), "process_cpu_usage": [1.5] * n})])
    assert stats.duration_s == n
    assert stats.cpu_core_hours == pytest.approx(36.0)
    assert stats.recommendation.cpu.value == 2  # 1.5 * 1.2 = 1.8


def test_idle_share_is_time_without_cpu_or_gpu_work() -> None:
    cpu = [0.0, 0.01, 1.0, 0.0, 2.0, 0.0, 0.0, 0.5]
    gpu = [0.0, 0.0, 0.0, 0.9, 0.0, 0.0, 0.0, 0.0]  # row 4 is busy on the GPU only
    stats = compute_statistics(
        [_csv({"timestamp": _seconds(8), "process_cpu_usage": cpu, "process_gpu_usage": gpu})]
    )
    assert stats.idle_share == pytest.approx(4 / 8)


def test_gpu_figures() -> None:
    n = 10
    stats = compute_statistics(
        [
            _csv(
                {
                    "timestamp": _seconds(n),
                    "process_gpu_usage": [1.5] * n,
                    "process_gpu_utilized": [2.0] * n,
                    "process_gpu_vram_mib": [1000.0] * (n - 1) + [20_000.0],
                }
            )
        ]
    )
    assert stats.gpus_used == 2
    assert stats.gpu_utilisation == pytest.approx(0.75)
    assert stats.gpu_hours == pytest.approx(1.5 * n / 3600)
    assert stats.peak_vram_mib == 20_000.0
    assert stats.recommendation.gpu.value == 2
    assert stats.recommendation.vram.value == 24  # 20000 * 1.2 / 1024 = 23.4


def test_no_gpu_means_no_utilisation_and_no_gpu_recommended() -> None:
    stats = compute_statistics([_csv({"timestamp": _seconds(3)})])
    assert (stats.gpus_used, stats.gpu_utilisation, stats.gpu_hours) == (0, None, 0.0)
    assert stats.recommendation.gpu.value == 0
    assert stats.idle_share == 1.0


def test_byte_amounts_have_totals() -> None:
    recv = [100.0, 0.0, 2500.0]
    stats = compute_statistics([_csv({"timestamp": _seconds(3), "system_net_recv_bytes": recv})])
    summary = stats.metrics["system_net_recv_bytes"]
    assert (summary.unit, summary.total, summary.max) == ("B", 2600.0, 2500.0)


def test_chunks_form_one_series_whatever_their_column_order() -> None:
    first = _csv({"timestamp": _seconds(3), "process_cpu_usage": [1.0, 2.0, 3.0]})
    second = _csv(
        {"timestamp": _seconds(2, T0 + 3), "process_cpu_usage": [4.0, 5.0]},
        header=[*reversed(METRICS), "timestamp"],
    )
    stats = compute_statistics(iter([first, second]))
    assert stats.samples == 5
    assert stats.metrics["process_cpu_usage"].mean == 3.0
    assert stats.end == T0 + 4
    # Out-of-order chunks give the same answer: rows are put in time order.
    assert compute_statistics([second, first]) == stats


def test_optional_columns_are_summarised_when_every_chunk_has_them() -> None:
    with_free = ["timestamp", *METRICS, "system_memory_free_mib"]
    a = _csv({"timestamp": _seconds(2), "system_memory_free_mib": [10.0, 30.0]}, with_free)
    assert compute_statistics([a]).metrics["system_memory_free_mib"].mean == 20.0
    b = _csv({"timestamp": _seconds(2, T0 + 2)})
    assert "system_memory_free_mib" not in compute_statistics([a, b]).metrics


def test_series_keeps_peaks_within_the_point_budget() -> None:
    n = 86_400
    cpu = [1.0] * n
    cpu[12_345] = 7.5
    stats = compute_statistics([_csv({"timestamp": _seconds(n), "process_cpu_usage": cpu})])
    points = stats.series["process_cpu_usage"]
    assert len(points) == SERIES_POINTS
    assert max(value for _, value in points) == 7.5
    assert points[0][0] == T0
    assert all(a[0] < b[0] for a, b in zip(points, points[1:], strict=False))
    assert set(stats.series) == set(stats.metrics)


def test_short_series_is_kept_whole() -> None:
    cpu = [0.5, 1.5, 1.0]
    stats = compute_statistics([_csv({"timestamp": _seconds(3), "process_cpu_usage": cpu})])
    assert stats.series["process_cpu_usage"] == [[T0 + i, v] for i, v in enumerate(cpu)]


def test_to_dict_is_strict_json() -> None:
    stats = compute_statistics([_csv({"timestamp": _seconds(5)})])
    data = json.loads(json.dumps(stats.to_dict(), allow_nan=False))
    assert data["samples"] == 5
    assert data["metrics"]["process_cpu_usage"]["p95"] == 0.0
    assert set(data["recommendation"]) == {"cpu", "memory", "gpu", "vram"}
    assert data["recommendation"]["cpu"]["value"] == 1
    assert data["series"]["process_memory_mib"][0] == [T0, 0.0]


def test_single_sample() -> None:
    stats = compute_statistics([_csv({"timestamp": [T0], "process_cpu_usage": [2.0]})])
    assert (stats.samples, stats.interval_s, stats.duration_s) == (1, None, 0.0)
    assert stats.idle_share == 0.0
    assert stats.metrics["process_cpu_usage"].p95 == 2.0


# The published tracker -----------------------------------------------------------------


def test_the_published_trackers_csv(tmp_path: Path) -> None:
    """Stats from what resource-tracker 0.5.0 sends, inline and as two streamed batches.

    The CSV is written by the tracker's own streaming writer (``_update_combined_csv``,
    which its ``StreamingManager`` calls before each upload); batches after the first get
    the header prepended, as ``StreamingManager._upload_batch`` does.
    """
    tracker = ResourceTracker(interval=0.5, discover_server=False, discover_cloud=False)
    tracker._combined_csv_filepath = str(tmp_path / "combined.csv")
    tracker.start()
    try:
        tracker.wait_for_samples(n=2, timeout=20)
        tracker._update_combined_csv()
        first_size = Path(tracker._combined_csv_filepath).stat().st_size
        sum(i * i for i in range(2_000_000))  # a little work for the process tree
        tracker.wait_for_samples(n=5, timeout=20)
    finally:
        tracker.stop()
    tracker._update_combined_csv()
    whole = Path(tracker._combined_csv_filepath).read_bytes()
    header = whole[: whole.index(b"\n") + 1]
    batches = [whole[:first_size].decode(), (header + whole[first_size:]).decode()]

    rows = list(csv.DictReader(io.StringIO(whole.decode())))
    inline = compute_statistics([whole.decode()])
    assert inline.samples == len(rows) >= 5
    assert compute_statistics(batches) == inline
    assert set(METRICS) <= set(inline.metrics)
    assert inline.peak_memory_mib == max(float(r["process_memory_mib"]) for r in rows) > 0
    assert inline.metrics["system_memory_used_mib"].max > 0
    assert inline.start == float(rows[0]["timestamp"])
    assert inline.recommendation.memory.value >= 1


# Bad input -----------------------------------------------------------------------------


def test_missing_columns_are_named() -> None:
    names = [
        n for n in ["timestamp", *METRICS] if n not in {"process_cpu_usage", "system_gpu_usage"}
    ]
    text = _csv({"timestamp": _seconds(2)}, header=names)
    with pytest.raises(
        CsvError, match="missing column\\(s\\): process_cpu_usage, system_gpu_usage"
    ):
        compute_statistics([text])


def test_missing_timestamp_is_named() -> None:
    text = _csv({"timestamp": _seconds(2)}).replace('"timestamp"', '"time"', 1)
    with pytest.raises(CsvError, match="missing column\\(s\\): timestamp"):
        compute_statistics([text])


def _with_cell(text: str, row: int, column: str, cell: str) -> str:
    lines = text.splitlines()
    names = next(csv.reader([lines[0]]))
    fields = lines[row].split(",")
    fields[names.index(column)] = cell
    lines[row] = ",".join(fields)
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("abc", "row 17, column process_cpu_usage: 'abc' is not a number"),
        ('"abc"', "row 17, column process_cpu_usage: 'abc' is not a number"),
        ("", "row 17, column process_cpu_usage: '' is not a number"),
        ("nan", "row 17, column process_cpu_usage: 'nan' is not a finite number"),
        ("-inf", "row 17, column process_cpu_usage: '-inf' is not a finite number"),
        ("1e300", "row 17, column process_cpu_usage: '1e\\+300' is not a finite number"),
    ],
)
def test_bad_cells_are_located(cell: str, message: str) -> None:
    text = _with_cell(_csv({"timestamp": _seconds(20)}), 17, "process_cpu_usage", cell)
    with pytest.raises(CsvError, match=message):
        compute_statistics([text])


def test_bad_cell_in_a_later_chunk_names_the_chunk() -> None:
    first = _csv({"timestamp": _seconds(3)})
    second = _with_cell(_csv({"timestamp": _seconds(3, T0 + 3)}), 2, "system_net_sent_bytes", "x")
    with pytest.raises(CsvError, match="chunk 2: row 2, column system_net_sent_bytes: 'x'"):
        compute_statistics([first, second])


def test_unused_columns_may_hold_anything() -> None:
    names = ["timestamp", *METRICS, "process_children", "host"]
    text = _csv({"timestamp": _seconds(2)}, names)
    text = text.replace(",0.0,0.0\r\n", ',"","a, b"\r\n')
    assert compute_statistics([text]).samples == 2


@pytest.mark.parametrize(("extra", "fields"), [(",1", len(METRICS) + 2), ("", len(METRICS))])
def test_rows_with_the_wrong_number_of_fields(extra: str, fields: int) -> None:
    lines = _csv({"timestamp": _seconds(4)}).splitlines()
    lines[3] = lines[3] + extra if extra else lines[3].rsplit(",", 1)[0]
    with pytest.raises(
        CsvError, match=f"row 3 has {fields} fields, the header has {len(METRICS) + 1}"
    ):
        compute_statistics(["\n".join(lines)])


def test_duplicate_header_column() -> None:
    text = _csv({"timestamp": _seconds(2)}, header=["timestamp", *METRICS, "process_cpu_usage"])
    with pytest.raises(CsvError, match="column process_cpu_usage appears twice"):
        compute_statistics([text])


@pytest.mark.parametrize(
    "chunks",
    [[], [""], ["  \n"], [_csv({"timestamp": []})], [_csv({"timestamp": []}), ""]],
)
def test_no_rows(chunks: list[str]) -> None:
    with pytest.raises(CsvError, match="no data rows"):
        compute_statistics(chunks)


def test_csv_error_is_a_value_error() -> None:
    assert issubclass(CsvError, ValueError)
