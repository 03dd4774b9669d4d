"""Small key/value settings the server keeps in its own database (``sentinel_meta``)."""

from __future__ import annotations

import secrets

from sqlalchemy import Connection, Engine, String, Text, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from sentinel.core.db import Base


class MetaRow(Base):
    """One setting: secrets, the ledger head, anything that must survive a restart."""

    __tablename__ = "sentinel_meta"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


def _insert(conn: Connection) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that understands ON CONFLICT on both supported databases."""
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(MetaRow)


def get_meta(conn: Connection, key: str) -> str | None:
    """The value stored under ``key``, or None."""
    return conn.execute(select(MetaRow.value).where(MetaRow.key == key)).scalar_one_or_none()


def set_meta(conn: Connection, key: str, value: str) -> None:
    """Store ``value`` under ``key``, replacing any previous value (an upsert)."""
    stmt = _insert(conn).values(key=key, value=value)
    conn.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"value": value}))


def get_or_create_secret(engine: Engine, key: str) -> bytes:
    """A random 32-byte secret stored under ``key``, created on first use.

    Two processes starting together both try to insert; ON CONFLICT DO NOTHING lets the
    first win and both then read the same secret back.
    """
    with engine.begin() as conn:
        stmt = _insert(conn).values(key=key, value=secrets.token_hex(32))
        conn.execute(stmt.on_conflict_do_nothing(index_elements=["key"]))
        value = get_meta(conn, key)
    assert value is not None  # inserted above unless it already existed
    return bytes.fromhex(value)
