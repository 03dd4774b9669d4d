"""``sentinel audit`` without a server, and a server whose ledger fails verification."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result
from ledger_tamper import insert_after_head, rewrite_from, truncate_to
from sentinel_testing import probe, register_host, start_server
from sqlalchemy import Engine

from sentinel.cli import cli
from sentinel.core.db import make_engine, sqlite_url
from sentinel.fleet.engine.engine import EngineUnavailable
from sentinel.fleet.engine.queries import audit_trail
from sentinel.v1 import fleet_pb2


def _audit(*args: str) -> Result:
    return CliRunner().invoke(cli, ["audit", *args])


def _fleet_history(tmp_path: Path) -> int:
    """Run a server that records some history, stop it; returns the ledger's size."""
    server = start_server(tmp_path)
    try:
        uuids = register_host(server.engine, "node-1", 2)
        probe(server.engine, uuids[0], n=30)
        probe(server.engine, uuids[1], failing_sm=3, n=2)
    finally:
        server.stop()
    return len(server.engine.ledger)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def db(data_dir: Path) -> Engine:
    return make_engine(sqlite_url(data_dir))


def test_offline_verify_finds_a_rewrite_with_recomputed_hashes(
    tmp_path: Path, data_dir: Path, db: Engine
) -> None:
    size = _fleet_history(tmp_path)
    ok = _audit("verify", "--data-dir", str(data_dir))
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.startswith(f"VALID: {size} entries")

    rewrite_from(db, 7, 1024)
    db.dispose()
    chain_only = _audit("verify", "--database-url", sqlite_url(data_dir))
    assert chain_only.exit_code == 0, chain_only.output  # the chain alone is fooled...
    assert "cannot be found" in chain_only.stderr
    broken = _audit("verify", "--data-dir", str(data_dir))
    assert broken.exit_code == 2, broken.output  # ...the signed checkpoint is not
    assert broken.stdout.startswith(f"BROKEN at entry {size}: ")
    assert f"entries 1..{size} were rewritten" in broken.stdout


def test_offline_verify_finds_truncation(tmp_path: Path, data_dir: Path, db: Engine) -> None:
    size = _fleet_history(tmp_path)
    truncate_to(db, size - 4)
    db.dispose()
    broken = _audit("verify", "--data-dir", str(data_dir))
    assert broken.exit_code == 2, broken.output
    assert f"entries {size - 3}..{size} were removed" in broken.stdout


def test_a_server_with_an_inserted_entry_starts_degraded(
    tmp_path: Path, data_dir: Path, db: Engine
) -> None:
    _fleet_history(tmp_path)
    stray = insert_after_head(db)
    db.dispose()
    server = start_server(tmp_path)  # refused to start before: nobody could look
    try:
        health = httpx.get(f"{server.http_url}/healthz", timeout=10)
        assert health.status_code == 503 and health.json()["status"] == "degraded"
        assert f"failed verification at entry {stray}" in " ".join(health.json()["problems"])
        page = httpx.get(f"{server.http_url}/", timeout=10).text
        assert f"the audit ledger failed verification at entry {stray}" in page
        with pytest.raises(EngineUnavailable, match="writes are refused"):
            probe(server.engine, "GPU-00000000-aaaa-bbbb-cccc-ddddeeeeffff")
        entries = audit_trail(server.engine, fleet_pb2.AuditQueryFilters(limit=5))
        assert entries.total_count == stray  # reads keep working, the stray row included
        result = server.engine.ledger.audit()
        assert not result.valid and result.first_invalid_entry_id == stray
    finally:
        server.stop()
    offline = _audit("verify", "--data-dir", str(data_dir))
    assert offline.exit_code == 2
    assert offline.stdout.startswith(f"BROKEN at entry {stray}: ")


def test_offline_verify_of_a_missing_database_says_which_flag(tmp_path: Path) -> None:
    result = _audit("verify", "--data-dir", str(tmp_path / "nowhere"))
    assert result.exit_code == 7
    assert result.stderr.startswith("error: there is no sentinel.db in ")
    assert "--database-url" in result.stderr and "Traceback" not in result.output


def test_export_into_a_missing_folder_is_one_error_line(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "audit.jsonl"
    result = _audit("export", str(target))
    assert result.exit_code == 7
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: folder {target.parent} does not exist")
    assert len(result.stderr.strip().splitlines()) == 1
