"""The on-disk buffer: order, acks that survive a restart, the size bound, damaged records."""

from __future__ import annotations

from pathlib import Path

from sentinel.fleet.agent import DiskBuffer, Record
from sentinel.fleet.agent.buffer import KIND_PROBE, KIND_TMR


def _record(i: int, size: int = 40) -> Record:
    return Record(f"r{i:04d}", KIND_PROBE if i % 2 else KIND_TMR, bytes([i % 256]) * size)


def test_keeps_order_and_forgets_acknowledged_reports_across_a_restart(tmp_path: Path) -> None:
    buf = DiskBuffer(tmp_path, 1 << 20)
    for i in range(10):
        buf.append(_record(i))
    assert [r.report_id for r in buf.peek(3)] == ["r0000", "r0001", "r0002"]
    buf.ack(["r0000", "r0001", "r0005"])
    buf.close()
    again = DiskBuffer(tmp_path, 1 << 20)
    assert [r.report_id for r in again.peek(100)] == [
        f"r{i:04d}" for i in range(10) if i not in (0, 1, 5)
    ]
    assert again.peek(1)[0] == _record(2)
    again.ack([r.report_id for r in again.peek(100)])
    assert len(again) == 0 and not list(tmp_path.glob("seg-*.log")), "done segments are deleted"


def test_full_buffer_drops_the_oldest_and_counts_them(tmp_path: Path) -> None:
    buf = DiskBuffer(tmp_path, 8192)
    for i in range(400):
        buf.append(_record(i))
    assert buf.size_bytes <= 8192
    assert buf.dropped > 0 and len(buf) + buf.dropped == 400
    kept = [r.report_id for r in buf.peek(1000)]
    assert kept == [f"r{i:04d}" for i in range(400 - len(kept), 400)], "the newest are kept"


def test_damaged_records_are_skipped_and_counted(tmp_path: Path) -> None:
    buf = DiskBuffer(tmp_path, 1 << 20)
    for i in range(6):
        buf.append(_record(i))
    buf.close()
    (segment,) = tmp_path.glob("seg-*.log")
    data = bytearray(segment.read_bytes())
    size = len(data) // 6
    data[2 * size + 30] ^= 0x01
    segment.write_bytes(bytes(data[:-7]))  # and a torn last write
    again = DiskBuffer(tmp_path, 1 << 20)
    assert [r.report_id for r in again.peek(10)] == ["r0000", "r0001", "r0003", "r0004"]
    assert again.damaged == 2
