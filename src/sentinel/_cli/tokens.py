"""``sentinel tokens create|list|revoke``: API tokens, on the server's database directly.

The commands open the database the server uses (``--data-dir`` / ``--database-url``,
with the same ``SENTINEL_*`` defaults as ``sentinel serve``), so they work whether the
server runs or not; a revocation reaches a running server within a second.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from sentinel._cli.render import console

_SCOPES = ("operator", "agent", "runs", "capture", "llm")
"""``sentinel.core.identity.SCOPES``, repeated so that ``--help`` does not load the server."""


def _database_options(fn: Callable[..., None]) -> Callable[..., None]:
    fn = click.option(
        "--database-url",
        help="SQLAlchemy URL [$SENTINEL_DATABASE_URL or SQLite in the data dir].",
    )(fn)
    return click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="The server's data dir [$SENTINEL_DATA_DIR or ./data].",
    )(fn)


@contextmanager
def _store(data_dir: Path | None, database_url: str | None) -> Iterator[Any]:
    """The token store of the server's database, migrated to the newest schema."""
    import os

    from sentinel.core.db import make_engine, migrate, sqlite_url
    from sentinel.core.identity import TokenStore
    from sentinel.server.up import private_database, private_dir

    url = database_url or os.environ.get("SENTINEL_DATABASE_URL", "")
    if not url:
        # Created as `sentinel up` creates them: readable by this user only.
        directory = data_dir or Path(os.environ.get("SENTINEL_DATA_DIR", "./data"))
        private_dir(directory)
        private_database(directory / "sentinel.db")
        url = sqlite_url(directory)
    db = make_engine(url)
    try:
        migrate(db)
        yield TokenStore(db)
    finally:
        db.dispose()


@click.group()
def tokens() -> None:
    """API tokens: operators, agents bound to a host, and ingestion clients."""


@tokens.command()
@click.option(
    "--scope",
    required=True,
    type=click.Choice(_SCOPES),
    help="operator: review, reinstate, condemn, configure; agent: one host's agent; "
    "runs, capture, llm: ingestion for that domain.",
)
@click.option("--host", default="", help="The hostname an agent token acts for (agent only).")
@click.option(
    "--repo",
    "repos",
    multiple=True,
    metavar="OWNER/REPO",
    help="A GitHub repository a capture token reports exceptions for (capture only; "
    "required there; repeat for several).",
)
@click.option(
    "--name", default="", help="What the audit trail records [default: the host or scope]."
)
@_database_options
def create(
    scope: str,
    host: str,
    repos: tuple[str, ...],
    name: str,
    data_dir: Path | None,
    database_url: str | None,
) -> None:
    """Issue a token and print it once: it is stored only as a hash."""
    with _store(data_dir, database_url) as store:
        try:
            record, token = store.create(scope, host=host, name=name, repos=repos)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from exc
    out = console()
    out.print(token, soft_wrap=True)
    bound = f" for host {record.host}" if record.host else ""
    if record.repos:
        bound = f" for {', '.join(record.repos)}"
    console(stderr=True).print(
        f"Created {record.scope} token {record.token_id} ({record.name}){bound}. "
        "This is the only time it is shown: keep it in a secret store; "
        "pass it as --token or SENTINEL_TOKEN.",
        soft_wrap=True,
    )


@tokens.command(name="list")
@_database_options
def list_(data_dir: Path | None, database_url: str | None) -> None:
    """Every token issued: id, name, scope, host or repositories, created, revoked (never the
    token)."""
    with _store(data_dir, database_url) as store:
        records = store.records()
    table = Table("id", "name", "scope", "host / repos", "created", "revoked")
    for r in records:
        table.add_row(
            r.token_id,
            r.name,
            r.scope,
            r.host or " ".join(r.repos) or "—",
            _time(r.created_us),
            Text(_time(r.revoked_us), style="red") if r.revoked else Text("—", style="dim"),
        )
    out = console()
    if not records:
        out.print("No tokens yet: `sentinel tokens create --scope operator` makes one.")
        return
    out.print(table)


@tokens.command()
@click.argument("token_id")
@_database_options
def revoke(token_id: str, data_dir: Path | None, database_url: str | None) -> None:
    """Revoke the token TOKEN_ID (see `sentinel tokens list`); a running server stops
    accepting it within a second."""
    with _store(data_dir, database_url) as store:
        try:
            record = store.revoke(token_id)
        except KeyError as exc:
            raise click.ClickException(str(exc.args[0])) from exc
    console().print(f"Revoked {record.scope} token {record.token_id} ({record.name}).")


def _time(us: int | None) -> str:
    if us is None:
        return "—"
    return datetime.fromtimestamp(us / 1e6, timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
