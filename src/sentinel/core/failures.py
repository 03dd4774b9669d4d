"""Which database failures the engine waits out, and how it describes them without SQL.

A transient failure (the server is down or restarting, the connection broke, SQLite is
locked or its disk is full) leaves the batch good: the engine commits it again once the
database is back. Anything else is permanent: the database refused the data itself, so
retrying cannot help and the engine isolates the operation that caused it.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy import exc as sa_exc

_SQLITE_TRANSIENT = (
    "database is locked",
    "database table is locked",
    "database is busy",
    "database or disk is full",
    "disk i/o error",
    "unable to open database file",
)


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` means "the database is away for now" rather than "bad data"."""
    if isinstance(exc, sa_exc.DisconnectionError | sa_exc.TimeoutError):
        return True
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    if exc.connection_invalidated or isinstance(exc, sa_exc.InterfaceError):
        return True
    if not isinstance(exc, sa_exc.OperationalError):
        return False
    if isinstance(exc.orig, sqlite3.Error):
        message = str(exc.orig).lower()
        return any(m in message for m in _SQLITE_TRANSIENT)
    # PostgreSQL's operational errors: connection lost or refused, admin shutdown, disk
    # full, serialization failures and deadlocks. All clear up by themselves.
    return True


def describe_failure(exc: BaseException) -> str:
    """``Class: first line`` of the driver's message; SQLAlchemy's own text (which quotes the
    statement and its parameters) is left out, as it may carry a client's data."""
    orig = exc.orig if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None else exc
    if isinstance(orig, sa_exc.StatementError):
        return type(orig).__name__
    lines = str(orig).strip().splitlines()
    first = lines[0][:200] if lines else ""
    return f"{type(orig).__name__}: {first}" if first else type(orig).__name__
