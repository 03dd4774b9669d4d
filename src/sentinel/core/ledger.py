"""The tamper-evident audit ledger: a SHA-256 hash chain with an RFC 6962 Merkle root per batch.

Every entry commits to its predecessor (``entry_hash = SHA-256(previous_hash || canonical)``),
so editing, deleting, inserting or reordering a row breaks the chain at that row. Every
``batch_size`` entries a Merkle root over their hashes is stored, and the head (last id
and hash) is kept in ``sentinel_meta``. All of that lives in one database, so whoever
can write to it can also cut off the tail or rewrite the chain with recomputed hashes;
:meth:`Ledger.audit` catches those against signed checkpoints kept elsewhere
(:mod:`sentinel.core.checkpoints`).
"""

from __future__ import annotations

import json
import os
import struct
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import IntEnum
from hashlib import sha256
from multiprocessing import get_context
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Index,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    func,
    insert,
    inspect,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column

from sentinel.core.checkpoints import Checkpoint, CheckpointError
from sentinel.core.db import Base, bulk_insert, make_engine
from sentinel.core.merkle import merkle_root
from sentinel.core.meta import MetaRow, get_meta, get_or_create_secret, set_meta
from sentinel.core.pagination import InvalidPageToken, PageTokenCodec

__all__ = [
    "GENESIS_HASH",
    "EntryType",
    "Ledger",
    "LedgerError",
    "LedgerRecord",
    "StoredEntry",
    "VerifyResult",
    "canonical_bytes",
]

GENESIS_HASH = bytes(32)
_HEAD_KEY = "ledger_head"
_BATCH_SIZE_KEY = "ledger_batch_size"
_TOKEN_SECRET_KEY = "page_token_secret"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_US = timedelta(microseconds=1)
_MAX_LIMIT = 1000
_FETCH_ROWS = 20_000
# Below this many entries a second process costs more to start than it saves.
_PARALLEL_MIN_ENTRIES = 200_000

_HEADER = struct.Struct(">QBq")
_UUID_LEN = struct.Struct(">H")
_DATA_LEN = struct.Struct(">I")
# A NULL gpu_uuid gets a length no real one can have, so NULL and "" hash differently.
_NO_UUID = _UUID_LEN.pack(0xFFFF)


class EntryType(IntEnum):
    """What an entry records; stored as a plain small integer."""

    PROBE_RESULT = 1
    ANOMALY_EVENT = 2
    QUARANTINE_ACTION = 3
    CONFIG_CHANGE = 4
    TMR_RESULT = 5
    SYSTEM_EVENT = 6


CheckpointSource = Callable[[], tuple[list[Checkpoint], list[CheckpointError]]]
"""Returns the checkpoints whose signatures verify, and a problem for each that does not."""


class LedgerError(Exception):
    """The ledger cannot be used as asked: missing tables, a changed batch size, bad input."""


class LedgerEntryRow(Base):
    """One row of the chain; ``timestamp`` is microseconds since the epoch so it hashes exactly."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        Index("ix_ledger_entries_gpu_uuid_entry_id", "gpu_uuid", "entry_id"),
        Index("ix_ledger_entries_entry_type_entry_id", "entry_type", "entry_id"),
        Index("ix_ledger_entries_timestamp", "timestamp"),
    )

    entry_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    entry_type: Mapped[int] = mapped_column(SmallInteger)
    timestamp: Mapped[int] = mapped_column(BigInteger)
    gpu_uuid: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    previous_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    entry_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    merkle_root: Mapped[bytes | None] = mapped_column(LargeBinary)


class LedgerBatchRow(Base):
    """The Merkle root of entries ``first_entry_id..last_entry_id``, one row per full batch."""

    __tablename__ = "ledger_batches"

    batch_no: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    first_entry_id: Mapped[int] = mapped_column(BigInteger)
    last_entry_id: Mapped[int] = mapped_column(BigInteger)
    merkle_root: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at_us: Mapped[int] = mapped_column(BigInteger)


_entries = cast(Table, LedgerEntryRow.__table__)
_batches = cast(Table, LedgerBatchRow.__table__)
_ENTRY_COLUMNS = (
    "entry_id",
    "entry_type",
    "timestamp",
    "gpu_uuid",
    "data",
    "previous_hash",
    "entry_hash",
    "merkle_root",
)


@dataclass(frozen=True)
class LedgerRecord:
    """An entry to append; the ledger assigns its id and hashes."""

    entry_type: int
    timestamp: datetime
    """Timezone-aware; stored as UTC microseconds."""
    gpu_uuid: str | None
    data: bytes


@dataclass(frozen=True)
class StoredEntry:
    """An entry as stored, with the hashes that chain it to its predecessor."""

    entry_id: int
    entry_type: int
    timestamp: datetime
    gpu_uuid: str | None
    data: bytes
    previous_hash: bytes
    entry_hash: bytes
    merkle_root: bytes | None
    """Set on the last entry of each batch only."""


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of :meth:`Ledger.verify`."""

    valid: bool
    first_invalid_entry_id: int
    """0 when valid."""
    failure_description: str
    entries_verified: int
    batches_verified: int
    verification_time_ms: int
    merkle_roots: list[bytes] = field(default_factory=list)
    """The roots of the batches verified, in order, for anchoring elsewhere."""


def _to_us(ts: datetime) -> int:
    if ts.tzinfo is None:
        raise LedgerError(f"timestamp {ts.isoformat()} has no timezone; pass an aware UTC time")
    return (ts - _EPOCH) // _ONE_US


def _from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _uuid_field(gpu_uuid: str | None) -> bytes:
    if gpu_uuid is None:
        return _NO_UUID
    raw = gpu_uuid.encode()
    return _UUID_LEN.pack(len(raw)) + raw


def canonical_bytes(
    entry_id: int, entry_type: int, timestamp_us: int, gpu_uuid: str | None, data: bytes
) -> bytes:
    """The exact bytes an entry's hash covers: a fixed big-endian header, then ``data``.

    Layout: entry_id u64, entry_type u8, timestamp_us i64, gpu_uuid length u16 (0xFFFF for
    none) and its UTF-8 bytes, data length u32, data.
    """
    return (
        _HEADER.pack(entry_id, entry_type, timestamp_us)
        + _uuid_field(gpu_uuid)
        + _DATA_LEN.pack(len(data))
        + data
    )


def _check(record: LedgerRecord) -> None:
    if not 1 <= record.entry_type <= 255:
        raise LedgerError(f"entry_type must be 1..255 (see EntryType), got {record.entry_type}")
    if record.gpu_uuid is not None and len(record.gpu_uuid) > 64:
        raise LedgerError(f"gpu_uuid is longer than 64 characters: {record.gpu_uuid[:80]!r}")


def _encode_head(entry_id: int, entry_hash: bytes) -> str:
    return f"{entry_id}:{entry_hash.hex()}"


def _decode_head(value: str | None) -> tuple[int, bytes]:
    if value is None:
        return 0, GENESIS_HASH
    entry_id, _, digest = value.partition(":")
    return int(entry_id), bytes.fromhex(digest)


@dataclass
class _Head:
    """The chain's tip inside one transaction."""

    entry_id: int
    entry_hash: bytes


@dataclass
class _Scan:
    """What one pass over a contiguous id range found; merged by :meth:`Ledger.verify`."""

    first: int
    first_previous_hash: bytes | None = None
    last_hash: bytes | None = None
    verified: int = 0
    failure: tuple[int, str] | None = None
    roots: list[tuple[int, bytes]] = field(default_factory=list)


def _scan(
    conn: Connection,
    first: int,
    last: int,
    batch_size: int,
    merkle: bool,
    progress: Callable[[int], None] | None = None,
) -> _Scan:
    """Check ids, links and hashes of entries ``first..last`` and compute their batch roots.

    The first row's stored previous_hash is taken on trust and returned, so the caller can
    check it against whatever precedes the range. This is the hot loop of verification:
    driver rows, prebound locals, one hash call per entry.
    """
    result = _Scan(first)
    sql = (
        'SELECT entry_id, entry_type, "timestamp", gpu_uuid, data, previous_hash, entry_hash '
        f"FROM ledger_entries WHERE entry_id >= {first:d} AND entry_id <= {last:d} "
        "ORDER BY entry_id"
    )
    # The driver's own cursor, server-side on PostgreSQL so a million rows are never all in
    # memory; SQLAlchemy's result would wrap every row and prefetch from the stream.
    driver: Any = conn.connection.dbapi_connection
    postgres = conn.dialect.name == "postgresql"
    cursor = driver.cursor(name="ledger_verify") if postgres else driver.cursor()
    cursor.execute(sql)
    fetch = cursor.fetchmany
    pack_header, pack_len, digest = _HEADER.pack, _DATA_LEN.pack, sha256
    uuid_fields: dict[str | None, bytes] = {None: _NO_UUID}
    uuid_get = uuid_fields.get
    hashes: list[bytes] = []
    keep = hashes.append
    # Hashes before the first batch boundary in range belong to a batch we cannot complete.
    pending_from = first
    expect = first
    h = b""
    failure: tuple[int, str] | None = None
    rows = fetch(_FETCH_ROWS)
    if rows and rows[0][0] == first:
        h = result.first_previous_hash = bytes(rows[0][5])
    while rows and failure is None:
        for eid, etype, ts, gpu, data, prev, stored in rows:
            if eid != expect:
                failure = (expect, f"entry {expect} missing: ids jump from {expect - 1} to {eid}")
                break
            if prev != h:
                failure = (
                    eid,
                    f"entry {eid}: previous_hash does not match the entry_hash of entry {eid - 1}",
                )
                break
            u = uuid_get(gpu)
            if u is None:
                u = uuid_fields[gpu] = _uuid_field(gpu)
            h = digest(
                b"".join((h, pack_header(eid, etype, ts), u, pack_len(len(data)), data))
            ).digest()
            if h != stored:
                failure = (eid, f"entry {eid}: entry_hash does not match its contents")
                break
            keep(h)
            expect += 1
        done = expect - first
        result.verified, result.last_hash = done, h
        if merkle:
            pending_from = _close_batches(hashes, pending_from, batch_size, result.roots)
        if progress is not None:
            progress(done)
        if failure is None:
            rows = fetch(_FETCH_ROWS)
    cursor.close()
    if failure is None and expect <= last:
        failure = (
            expect,
            f"entry {expect} missing: ids end at {expect - 1}, expected up to {last}",
        )
    result.failure = failure
    return result


def _close_batches(
    hashes: list[bytes], pending_from: int, batch_size: int, roots: list[tuple[int, bytes]]
) -> int:
    """Turn every complete batch at the front of ``hashes`` into a root; return the new front id.

    ``hashes[0]`` is the hash of entry ``pending_from``; consumed hashes are removed.
    """
    start = 0
    offset = (pending_from - 1) % batch_size
    if offset:
        start = min(batch_size - offset, len(hashes))
    while len(hashes) - start >= batch_size:
        end = start + batch_size
        roots.append(((pending_from + end - 1) // batch_size, merkle_root(hashes[start:end])))
        start = end
    del hashes[:start]
    return pending_from + start


def _scan_in_worker(url: str, first: int, last: int, batch_size: int, merkle: bool) -> _Scan:
    """:func:`_scan` in a child process, on its own connection."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return _scan(conn, first, last, batch_size, merkle)
    finally:
        engine.dispose()


class Ledger:
    """Appends, reads, pages through and verifies the audit ledger. Thread-safe.

    Args:
        engine: a migrated database (:func:`sentinel.core.db.migrate` has run).
        batch_size: entries per Merkle batch; fixed for the life of the ledger.
    """

    def __init__(self, engine: Engine, batch_size: int | None = 1024) -> None:
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if not inspect(engine).has_table(_entries.name):
            raise LedgerError(
                "the ledger tables do not exist; run sentinel.core.db.migrate(engine) first"
            )
        self._engine = engine
        self._lock = threading.Lock()
        self._verify_lock = threading.RLock()  # one verification at a time: each is costly
        self.checkpoints: CheckpointSource | None = None
        """Where the signed checkpoints come from; verification checks the chain against
        them (the server sets it, see :mod:`sentinel.core.checkpoints`)."""
        self.fault: VerifyResult | None = None
        """Set when verification at start-up failed: the ledger must not grow."""
        self._verified: tuple[int, bytes | None] = (0, None)  # (id, hash) audit found intact
        with engine.connect() as conn:
            stored = get_meta(conn, _BATCH_SIZE_KEY)
            self._head = _decode_head(get_meta(conn, _HEAD_KEY))
        if batch_size is None:  # reading an existing ledger, as the offline verifier does
            self._batch_size = int(stored or 1024)
            self._token_codec: PageTokenCodec | None = None
            return
        if stored is None:
            with engine.begin() as conn:
                set_meta(conn, _BATCH_SIZE_KEY, str(batch_size))
        elif int(stored) != batch_size:
            raise LedgerError(
                f"this ledger was created with batch_size={stored}; open it with that "
                f"batch size instead of {batch_size}"
            )
        self._batch_size = batch_size
        self._token_codec = PageTokenCodec(get_or_create_secret(engine, _TOKEN_SECRET_KEY))

    @property
    def _tokens(self) -> PageTokenCodec:
        if self._token_codec is None:
            self._token_codec = PageTokenCodec(
                get_or_create_secret(self._engine, _TOKEN_SECRET_KEY)
            )
        return self._token_codec

    def fault_message(self) -> str:
        """Why the ledger is refusing to grow (:attr:`fault`) in one sentence, or ""."""
        fault = self.fault
        if fault is None:
            return ""
        return (
            f"the audit ledger failed verification at entry {fault.first_invalid_entry_id}: "
            f"{fault.failure_description}; writes are refused until the database is restored "
            "(check it with `sentinel audit verify --data-dir DIR` or `--database-url URL`)"
        )

    def head(self) -> tuple[int, bytes]:
        """The id and hash of the last committed entry; (0, 32 zero bytes) when empty."""
        return self._head

    def __len__(self) -> int:
        return self._head[0]

    @contextmanager
    def transaction(
        self,
    ) -> Iterator[tuple[Connection, Callable[[Sequence[LedgerRecord]], list[int]]]]:
        """Append entries atomically with the caller's own writes.

        Yields ``(conn, append)``: rows the caller writes on ``conn`` commit or roll back
        together with the entries ``append`` adds. The head is re-read under a row lock
        (PostgreSQL) so that another process appending to the same database cannot fork
        the chain.
        """
        with self._lock, self._engine.begin() as conn:
            head_value = conn.execute(
                select(MetaRow.value).where(MetaRow.key == _HEAD_KEY).with_for_update()
            ).scalar_one_or_none()
            head = _Head(*_decode_head(head_value))
            committed = head.entry_id

            def append(records: Sequence[LedgerRecord]) -> list[int]:
                return self._append(conn, records, head)

            yield conn, append
            if head.entry_id != committed:
                set_meta(conn, _HEAD_KEY, _encode_head(head.entry_id, head.entry_hash))
        self._head = (head.entry_id, head.entry_hash)

    def append(self, records: Sequence[LedgerRecord]) -> list[int]:
        """Append ``records`` in a transaction of their own; returns their entry ids."""
        with self.transaction() as (_, append):
            return append(records)

    def _append(self, conn: Connection, records: Sequence[LedgerRecord], head: _Head) -> list[int]:
        """Hash ``records`` onto the chain at ``head`` and bulk-insert them; advances ``head``."""
        entry_id, h = head.entry_id, head.entry_hash
        first = entry_id + 1
        size = self._batch_size
        rows: list[tuple[Any, ...]] = []
        hashes: list[bytes] = []
        batches: list[dict[str, Any]] = []
        now_us = _to_us(datetime.now(timezone.utc))
        for record in records:
            entry_id += 1
            _check(record)
            ts = _to_us(record.timestamp)
            canonical = canonical_bytes(
                entry_id, record.entry_type, ts, record.gpu_uuid, record.data
            )
            prev, h = h, sha256(h + canonical).digest()
            hashes.append(h)
            root = None
            if entry_id % size == 0:
                root = merkle_root(self._batch_leaves(conn, entry_id - size + 1, first, hashes))
                batches.append(
                    {
                        "batch_no": entry_id // size,
                        "first_entry_id": entry_id - size + 1,
                        "last_entry_id": entry_id,
                        "merkle_root": root,
                        "created_at_us": now_us,
                    }
                )
            rows.append(
                (entry_id, int(record.entry_type), ts, record.gpu_uuid, record.data, prev, h, root)
            )
        bulk_insert(conn, _entries.name, _ENTRY_COLUMNS, rows)
        if batches:
            conn.execute(insert(_batches), batches)
        head.entry_id, head.entry_hash = entry_id, h
        return list(range(first, entry_id + 1))

    @staticmethod
    def _batch_leaves(conn: Connection, lo: int, first: int, hashes: list[bytes]) -> list[bytes]:
        """Entry hashes from ``lo`` through the newest, reading those committed earlier."""
        if lo >= first:
            return hashes[lo - first :]
        stored = conn.execute(
            select(_entries.c.entry_hash)
            .where(_entries.c.entry_id.between(lo, first - 1))
            .order_by(_entries.c.entry_id)
        ).scalars()
        return [bytes(x) for x in stored] + hashes

    def get(self, entry_id: int) -> StoredEntry | None:
        """The entry with ``entry_id``, or None."""
        with self._engine.connect() as conn:
            row = conn.execute(select(_entries).where(_entries.c.entry_id == entry_id)).first()
        return None if row is None else _stored(row)

    def query(
        self,
        *,
        gpu_uuid: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        entry_type: int = 0,
        limit: int = 100,
        page_token: str = "",
        descending: bool = False,
        count: bool = True,
    ) -> tuple[list[StoredEntry], str, int | None]:
        """One page of entries matching the filters, in entry-id order.

        Args:
            gpu_uuid: only entries about this GPU.
            start: only entries at or after this time.
            end: only entries strictly before this time.
            entry_type: only entries of this type; 0 for all.
            limit: page size, 1 to 1000.
            page_token: the token returned with the previous page, or "" for the first.
            descending: newest first.
            count: whether to count the matching entries; the count scans every match,
                which a page does not, so callers that do not show it skip it.

        Returns:
            The entries, the token of the next page ("" after the last page) and how many
            entries match the filters in all (``None`` without ``count``).

        Raises:
            ValueError: a limit outside 1..1000 or ``start`` after ``end``.
            InvalidPageToken: a token that is forged, stale or from another query.
        """
        if not 1 <= limit <= _MAX_LIMIT:
            raise ValueError(f"limit must be between 1 and {_MAX_LIMIT}, got {limit}")
        if start is not None and end is not None and start > end:
            raise ValueError(f"start ({start.isoformat()}) is after end ({end.isoformat()})")
        c = _entries.c
        start_us = None if start is None else _to_us(start)
        end_us = None if end is None else _to_us(end)
        filters = []
        if gpu_uuid is not None:
            filters.append(c.gpu_uuid == gpu_uuid)
        if start_us is not None:
            filters.append(c.timestamp >= start_us)
        if end_us is not None:
            filters.append(c.timestamp < end_us)
        if entry_type:
            filters.append(c.entry_type == entry_type)
        scope = json.dumps([gpu_uuid, start_us, end_us, entry_type, descending])
        page = select(_entries).where(*filters)
        if page_token:
            after = self._tokens.decode(scope, page_token).get("after")
            if not isinstance(after, int):
                raise InvalidPageToken("page token is malformed")
            page = page.where(c.entry_id < after if descending else c.entry_id > after)
        order = c.entry_id.desc() if descending else c.entry_id
        page = page.order_by(order).limit(limit + 1)
        with self._engine.connect() as conn:
            rows = conn.execute(page).all()
            total_count = None
            if count:
                total = conn.execute(select(func.count()).select_from(_entries).where(*filters))
                total_count = int(total.scalar_one())
        entries = [_stored(row) for row in rows[:limit]]
        token = ""
        if len(rows) > limit:
            token = self._tokens.encode(scope, {"after": entries[-1].entry_id})
        return entries, token, total_count

    def verify(
        self,
        start_entry_id: int = 0,
        end_entry_id: int = 0,
        verify_merkle_roots: bool = True,
        progress: Callable[[int, int], None] | None = None,
    ) -> VerifyResult:
        """Recompute the chain over ``start_entry_id..end_entry_id`` and report the first fault.

        Checks that ids are contiguous, that each previous_hash is the entry_hash of the
        entry before, that each entry_hash matches the entry's contents, that nothing lies
        outside the ledger's ends and, with ``verify_merkle_roots``, the root of every
        batch that lies wholly inside the range. A range starts from the stored
        previous_hash of its first entry and checks it against the entry before it. One
        verification runs at a time; a second caller waits.

        Args:
            start_entry_id: first entry to check; 0 for the first entry.
            end_entry_id: last entry to check; 0 for the head.
            verify_merkle_roots: also recompute the batch Merkle roots.
            progress: called with (entries done, entries in range) as verification goes.

        Raises:
            ValueError: a negative id, ``start_entry_id`` after ``end_entry_id``, or a range
                beyond the head.
        """
        if start_entry_id < 0 or end_entry_id < 0:
            raise ValueError("entry ids are positive; pass 0 to mean the first entry or the head")
        if start_entry_id and end_entry_id and start_entry_id > end_entry_id:
            raise ValueError(
                f"start_entry_id ({start_entry_id}) is after end_entry_id ({end_entry_id})"
            )
        with self._verify_lock:
            return self._verify(start_entry_id, end_entry_id, verify_merkle_roots, progress)

    def _verify(
        self,
        start_entry_id: int,
        end_entry_id: int,
        verify_merkle_roots: bool,
        progress: Callable[[int, int], None] | None,
    ) -> VerifyResult:
        began = time.perf_counter()
        with self._engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with self._lock:  # one of our appends must not land between the head and the scan
                head_id, head_hash = _decode_head(get_meta(conn, _HEAD_KEY))
                first, last = start_entry_id or 1, end_entry_id or head_id
                if last > head_id:
                    raise ValueError(
                        f"end_entry_id {last} is beyond the ledger head (entry {head_id})"
                    )
                if start_entry_id and first > last:
                    raise ValueError(
                        f"start_entry_id {first} is beyond the ledger head (entry {head_id})"
                    )
                faults = self._stray_rows(conn, first, last, head_id)
            marks: dict[int, bytes] = {}
            batches: dict[int, tuple[int, int, bytes]] = {}
            if verify_merkle_roots:
                marks, batches = self._stored_roots(conn, first, last)
            faults += [
                (i, f"entry {i}: merkle_root is set on an entry that does not close a batch")
                for i in marks
                if i % self._batch_size
            ]
            if first > 1:
                before = conn.exec_driver_sql(
                    f"SELECT entry_hash FROM ledger_entries WHERE entry_id = {first - 1:d}"
                ).scalar()
                if before is None:
                    faults.append((first - 1, f"entry {first - 1} missing: it precedes the range"))
                previous = bytes(before or b"")
            else:
                previous = GENESIS_HASH
            scans = self._scan_all(conn, first, last, verify_merkle_roots, progress)
        merged = _Merged(previous)
        for scan in scans:
            if not merged.add(scan, marks, batches, self._batch_size):
                break
        else:
            if last == head_id and last >= first and merged.last_hash != head_hash:
                merged.fault = (
                    head_id,
                    f"ledger head mismatch: sentinel_meta records a different hash for entry "
                    f"{head_id} than the chain computes",
                )
        if merged.fault is not None:
            faults.append(merged.fault)
        elapsed_ms = int((time.perf_counter() - began) * 1000)
        if not faults:
            return VerifyResult(
                True, 0, "", merged.verified, len(merged.roots), elapsed_ms, merged.roots
            )
        bad_id, reason = min(faults)
        verified = max(0, min(merged.verified, bad_id - first))
        return VerifyResult(
            False, bad_id, reason, verified, len(merged.roots), elapsed_ms, merged.roots
        )

    def audit(self, *, full: bool = False, merkle: bool = True) -> VerifyResult:
        """Verify the ledger against its signed checkpoints; one verification at a time.

        Every checkpoint is checked: a ledger that ends before a checkpoint's size was
        truncated, an entry at a checkpoint's size whose hash is not the signed one was
        rewritten, a checkpoint whose signature fails was forged. The chain is then
        recomputed from the newest checkpoint that matches (its signed hash anchors the
        entries before it), or from where this process's last successful verification
        ended if that is newer and its entry still has the hash then verified, to the
        head; from the genesis with ``full``. A second caller waits for the first.

        Without a checkpoint source (:attr:`checkpoints`) the chain is checked from the
        genesis (or the last successful verification), as :meth:`verify` does.
        """
        began = time.perf_counter()
        with self._verify_lock:
            checkpoints, problems = self.checkpoints() if self.checkpoints else ([], [])
            with self._engine.connect() as conn:
                head_id, _ = _decode_head(get_meta(conn, _HEAD_KEY))
                faults, anchor = self._check_checkpoints(conn, checkpoints, head_id)
                done_id, done_hash = self._verified
                if done_id and not full and done_id <= head_id:
                    if self._entry_hash(conn, done_id) != done_hash:
                        faults.append(
                            (
                                done_id,
                                f"entry {done_id} changed since a verification found the "
                                "ledger intact up to it: the entries up to it were rewritten",
                            )
                        )
                    elif anchor is None or anchor < done_id:
                        anchor = done_id
            faults += [(p.size or 1, str(p)) for p in problems]
            result = None
            if head_id:
                first = 1 if full or anchor is None else min(anchor + 1, head_id)
                result = self.verify(first, 0, merkle)
                if not result.valid:
                    faults.append((result.first_invalid_entry_id, result.failure_description))
                elif not faults:
                    with self._engine.connect() as conn:
                        self._verified = (head_id, self._entry_hash(conn, head_id))
        verified = result.entries_verified if result else 0
        batches = result.batches_verified if result else 0
        roots = result.merkle_roots if result else []
        elapsed_ms = int((time.perf_counter() - began) * 1000)
        if not faults:
            return VerifyResult(True, 0, "", verified, batches, elapsed_ms, roots)
        bad_id, reason = min(faults)
        return VerifyResult(False, bad_id, reason, verified, batches, elapsed_ms, roots)

    @staticmethod
    def _entry_hash(conn: Connection, entry_id: int) -> bytes | None:
        stored = conn.exec_driver_sql(
            f"SELECT entry_hash FROM ledger_entries WHERE entry_id = {int(entry_id):d}"
        ).scalar()
        return None if stored is None else bytes(stored)

    @staticmethod
    def _check_checkpoints(
        conn: Connection, checkpoints: Sequence[Checkpoint], head_id: int
    ) -> tuple[list[tuple[int, str]], int | None]:
        """Faults of the stored chain against ``checkpoints``, and the size of the newest
        checkpoint it matches (None when it matches none)."""
        ordered = sorted(checkpoints, key=lambda c: c.size)
        sizes = sorted({c.size for c in ordered if c.size <= head_id})
        stored: dict[int, bytes] = {}
        for at in range(0, len(sizes), 1000):
            chunk = ", ".join(str(int(i)) for i in sizes[at : at + 1000])
            rows = conn.exec_driver_sql(
                f"SELECT entry_id, entry_hash FROM ledger_entries WHERE entry_id IN ({chunk})"
            )
            stored.update((int(i), bytes(h)) for i, h in rows)
        faults: list[tuple[int, str]] = []
        anchor: int | None = None
        matched = 0
        for c in ordered:
            if c.size > head_id:
                faults.append(
                    (
                        head_id + 1,
                        f"the ledger ends at entry {head_id}, but {c.label} was signed over "
                        f"{c.size} entries: entries {head_id + 1}..{c.size} were removed",
                    )
                )
            elif c.size not in stored:
                faults.append((c.size, f"entry {c.size} is missing, but {c.label} covers it"))
            elif stored[c.size] != c.root_hash:
                faults.append(
                    (
                        c.size,
                        f"entry {c.size} does not match {c.label}: its hash is not the signed "
                        f"one, so entries {matched + 1}..{c.size} were rewritten after the "
                        "checkpoint was signed",
                    )
                )
            else:
                matched = anchor = c.size
        return faults, anchor

    @staticmethod
    def _stray_rows(conn: Connection, first: int, last: int, head_id: int) -> list[tuple[int, str]]:
        """Rows outside ``1..head`` that the range touches: inserted behind the ledger's back."""
        faults = []
        if first == 1:
            low = conn.exec_driver_sql(
                "SELECT max(entry_id) FROM ledger_entries WHERE entry_id < 1"
            )
            if (bad := low.scalar()) is not None:
                faults.append((bad, f"entry {bad}: ids start at 1, this row was inserted"))
        if last == head_id:
            high = conn.exec_driver_sql(
                f"SELECT min(entry_id) FROM ledger_entries WHERE entry_id > {head_id:d}"
            )
            if (bad := high.scalar()) is not None:
                faults.append(
                    (
                        bad,
                        f"entry {bad} lies beyond the ledger head (entry {head_id}) recorded in "
                        "sentinel_meta: it was inserted, or the head was rolled back",
                    )
                )
        return faults

    def _stored_roots(
        self, conn: Connection, first: int, last: int
    ) -> tuple[dict[int, bytes], dict[int, tuple[int, int, bytes]]]:
        """Merkle roots stored on entries and in ``ledger_batches`` for the range."""
        marks = conn.exec_driver_sql(
            "SELECT entry_id, merkle_root FROM ledger_entries WHERE merkle_root IS NOT NULL "
            f"AND entry_id >= {first:d} AND entry_id <= {last:d}"
        )
        batches = conn.exec_driver_sql(
            "SELECT batch_no, first_entry_id, last_entry_id, merkle_root FROM ledger_batches "
            f"WHERE batch_no >= {(first - 1) // self._batch_size:d} "
            f"AND batch_no <= {last // self._batch_size:d}"
        )
        return (
            {i: bytes(root) for i, root in marks},
            {no: (lo, hi, bytes(root)) for no, lo, hi, root in batches},
        )

    def _scan_all(
        self,
        conn: Connection,
        first: int,
        last: int,
        merkle: bool,
        progress: Callable[[int, int], None] | None,
    ) -> list[_Scan]:
        """Scan the range here, or split it with one child process when that is faster."""
        total = max(0, last - first + 1)
        report = None if progress is None else (lambda done: progress(done, total))
        url = self._engine.url
        in_memory = url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")
        split = (first + total // 2) // self._batch_size * self._batch_size
        if total < _PARALLEL_MIN_ENTRIES or in_memory or (os.cpu_count() or 1) < 2:
            scans = [_scan(conn, first, last, self._batch_size, merkle, report)]
        else:
            with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
                tail = pool.submit(
                    _scan_in_worker,
                    url.render_as_string(hide_password=False),
                    split + 1,
                    last,
                    self._batch_size,
                    merkle,
                )
                scans = [_scan(conn, first, split, self._batch_size, merkle, report)]
                scans.append(tail.result())
        if progress is not None:
            progress(total, total)
        return scans


@dataclass
class _Merged:
    """Chunk scans stitched together in id order, checking each seam and each batch root."""

    last_hash: bytes
    verified: int = 0
    roots: list[bytes] = field(default_factory=list)
    fault: tuple[int, str] | None = None

    def add(
        self,
        scan: _Scan,
        marks: dict[int, bytes],
        batches: dict[int, tuple[int, int, bytes]],
        batch_size: int,
    ) -> bool:
        """Fold ``scan`` in; False once a fault is found."""
        if scan.first_previous_hash is not None and scan.first_previous_hash != self.last_hash:
            self.fault = (
                scan.first,
                f"entry {scan.first}: previous_hash does not match the entry_hash of entry "
                f"{scan.first - 1}"
                if scan.first > 1
                else "entry 1: previous_hash is not the genesis hash (32 zero bytes)",
            )
            return False
        for batch_no, root in scan.roots:
            lo, hi = (batch_no - 1) * batch_size + 1, batch_no * batch_size
            if marks.get(hi) != root:
                self.fault = (
                    hi,
                    f"batch {batch_no} Merkle root mismatch: the merkle_root on entry {hi} is "
                    f"not the root of entries {lo}..{hi}",
                )
                return False
            if batches.get(batch_no) != (lo, hi, root):
                self.fault = (
                    hi,
                    f"batch {batch_no} Merkle root mismatch: its ledger_batches row is missing "
                    f"or does not match entries {lo}..{hi}",
                )
                return False
            self.roots.append(root)
        self.verified += scan.verified
        if scan.last_hash is not None:
            self.last_hash = scan.last_hash
        self.fault = scan.failure
        return scan.failure is None


def _stored(row: Any) -> StoredEntry:
    return StoredEntry(
        entry_id=row.entry_id,
        entry_type=row.entry_type,
        timestamp=_from_us(row.timestamp),
        gpu_uuid=row.gpu_uuid,
        data=bytes(row.data),
        previous_hash=bytes(row.previous_hash),
        entry_hash=bytes(row.entry_hash),
        merkle_root=None if row.merkle_root is None else bytes(row.merkle_root),
    )
