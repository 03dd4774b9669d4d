"""``sentinel audit verify`` and ``sentinel audit export``."""

from __future__ import annotations

import base64
import json
import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from sentinel._cli.connection import Connection
from sentinel._cli.options import MOMENT, enum_option
from sentinel._cli.render import console
from sentinel.fleet import (
    AuditEntry,
    AuditEntryType,
    AuditQueryFilters,
    ChainVerificationResult,
    GpuIdentifier,
    SentinelClient,
)

if TYPE_CHECKING:
    from sentinel.core.ledger import VerifyResult

_PAGE = 500
_BROKEN_EXIT = 2
_LOCAL_EXIT = 7


@click.group()
def audit() -> None:
    """The tamper-evident audit ledger."""


@audit.command()
@click.option("--start-id", default=0, type=click.IntRange(min=0), help="First entry; 0: genesis.")
@click.option("--end-id", default=0, type=click.IntRange(min=0), help="Last entry; 0: the latest.")
@click.option("--no-merkle", is_flag=True, help="Check the hash chain only, not batch roots.")
@click.option(
    "--full",
    is_flag=True,
    help="Recompute the whole chain, not only what follows the newest signed checkpoint.",
)
@click.option(
    "--database-url",
    help="Verify this database directly, without a server (SQLAlchemy URL).",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Verify the server data directory directly: its SQLite database, signing key and "
    "checkpoints.",
)
@click.option(
    "--checkpoints",
    "checkpoint_store",
    help="Signed checkpoints to check against: a directory or s3://bucket/prefix "
    "(default: DATA_DIR/checkpoints).",
)
@click.option(
    "--signing-key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The server's signing key, whose public half checks the checkpoints "
    "(default: DATA_DIR/ledger-signing.key).",
)
@click.pass_obj
def verify(
    conn: Connection,
    start_id: int,
    end_id: int,
    no_merkle: bool,
    full: bool,
    database_url: str | None,
    data_dir: Path | None,
    checkpoint_store: str | None,
    signing_key: Path | None,
) -> None:
    """Check the hash chain, Merkle roots and signed checkpoints; exits 2 when broken.

    Through the server by default (from the newest signed checkpoint on, or the whole
    chain with --full). With --database-url or --data-dir it reads the database itself,
    no server needed, and checks the whole chain: what to run when the server reports
    that its ledger failed verification.
    """
    if database_url or data_dir:
        _report(
            _verify_offline(
                database_url, data_dir, checkpoint_store, signing_key, merkle=not no_merkle
            )
        )
        return
    with conn.open() as client:
        result = _verify(client, start_id or (1 if full else 0), end_id, merkle=not no_merkle)
    _report(result)


def _fail(message: str) -> NoReturn:
    """One ``error:`` line on stderr, then exit 7 (a local file or database cannot be used)."""
    console(stderr=True).print(
        Text.assemble(("error: ", "bold red"), (message, "red")), soft_wrap=True
    )
    raise click.exceptions.Exit(_LOCAL_EXIT)


def _verify_offline(
    database_url: str | None,
    data_dir: Path | None,
    checkpoint_store: str | None,
    signing_key: Path | None,
    *,
    merkle: bool,
) -> VerifyResult:
    """Verify the ledger in the database itself, against the signed checkpoints."""
    from sqlalchemy.exc import SQLAlchemyError

    from sentinel.core.checkpoints import (
        PUBLIC_KEY_NAME,
        CheckpointError,
        SigningKey,
        Verifier,
        load_checkpoints,
        open_store,
    )
    from sentinel.core.db import make_engine, sqlite_url
    from sentinel.core.ledger import Ledger, LedgerError

    if database_url is None:
        assert data_dir is not None
        if not (data_dir / "sentinel.db").is_file():
            _fail(
                f"there is no sentinel.db in {data_dir}: pass the server's --data-dir, "
                "or --database-url for a PostgreSQL database"
            )
        database_url = sqlite_url(data_dir)
    note = console(stderr=True)
    location = checkpoint_store or (str(data_dir / "checkpoints") if data_dir else None)
    key_path = signing_key or (data_dir / "ledger-signing.key" if data_dir else None)
    try:
        store = open_store(location) if location else None
        verifier = None
        if key_path is not None and key_path.is_file():
            verifier = SigningKey.load_or_create(key_path).verifier
        elif signing_key is not None:
            _fail(f"signing key {signing_key} does not exist; pass the server's key file")
        elif store is not None and (published := store.get(PUBLIC_KEY_NAME)):
            verifier = Verifier.parse(published)
            note.print(
                f"checking checkpoints with the public key published in {store}; pass "
                "--signing-key for a key the checkpoint store's holder cannot swap"
            )
    except CheckpointError as exc:
        _fail(str(exc))
    engine = make_engine(database_url)
    try:
        ledger = Ledger(engine, batch_size=None)
        if store is not None and verifier is not None:
            ledger.checkpoints = lambda: load_checkpoints(store, verifier)
        else:
            note.print(
                "no signed checkpoints to check against (--checkpoints, --signing-key): "
                "a cut-off tail or a rewrite with recomputed hashes cannot be found"
            )
        with note.status("Verifying the audit chain in the database…"):
            return ledger.audit(full=True, merkle=merkle)
    except (LedgerError, CheckpointError, SQLAlchemyError) as exc:
        _fail(f"cannot verify the ledger at {engine.url!r}: {exc}")
    finally:
        engine.dispose()


@audit.command()
@click.argument("file", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@click.option("--since", type=MOMENT, help="Entries from: 30m, 24h, 7d or ISO.")
@click.option("--until", type=MOMENT, help="Entries until: 30m, 24h, 7d or ISO.")
@enum_option("--type", "entry_type", enum=AuditEntryType, help="Only entries of this type.")
@click.option("--gpu", "gpu_uuid", help="Only entries about this GPU.")
@click.pass_obj
def export(
    conn: Connection,
    file: Path,
    since: datetime | None,
    until: datetime | None,
    entry_type: AuditEntryType | None,
    gpu_uuid: str | None,
) -> None:
    """Write audit entries to FILE as JSON lines, then verify the chain.

    The file appears only once every entry is written, so a failed export leaves no
    truncated file behind. Exits 2 when the chain is broken.
    """
    filters = AuditQueryFilters(
        gpu=GpuIdentifier(uuid=gpu_uuid) if gpu_uuid else None,
        start_time=since,
        end_time=until,
        entry_type=entry_type or AuditEntryType.UNSPECIFIED,
        limit=_PAGE,
    )
    if not file.parent.is_dir():
        _fail(f"folder {file.parent} does not exist; create it or write FILE somewhere else")
    partial = file.with_name(f"{file.name}.partial")
    written = 0
    progress_console = console(stderr=True)
    with conn.open() as client:
        try:
            with (
                partial.open("w", encoding="utf-8") as out,
                Progress(
                    TextColumn("Exporting"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeElapsedColumn(),
                    console=progress_console,
                    transient=True,
                    disable=not progress_console.is_terminal,
                ) as progress,
            ):
                task = progress.add_task("export", total=None)
                while True:
                    page = client.query_audit_trail(filters)
                    progress.update(task, total=page.total_count)
                    for entry in page.entries:
                        out.write(json.dumps(_record(entry)) + "\n")
                    written += len(page.entries)
                    progress.update(task, completed=written)
                    if not page.next_page_token:
                        break
                    filters.page_token = page.next_page_token
            os.replace(partial, file)
        finally:
            partial.unlink(missing_ok=True)
        console().print(f"Exported {written} entries to {file}")
        result = _verify(client, 0, 0, merkle=True)
    _report(result)


def _record(entry: AuditEntry) -> dict[str, Any]:
    return {
        "entry_id": entry.entry_id,
        "type": entry.entry_type.name,
        "timestamp": entry.timestamp.isoformat() if entry.timestamp else None,
        "gpu_uuid": entry.gpu.uuid if entry.gpu and entry.gpu.uuid else None,
        "data": base64.b64encode(entry.data).decode("ascii"),
        "previous_hash": entry.previous_hash.hex(),
        "entry_hash": entry.entry_hash.hex(),
        "merkle_root": entry.merkle_root.hex() if entry.merkle_root else None,
    }


def _verify(
    client: SentinelClient, start_id: int, end_id: int, *, merkle: bool
) -> ChainVerificationResult:
    with console(stderr=True).status("Verifying the audit chain…"):
        return client.verify_chain(
            start_entry_id=start_id, end_entry_id=end_id, verify_merkle_roots=merkle
        )


def _report(result: ChainVerificationResult | VerifyResult) -> None:
    """Prints the verification; a broken chain ends the command with exit code 2."""
    counts = (
        f"{result.entries_verified} entries, {result.batches_verified} batches, "
        f"{result.verification_time_ms} ms"
    )
    out = console()
    if result.valid:
        out.print(Text.assemble(("VALID", "bold green"), f": {counts}"))
        return
    out.print(
        Text.assemble(
            ("BROKEN", "bold red"),
            f" at entry {result.first_invalid_entry_id}: {result.failure_description} ({counts})",
        )
    )
    raise click.exceptions.Exit(_BROKEN_EXIT)
