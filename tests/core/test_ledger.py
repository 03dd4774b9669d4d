"""The audit ledger on SQLite and PostgreSQL: appends, reads, paging and tamper detection.

Tampering is done with plain SQL on the tables, the way an intruder with database access
would, and :meth:`Ledger.verify` must name the first entry that no longer checks out.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from hashlib import sha256
from typing import Any

import pytest
from sqlalchemy import Engine, text

from sentinel.core import ledger as ledger_module
from sentinel.core.db import make_engine, migrate
from sentinel.core.ledger import (
    GENESIS_HASH,
    EntryType,
    Ledger,
    LedgerError,
    LedgerRecord,
    canonical_bytes,
)
from sentinel.core.merkle import merkle_root
from sentinel.core.meta import get_meta, get_or_create_secret, set_meta
from sentinel.core.pagination import InvalidPageToken

T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
BATCH = 4
N = 20


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    migrate(engine)
    yield engine
    engine.dispose()


def _record(i: int) -> LedgerRecord:
    return LedgerRecord(
        entry_type=EntryType(i % 6 + 1),
        timestamp=T0 + timedelta(seconds=i, microseconds=i),
        gpu_uuid=None if i % 5 == 0 else f"GPU-{i % 3}",
        data=f"payload {i}".encode(),
    )


@pytest.fixture
def ledger(engine: Engine) -> Ledger:
    ledger = Ledger(engine, batch_size=BATCH)
    ledger.append([_record(i) for i in range(1, 8)])
    ledger.append([_record(i) for i in range(8, N + 1)])
    return ledger


def _sql(engine: Engine, *statements: str, **params: Any) -> None:
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement), params)


def test_append_hashes_canonical_bytes_onto_the_chain(ledger: Ledger) -> None:
    previous = GENESIS_HASH
    for i in range(1, N + 1):
        entry = ledger.get(i)
        assert entry is not None
        record = _record(i)
        assert (entry.entry_type, entry.timestamp, entry.gpu_uuid, entry.data) == (
            record.entry_type,
            record.timestamp,
            record.gpu_uuid,
            record.data,
        )
        ts_us = (record.timestamp - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(
            microseconds=1
        )
        canonical = canonical_bytes(i, record.entry_type, ts_us, record.gpu_uuid, record.data)
        assert entry.previous_hash == previous
        assert entry.entry_hash == sha256(previous + canonical).digest()
        previous = entry.entry_hash
    assert ledger.head() == (N, previous)
    assert len(ledger) == N
    assert ledger.get(N + 1) is None


def test_canonical_bytes_layout() -> None:
    assert canonical_bytes(1, 2, -3, "ab", b"xyz") == (
        bytes.fromhex("000000000000000102fffffffffffffffd0002") + b"ab\x00\x00\x00\x03xyz"
    )
    assert canonical_bytes(1, 2, 3, None, b"") != canonical_bytes(1, 2, 3, "", b"")


def test_batches_carry_merkle_roots(ledger: Ledger, engine: Engine) -> None:
    hashes = [e.entry_hash for e in ledger.query(limit=N)[0]]
    with engine.connect() as conn:
        batches = conn.execute(
            text("SELECT batch_no, first_entry_id, last_entry_id, merkle_root FROM ledger_batches")
        ).all()
    assert [(b, lo, hi) for b, lo, hi, _ in batches] == [
        (k, (k - 1) * BATCH + 1, k * BATCH) for k in range(1, N // BATCH + 1)
    ]
    for _, lo, hi, root in batches:
        assert bytes(root) == merkle_root(hashes[lo - 1 : hi])
        entry = ledger.get(hi)
        assert entry is not None
        assert entry.merkle_root == bytes(root)
    assert all(e.merkle_root is None for e in ledger.query(limit=N)[0] if e.entry_id % BATCH)
    result = ledger.verify()
    assert result.valid
    assert (result.entries_verified, result.batches_verified) == (N, N // BATCH)
    assert result.merkle_roots == [bytes(b[3]) for b in batches]


def test_reopening_loads_the_head_and_keeps_the_batch_size(ledger: Ledger, engine: Engine) -> None:
    again = Ledger(engine, batch_size=BATCH)
    assert again.head() == ledger.head()
    assert again.append([_record(99)]) == [N + 1]
    assert again.verify().valid
    with pytest.raises(LedgerError, match="created with batch_size=4"):
        Ledger(engine, batch_size=8)


def test_unmigrated_database_is_refused(tmp_path: Any) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(LedgerError, match=r"migrate\(engine\)"):
        Ledger(engine)
    engine.dispose()


def test_bad_records_are_refused_and_append_nothing(engine: Engine) -> None:
    ledger = Ledger(engine)
    naive = LedgerRecord(1, datetime(2025, 1, 1), None, b"")
    with pytest.raises(LedgerError, match="no timezone"):
        ledger.append([_record(1), naive])
    with pytest.raises(LedgerError, match="entry_type"):
        ledger.append([LedgerRecord(0, T0, None, b"")])
    assert len(ledger) == 0
    assert ledger.append([]) == []
    assert ledger.verify().valid


def test_transaction_rolls_back_entries_and_caller_rows(engine: Engine) -> None:
    ledger = Ledger(engine, batch_size=BATCH)
    ledger.append([_record(1)])
    head = ledger.head()

    def fail_midway() -> None:
        with ledger.transaction() as (conn, append):
            assert append([_record(2), _record(3)]) == [2, 3]
            set_meta(conn, "caller_row", "written")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_midway()
    assert ledger.head() == head
    assert ledger.get(2) is None
    with engine.connect() as conn:
        assert get_meta(conn, "caller_row") is None
    with ledger.transaction() as (conn, append):
        assert append([_record(2)]) == [2]
        assert append([_record(3), _record(4)]) == [3, 4]
        set_meta(conn, "caller_row", "written")
    with engine.connect() as conn:
        assert get_meta(conn, "caller_row") == "written"
    assert len(ledger) == 4
    assert ledger.verify().batches_verified == 1


def test_query_filters_and_counts(ledger: Ledger) -> None:
    entries, token, total = ledger.query(gpu_uuid="GPU-1", limit=1000)
    expected = [i for i in range(1, N + 1) if i % 5 and i % 3 == 1]
    assert ([e.entry_id for e in entries], token, total) == (expected, "", len(expected))
    probes = ledger.query(entry_type=EntryType.PROBE_RESULT)[0]
    assert [e.entry_id for e in probes] == [i for i in range(1, N + 1) if i % 6 == 0]
    window = ledger.query(start=_record(3).timestamp, end=_record(6).timestamp)[0]
    assert [e.entry_id for e in window] == [3, 4, 5]
    assert ledger.query(start=T0, end=T0) == ([], "", 0)


@pytest.mark.parametrize("descending", [False, True])
def test_query_pages_through_everything(ledger: Ledger, descending: bool) -> None:
    seen, token = [], ""
    while True:
        page, token, total = ledger.query(limit=3, page_token=token, descending=descending)
        assert total == N
        seen += [e.entry_id for e in page]
        if not token:
            break
    assert seen == sorted(range(1, N + 1), reverse=descending)


def test_query_refuses_bad_arguments_and_tokens(ledger: Ledger, engine: Engine) -> None:
    for limit in (0, 1001):
        with pytest.raises(ValueError, match="limit must be between 1 and 1000"):
            ledger.query(limit=limit)
    with pytest.raises(ValueError, match="is after end"):
        ledger.query(start=T0 + timedelta(1), end=T0)
    token = ledger.query(limit=2)[1]
    assert Ledger(engine, batch_size=BATCH).query(limit=2, page_token=token)[0][0].entry_id == 3
    with pytest.raises(InvalidPageToken, match="different query"):
        ledger.query(limit=2, page_token=token, gpu_uuid="GPU-1")
    with pytest.raises(InvalidPageToken, match="signature does not match"):
        ledger.query(limit=2, page_token=token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))
    with pytest.raises(InvalidPageToken, match="malformed"):
        ledger.query(page_token="%%%")


def test_meta_upsert_and_secret_are_stable(engine: Engine) -> None:
    with engine.begin() as conn:
        set_meta(conn, "k", "1")
        set_meta(conn, "k", "2")
        assert get_meta(conn, "k") == "2"
    secret = get_or_create_secret(engine, "s")
    assert len(secret) == 32
    assert get_or_create_secret(engine, "s") == secret


def test_empty_ledger_is_valid(engine: Engine) -> None:
    result = Ledger(engine).verify()
    assert result.valid
    assert (result.entries_verified, result.batches_verified, result.merkle_roots) == (0, 0, [])


def _zero(name: str) -> str:
    return f"UPDATE ledger_entries SET {name} = :blob WHERE entry_id = 7"


TAMPERING = {
    "data": ([_zero("data")], 7, "entry 7: entry_hash does not match its contents"),
    "gpu_uuid": (
        ["UPDATE ledger_entries SET gpu_uuid = 'GPU-X' WHERE entry_id = 7"],
        7,
        "entry 7: entry_hash does not match its contents",
    ),
    "gpu_uuid_null": (
        ["UPDATE ledger_entries SET gpu_uuid = NULL WHERE entry_id = 7"],
        7,
        "entry 7: entry_hash does not match its contents",
    ),
    "entry_type": (
        ["UPDATE ledger_entries SET entry_type = entry_type % 6 + 1 WHERE entry_id = 7"],
        7,
        "entry 7: entry_hash does not match its contents",
    ),
    "timestamp": (
        ['UPDATE ledger_entries SET "timestamp" = "timestamp" + 1 WHERE entry_id = 7'],
        7,
        "entry 7: entry_hash does not match its contents",
    ),
    "entry_hash": ([_zero("entry_hash")], 7, "entry 7: entry_hash does not match its contents"),
    "previous_hash": (
        [_zero("previous_hash")],
        7,
        "entry 7: previous_hash does not match the entry_hash of entry 6",
    ),
    "delete_middle": (
        ["DELETE FROM ledger_entries WHERE entry_id = 7"],
        7,
        "entry 7 missing: ids jump from 6 to 8",
    ),
    "delete_tail": (
        [f"DELETE FROM ledger_entries WHERE entry_id >= {N - 1}"],
        N - 1,
        f"entry {N - 1} missing",
    ),
    "insert_beyond_head": (
        [
            f'INSERT INTO ledger_entries SELECT entry_id + {N}, entry_type, "timestamp", '
            "gpu_uuid, data, previous_hash, entry_hash, NULL FROM ledger_entries "
            "WHERE entry_id = 3"
        ],
        N + 3,
        "beyond the ledger head",
    ),
    "insert_before_start": (
        [
            'INSERT INTO ledger_entries SELECT 0, entry_type, "timestamp", gpu_uuid, data, '
            "previous_hash, entry_hash, NULL FROM ledger_entries WHERE entry_id = 3"
        ],
        0,
        "ids start at 1",
    ),
    "swap_ids": (
        [
            "UPDATE ledger_entries SET entry_id = -9 WHERE entry_id = 9",
            "UPDATE ledger_entries SET entry_id = 9 WHERE entry_id = 5",
            "UPDATE ledger_entries SET entry_id = 5 WHERE entry_id = -9",
        ],
        5,
        "entry 5: previous_hash does not match",
    ),
    "swap_contents": (
        [
            "UPDATE ledger_entries SET data = (SELECT data FROM ledger_entries WHERE entry_id = 7)"
            " WHERE entry_id = 6",
            "UPDATE ledger_entries SET data = :blob WHERE entry_id = 7",
        ],
        6,
        "entry 6: entry_hash does not match its contents",
    ),
    "entry_merkle_root": (
        ["UPDATE ledger_entries SET merkle_root = :blob WHERE entry_id = 8"],
        8,
        "batch 2 Merkle root mismatch",
    ),
    "stray_merkle_root": (
        ["UPDATE ledger_entries SET merkle_root = :blob WHERE entry_id = 6"],
        6,
        "does not close a batch",
    ),
    "batch_row": (
        ["UPDATE ledger_batches SET merkle_root = :blob WHERE batch_no = 3"],
        12,
        "batch 3 Merkle root mismatch",
    ),
    "batch_row_deleted": (
        ["DELETE FROM ledger_batches WHERE batch_no = 2"],
        8,
        "batch 2 Merkle root mismatch",
    ),
    "two_faults_first_wins": (
        [
            "UPDATE ledger_entries SET data = :blob WHERE entry_id = 15",
            "UPDATE ledger_batches SET merkle_root = :blob WHERE batch_no = 2",
        ],
        8,
        "batch 2 Merkle root mismatch",
    ),
    "head_row_deleted": (
        ["DELETE FROM sentinel_meta WHERE key = 'ledger_head'"],
        1,
        "beyond the ledger head (entry 0)",
    ),
}


@pytest.mark.parametrize("case", TAMPERING)
def test_verify_names_the_first_tampered_entry(ledger: Ledger, engine: Engine, case: str) -> None:
    statements, bad_id, reason = TAMPERING[case]
    _sql(engine, *statements, blob=bytes(32))
    result = ledger.verify()
    assert not result.valid
    assert result.first_invalid_entry_id == bad_id
    assert reason in result.failure_description
    assert result.entries_verified <= max(bad_id - 1, 0)


def test_verify_without_merkle_ignores_root_columns(ledger: Ledger, engine: Engine) -> None:
    _sql(engine, "UPDATE ledger_batches SET merkle_root = :blob", blob=bytes(32))
    assert not ledger.verify().valid
    result = ledger.verify(verify_merkle_roots=False)
    assert result.valid
    assert (result.batches_verified, result.merkle_roots) == (0, [])


def test_range_checks_its_link_to_the_entry_before(ledger: Ledger, engine: Engine) -> None:
    result = ledger.verify(6, 13)
    assert result.valid
    assert (result.entries_verified, result.batches_verified) == (8, 1)  # only batch 9..12
    _sql(engine, "UPDATE ledger_entries SET entry_hash = :blob WHERE entry_id = 5", blob=b"x")
    assert ledger.verify(1, 4).valid
    result = ledger.verify(6, 13)
    assert (result.valid, result.first_invalid_entry_id) == (False, 6)
    assert "previous_hash does not match the entry_hash of entry 5" in result.failure_description
    _sql(engine, "DELETE FROM ledger_entries WHERE entry_id = 5")
    result = ledger.verify(6)
    assert (result.valid, result.first_invalid_entry_id) == (False, 5)
    assert "entry 5 missing" in result.failure_description


def test_range_arguments_are_checked(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="after end_entry_id"):
        ledger.verify(9, 3)
    with pytest.raises(ValueError, match="beyond the ledger head"):
        ledger.verify(1, N + 1)
    with pytest.raises(ValueError, match="beyond the ledger head"):
        ledger.verify(N + 1)


def test_progress_is_reported(ledger: Ledger) -> None:
    seen: list[tuple[int, int]] = []
    ledger.verify(progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (N, N)


@pytest.mark.parametrize("tamper", [False, True])
def test_split_verification_in_a_worker_process(
    ledger: Ledger, engine: Engine, monkeypatch: pytest.MonkeyPatch, tamper: bool
) -> None:
    monkeypatch.setattr(ledger_module, "_PARALLEL_MIN_ENTRIES", 1)
    if tamper:  # entry 9 opens the worker's half, so only the seam check can catch this
        _sql(engine, "UPDATE ledger_entries SET previous_hash = :b WHERE entry_id = 9", b=b"x")
    result = ledger.verify()
    assert result.valid is not tamper
    if tamper:
        assert result.first_invalid_entry_id == 9
        assert "previous_hash does not match" in result.failure_description
    else:
        assert result.batches_verified == N // BATCH
