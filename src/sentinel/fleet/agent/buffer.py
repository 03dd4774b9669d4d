"""On-disk buffer of reports the engine has not acknowledged yet.

Reports survive an engine outage and an agent restart here. The format is a directory
of append-only segment files (``seg-<n>.log``) holding length-prefixed records, each
checked by a CRC32:

    magic b"SNTL" | u32 length | u32 crc32(length ‖ body)
    body = u8 kind | u8 id length | report id | payload

An acknowledgement record lists report ids (newline separated) the engine acknowledged, so
a restart does not send them again. A segment file is deleted once it and every older
one hold no unacknowledged report. When the buffer would grow past ``max_bytes`` the
oldest segment is deleted and its reports are counted in ``dropped``. A damaged record
(torn write, bit rot) is logged and skipped: reading resumes at the next magic number,
so one bad record costs only itself.

Segment files instead of SQLite because a damaged SQLite page can make the whole file
unreadable, while here every intact record stays deliverable.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
import zlib
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["KIND_PROBE", "KIND_TMR", "DiskBuffer", "Record"]

log = logging.getLogger("sentinel.fleet.agent.buffer")

KIND_PROBE = 1
"""A serialized ``ProbeReport``."""
KIND_TMR = 2
"""A serialized ``TmrReport``."""
_KIND_ACK = 255

_MAGIC = b"SNTL"
_HEADER = struct.Struct("<4sII")
_LENGTH = struct.Struct("<I")
_MAX_RECORD = 16 << 20


@dataclass(frozen=True)
class Record:
    """One buffered report: its id (assigned once, at creation), kind and message bytes."""

    report_id: str
    kind: int
    payload: bytes


@dataclass
class _Segment:
    seq: int
    path: Path
    size: int = 0
    live: dict[str, Record] = field(default_factory=dict)


def _frame(kind: int, report_id: str, payload: bytes) -> bytes:
    rid = report_id.encode()
    body = bytes([kind, len(rid)]) + rid + payload
    length = _LENGTH.pack(len(body))
    return _HEADER.pack(_MAGIC, len(body), zlib.crc32(length + body)) + body


def _scan(data: bytes) -> tuple[list[Record], int]:
    """Every intact record of a segment, and how many damaged ones were skipped."""
    records: list[Record] = []
    pos, bad = 0, 0
    while pos < len(data):
        if pos + _HEADER.size <= len(data):
            magic, length, crc = _HEADER.unpack_from(data, pos)
            end = pos + _HEADER.size + length
            if magic == _MAGIC and 2 <= length <= _MAX_RECORD and end <= len(data):
                body = data[pos + _HEADER.size : end]
                rid_end = 2 + body[1]
                if zlib.crc32(_LENGTH.pack(length) + body) == crc and rid_end <= len(body):
                    records.append(Record(body[2:rid_end].decode(), body[0], body[rid_end:]))
                    pos = end
                    continue
        bad += 1
        nxt = data.find(_MAGIC, pos + 1)
        pos = nxt if nxt >= 0 else len(data)
    return records, bad


class DiskBuffer:
    """A bounded, crash-tolerant FIFO of reports, shared by the producer and the sender.

    Args:
        directory: Where the segment files live; created if missing.
        max_bytes: Upper bound of the files' total size.
    """

    def __init__(self, directory: Path, max_bytes: int) -> None:
        if max_bytes < 4096:
            raise ValueError(f"buffer_max_bytes must be at least 4096, got {max_bytes}")
        self.directory = directory
        self.max_bytes = max_bytes
        self.dropped = 0
        """Reports deleted unsent because the buffer was full."""
        self.damaged = 0
        """Damaged records skipped while loading."""
        self._segment_bytes = max(max_bytes // 8, 1024)
        self._lock = threading.Lock()
        self._segments: list[_Segment] = []
        self._file: int | None = None
        directory.mkdir(parents=True, exist_ok=True)
        self._load()

    # -- loading -----------------------------------------------------------------

    def _load(self) -> None:
        paths = sorted(self.directory.glob("seg-*.log"))
        acked: set[str] = set()
        for path in paths:
            seg = _Segment(int(path.stem.removeprefix("seg-")), path, path.stat().st_size)
            records, bad = _scan(path.read_bytes())
            if bad:
                self.damaged += bad
                log.warning(
                    "agent buffer %s: skipped %d damaged record(s); the intact ones are kept",
                    path,
                    bad,
                )
            for record in records:
                if record.kind == _KIND_ACK:
                    acked.update(record.payload.decode().split("\n"))
                else:
                    seg.live[record.report_id] = record
            self._segments.append(seg)
        for seg in self._segments:
            for rid in acked & seg.live.keys():
                del seg.live[rid]
        self._collect()

    # -- writing -----------------------------------------------------------------

    def append(self, record: Record) -> None:
        """Store ``record``; drops the oldest segment first when the buffer is full."""
        frame = _frame(record.kind, record.report_id, record.payload)
        with self._lock:
            if len(frame) > self._segment_bytes:
                self.dropped += 1
                log.error(
                    "report %s (%d bytes) does not fit in the buffer; dropped",
                    record.report_id,
                    len(frame),
                )
                return
            while self._segments and self._total() + len(frame) > self.max_bytes:
                self._drop_oldest()
            seg = self._writable()
            self._write(seg, frame)
            seg.live[record.report_id] = record

    def ack(self, report_ids: list[str]) -> None:
        """Forget reports the engine acknowledged; delete segments that are done."""
        if not report_ids:
            return
        with self._lock:
            done: dict[int, list[str]] = {}
            for seg in self._segments:
                for rid in report_ids:
                    if seg.live.pop(rid, None) is not None:
                        done.setdefault(seg.seq, []).append(rid)
            self._collect()
            # Only reports in segments that stay on disk need an acknowledgement record.
            kept = [rid for seg in self._segments for rid in done.get(seg.seq, ())]
            if kept:
                self._write(self._writable(), _frame(_KIND_ACK, "", "\n".join(kept).encode()))

    def _writable(self) -> _Segment:
        seg = self._segments[-1] if self._segments else None
        if seg is None or self._file is None or seg.size >= self._segment_bytes:
            self._close_file()
            seq = seg.seq + 1 if seg else 1
            seg = _Segment(seq, self.directory / f"seg-{seq:012d}.log")
            self._segments.append(seg)
            self._file = os.open(seg.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return seg

    def _write(self, seg: _Segment, frame: bytes) -> None:
        assert self._file is not None
        os.write(self._file, frame)
        seg.size += len(frame)

    def _drop_oldest(self) -> None:
        seg = self._segments.pop(0)
        if not self._segments:
            self._close_file()
        if seg.live:
            self.dropped += len(seg.live)
            log.warning(
                "agent buffer full (%d bytes): dropped %d oldest unsent reports",
                self.max_bytes,
                len(seg.live),
            )
        seg.path.unlink(missing_ok=True)

    def _collect(self) -> None:
        """Delete leading segments with nothing left to send (never the one being written)."""
        while len(self._segments) > 1 and not self._segments[0].live:
            self._segments.pop(0).path.unlink(missing_ok=True)
        if len(self._segments) == 1 and not self._segments[0].live:
            self._close_file()
            self._segments.pop().path.unlink(missing_ok=True)

    def _total(self) -> int:
        return sum(s.size for s in self._segments)

    def _close_file(self) -> None:
        if self._file is not None:
            os.fsync(self._file)
            os.close(self._file)
            self._file = None

    # -- reading -----------------------------------------------------------------

    def peek(self, limit: int) -> list[Record]:
        """Up to ``limit`` oldest unacknowledged reports, oldest first."""
        out: list[Record] = []
        with self._lock:
            for seg in self._segments:
                for record in seg.live.values():
                    out.append(record)
                    if len(out) == limit:
                        return out
        return out

    def __len__(self) -> int:
        with self._lock:
            return sum(len(s.live) for s in self._segments)

    def __contains__(self, report_id: object) -> bool:
        with self._lock:
            return any(report_id in s.live for s in self._segments)

    @property
    def size_bytes(self) -> int:
        """Bytes the segment files take on disk."""
        with self._lock:
            return self._total()

    def close(self) -> None:
        """Flush and close the file being written."""
        with self._lock:
            self._close_file()
