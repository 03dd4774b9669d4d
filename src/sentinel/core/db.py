"""Database access shared by every domain: one SQLAlchemy engine per URL, migrations by Alembic.

SQLite is the embedded default; PostgreSQL is chosen by URL
(``postgresql+psycopg://...``). Both go through the same models and the same
migrations.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, MetaData, create_engine, event
from sqlalchemy.orm import DeclarativeBase

_MIGRATIONS = Path(__file__).parent / "migrations"

_NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every table Sentinel stores."""

    metadata = MetaData(naming_convention=_NAMING)


def sqlite_url(data_dir: str | Path) -> str:
    """The embedded default database: a SQLite file under ``data_dir``."""
    path = Path(data_dir).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path / 'sentinel.db'}"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` with settings that suit Sentinel's write pattern."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.set_main_option("version_locations", " ".join(str(p) for p in _version_dirs()))
    cfg.set_main_option("path_separator", "space")
    cfg.attributes["engine"] = engine
    return cfg


def _version_dirs() -> list[Path]:
    """Core's revisions and every shipped domain's (``sentinel/<domain>/migrations/versions``).

    Every domain's tables are created whichever domains a server enables, so that servers
    with different ``--domains`` can share one database and a domain enabled later needs no
    migration step of its own.
    """
    from sentinel.core.domain import DOMAINS

    package = Path(__file__).parent.parent
    domains = [package / name / "migrations" / "versions" for name in DOMAINS]
    return [_MIGRATIONS / "versions", *(d for d in domains if d.is_dir())]


def migrate(engine: Engine) -> None:
    """Bring the schema of ``engine``'s database to the newest revision of every branch.

    Core and the fleet share one history (``0001_core`` ... ``0004_fleet_reports``); each
    later domain is a branch of its own, labelled with its name.
    """
    from alembic import command

    command.upgrade(_alembic_config(engine), "heads")


def schema_revisions(engine: Engine) -> tuple[str, ...]:
    """The revisions (one per branch head) the database is at; empty for an empty database."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return tuple(sorted(MigrationContext.configure(conn).get_current_heads()))


def _marker(conn: Connection) -> str:
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


def bulk_insert(
    conn: Connection, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert ``rows`` (tuples in ``columns`` order) with one driver-level executemany.

    The hot write paths (ledger entries, GPU state) use this instead of Core ``insert``
    because SQLAlchemy's per-row parameter processing costs more than the database does.
    """
    if not rows:
        return
    marks = ", ".join([_marker(conn)] * len(columns))
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
    conn.exec_driver_sql(sql, list(rows))  # type: ignore[arg-type]


def bulk_update(
    conn: Connection,
    table: str,
    columns: Sequence[str],
    key: str,
    rows: Sequence[Sequence[Any]],
) -> None:
    """Update ``columns`` of the rows whose ``key`` is the last value of each tuple."""
    if not rows:
        return
    m = _marker(conn)
    sets = ", ".join(f"{c} = {m}" for c in columns)
    conn.exec_driver_sql(f"UPDATE {table} SET {sets} WHERE {key} = {m}", list(rows))  # type: ignore[arg-type]
