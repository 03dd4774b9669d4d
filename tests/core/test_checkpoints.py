"""Signed checkpoints: the attacks a hash chain alone misses are found against them."""

from __future__ import annotations

import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from ledger_tamper import rewrite_from, truncate_to
from sqlalchemy import Engine

from sentinel.core.checkpoints import (
    PUBLIC_KEY_NAME,
    Checkpoint,
    CheckpointError,
    DirectoryStore,
    Publisher,
    S3Store,
    SigningKey,
    Verifier,
    load_checkpoints,
    note_name,
)
from sentinel.core.db import make_engine, migrate
from sentinel.core.ledger import Ledger, LedgerRecord

BATCH = 8


def _records(n: int, tag: str = "e") -> list[LedgerRecord]:
    now = datetime(2026, 11, 26, tzinfo=timezone.utc)
    return [LedgerRecord(6, now, None, f"{tag}-{i}".encode()) for i in range(n)]


@pytest.fixture
def db(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def key(tmp_path: Path) -> SigningKey:
    return SigningKey.load_or_create(tmp_path / "ledger-signing.key")


def _watched(db: Engine, store: Any, key: SigningKey) -> tuple[Ledger, Publisher]:
    ledger = Ledger(db, batch_size=BATCH)
    ledger.checkpoints = lambda: load_checkpoints(store, key.verifier)
    publisher = Publisher(ledger.head, key, store, "test/ledger", every_entries=10)
    return ledger, publisher


def test_a_checkpoint_is_a_signed_note_that_verifies(key: SigningKey, tmp_path: Path) -> None:
    cp = Checkpoint("example.com/ledger", 42, bytes(range(32)))
    note = key.sign(cp)
    origin, size, root, blank, signature, end = note.split("\n")
    assert (origin, size, blank, end) == ("example.com/ledger", "42", "", "")
    assert signature.startswith("\u2014 sentinel-ledger ")
    verifier = Verifier.parse(key.verifier.text())
    assert verifier.open(note).root_hash == bytes(range(32))
    with pytest.raises(CheckpointError, match="forged or altered"):
        verifier.open(note.replace("\n42\n", "\n43\n"))
    other = SigningKey.load_or_create(tmp_path / "other.key", "other")
    with pytest.raises(CheckpointError, match="forged or altered"):
        verifier.open(other.sign(cp))


def test_signing_key_is_private_and_never_written_through_a_link(tmp_path: Path) -> None:
    path = tmp_path / "ledger-signing.key"
    first = SigningKey.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert SigningKey.load_or_create(path).verifier.text() == first.verifier.text()
    target = tmp_path / "elsewhere"
    link = tmp_path / "planted.key"
    link.symlink_to(target)
    with pytest.raises(OSError, match="planted.key"):
        SigningKey.load_or_create(link)
    assert not target.exists()


def test_published_ledger_verifies_and_plain_verification_misses_truncation(
    db: Engine, key: SigningKey, tmp_path: Path
) -> None:
    store = DirectoryStore(tmp_path / "checkpoints")
    ledger, publisher = _watched(db, store, key)
    ledger.append(_records(25))
    assert publisher.publish() is not None
    ledger.append(_records(7, "more"))
    publisher.stop()
    assert [name for name, _ in store.checkpoints()] == [note_name(25), note_name(32)]
    assert Verifier.parse(store.get(PUBLIC_KEY_NAME) or "").text() == key.verifier.text()
    result = ledger.audit()
    assert result.valid, result.failure_description
    assert result.entries_verified == 1  # only what lies after the newest checkpoint

    truncate_to(db, 20)
    reopened, _ = _watched(db, store, key)
    assert reopened.verify().valid  # the chain alone cannot tell
    broken = reopened.audit()
    assert not broken.valid and broken.first_invalid_entry_id == 21
    assert "entries 21..25 were removed" in broken.failure_description


def test_rewrite_with_recomputed_hashes_is_found_at_the_checkpoint(
    db: Engine, key: SigningKey, tmp_path: Path
) -> None:
    store = DirectoryStore(tmp_path / "checkpoints")
    ledger, publisher = _watched(db, store, key)
    ledger.append(_records(16))
    publisher.publish()
    ledger.append(_records(24, "late"))
    publisher.publish()
    rewrite_from(db, 5, BATCH)
    reopened, _ = _watched(db, store, key)
    assert reopened.verify().valid  # recomputed hashes fool the chain alone
    broken = reopened.audit(full=True)
    assert not broken.valid and broken.first_invalid_entry_id == 16
    assert note_name(16) in broken.failure_description
    assert "entries 1..16 were rewritten" in broken.failure_description
    assert not reopened.audit().valid


def test_a_forged_checkpoint_is_reported(db: Engine, key: SigningKey, tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path / "checkpoints")
    ledger, publisher = _watched(db, store, key)
    ledger.append(_records(12))
    publisher.publish()
    impostor = SigningKey.load_or_create(tmp_path / "impostor.key")
    store.put(note_name(12), impostor.sign(Checkpoint("test/ledger", 12, bytes(32))))
    broken = ledger.audit()
    assert not broken.valid and broken.first_invalid_entry_id == 12
    assert "forged or altered" in broken.failure_description


def test_publisher_cadence_by_entries_and_at_stop(
    db: Engine, key: SigningKey, tmp_path: Path
) -> None:
    store = DirectoryStore(tmp_path / "checkpoints")
    ledger = Ledger(db, batch_size=BATCH)
    publisher = Publisher(ledger.head, key, store, "o", every_entries=10, every_seconds=3600)
    publisher.start()
    ledger.append(_records(10))
    deadline = time.monotonic() + 10
    while not store.checkpoints() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [n for n, _ in store.checkpoints()] == [note_name(10)]
    ledger.append(_records(3))
    publisher.stop()
    assert [n for n, _ in store.checkpoints()] == [note_name(10), note_name(13)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A boto3 client of a real moto_server on a free loopback port."""
    import boto3

    port = _free_port()
    server = Path(sys.executable).parent / "moto_server"
    proc = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"moto_server did not start on port {port}") from None
                time.sleep(0.1)
        client.create_bucket(Bucket="audit")
        yield client
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_checkpoints_in_s3_catch_truncation(db: Engine, key: SigningKey, s3: Any) -> None:
    store = S3Store("s3://audit/fleet/prod", client=s3)
    ledger, publisher = _watched(db, store, key)
    ledger.append(_records(30))
    publisher.stop()
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="audit")["Contents"]]
    assert sorted(keys) == [f"fleet/prod/{note_name(30)}", f"fleet/prod/{PUBLIC_KEY_NAME}"]
    assert ledger.audit().valid
    truncate_to(db, 29)
    reopened, _ = _watched(db, store, key)
    broken = reopened.audit()
    assert not broken.valid and "entries 30..30 were removed" in broken.failure_description


def test_one_verification_at_a_time(db: Engine) -> None:
    ledger = Ledger(db, batch_size=BATCH)
    ledger.append(_records(50))
    first_inside, release = threading.Event(), threading.Event()
    second_results: list[bool] = []

    def hold(done: int, total: int) -> None:
        first_inside.set()
        release.wait(10)

    first = threading.Thread(target=lambda: ledger.verify(progress=hold))
    first.start()
    assert first_inside.wait(10)
    second = threading.Thread(target=lambda: second_results.append(ledger.audit().valid))
    second.start()
    second.join(0.5)
    assert second.is_alive() and not second_results  # waits while the first one runs
    release.set()
    first.join(10)
    second.join(10)
    assert second_results == [True]


def test_a_verification_anchors_the_next_one(db: Engine, key: SigningKey, tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path / "checkpoints")
    ledger, publisher = _watched(db, store, key)
    ledger.append(_records(10))
    publisher.publish()
    ledger.append(_records(20, "after"))
    assert ledger.audit().entries_verified == 20  # from the checkpoint on
    ledger.append(_records(5, "more"))
    assert ledger.audit().entries_verified == 5  # from where the last one ended
    rewrite_from(db, 20, BATCH)  # after the checkpoint, before the verified point
    broken = ledger.audit()
    assert not broken.valid and broken.first_invalid_entry_id == 35
    assert "changed since a verification" in broken.failure_description


def test_a_server_publishes_its_checkpoints_to_s3(
    tmp_path: Path, s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sentinel_testing import start_server

    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3.meta.endpoint_url)
    server = start_server(tmp_path, checkpoint_store="s3://audit/prod")
    server.stop()
    size = len(server.engine.ledger)
    listed = s3.list_objects_v2(Bucket="audit", Prefix="prod/")["Contents"]
    assert sorted(o["Key"] for o in listed) == [
        f"prod/{note_name(size)}",
        f"prod/{PUBLIC_KEY_NAME}",
    ]
    key = SigningKey.load_or_create(tmp_path / "data" / "ledger-signing.key")
    body = s3.get_object(Bucket="audit", Key=f"prod/{note_name(size)}")["Body"].read().decode()
    assert key.verifier.open(body).size == size >= 2  # startup and shutdown events
