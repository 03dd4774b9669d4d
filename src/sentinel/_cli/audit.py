"""``sentinel audit verify`` and ``sentinel audit export``."""

from __future__ import annotations

import base64
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

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

_PAGE = 500
_BROKEN_EXIT = 2


@click.group()
def audit() -> None:
    """The tamper-evident audit ledger."""


@audit.command()
@click.option("--start-id", default=0, type=click.IntRange(min=0), help="First entry; 0: genesis.")
@click.option("--end-id", default=0, type=click.IntRange(min=0), help="Last entry; 0: the latest.")
@click.option("--no-merkle", is_flag=True, help="Check the hash chain only, not batch roots.")
@click.pass_obj
def verify(conn: Connection, start_id: int, end_id: int, no_merkle: bool) -> None:
    """Check the hash chain (and Merkle roots); exits 2 when the ledger is broken."""
    with conn.open() as client:
        result = _verify(client, start_id, end_id, merkle=not no_merkle)
    _report(result)


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


def _report(result: ChainVerificationResult) -> None:
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
