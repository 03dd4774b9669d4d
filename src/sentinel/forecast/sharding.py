"""Watched series shared across workers: shards leased with PostgreSQL advisory locks.

Every series belongs to one of ``shards`` shards (CRC-32 of its key). A worker holds a
shard while its database session holds the session-level advisory lock ``(LEASE_KEY,
shard)``; it also holds one presence lock ``(PRESENCE_KEY, worker id)``, so every worker can
count the live ones in ``pg_locks``. At each cycle a worker keeps at most its fair share
(``ceil(shards / workers)``), releases the excess and tries the free shards. A worker that
dies loses its connection and with it every lock: the others pick its shards up at their
next cycle and restore the models from the shared artifact store (S3).
"""

from __future__ import annotations

import math
import random
import threading
import zlib
from typing import Any

LEASE_KEY = 0x5E47
PRESENCE_KEY = 0x5E48


def shard_of(key: str, shards: int) -> int:
    return zlib.crc32(key.encode()) % shards


class ShardLeases:
    """This worker's shards, from a PostgreSQL database every worker shares."""

    def __init__(self, database_url: str, shards: int = 64) -> None:
        if not database_url.startswith("postgresql"):
            raise ValueError(
                "sharding the watched series across workers needs PostgreSQL (advisory locks): "
                f"give a postgresql+psycopg:// URL, not {database_url.split(':', 1)[0]!r}"
            )
        if shards < 1:
            raise ValueError("shards must be at least 1")
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        self.shards = shards
        self.worker = random.getrandbits(31)
        # No pool: closing the session must end it, and with it every lock.
        self._engine = create_engine(database_url, poolclass=NullPool)
        self._conn: Any = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        self._lock = threading.Lock()
        self.held: frozenset[int] = frozenset()
        self._sql("SELECT pg_advisory_lock(:k, :w)", k=PRESENCE_KEY, w=self.worker)

    def _sql(self, text: str, **params: int) -> Any:
        from sqlalchemy import text as sql

        return self._conn.execute(sql(text), params).scalar()

    def workers(self) -> int:
        """Live workers (those holding a presence lock in this database)."""
        return int(
            self._sql(
                "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = :k "
                "AND l.objsubid = 2 AND d.datname = current_database()",
                k=PRESENCE_KEY,
            )
        )

    def rebalance(self) -> frozenset[int]:
        """Release shards above the fair share, take free ones up to it; returns the held."""
        with self._lock:
            fair = math.ceil(self.shards / max(self.workers(), 1))
            held = set(self.held)
            for shard in sorted(held)[fair:]:
                self._sql("SELECT pg_advisory_unlock(:k, :s)", k=LEASE_KEY, s=shard)
                held.discard(shard)
            start = self.worker % self.shards  # workers probe from different places
            for i in range(self.shards):
                if len(held) >= fair:
                    break
                shard = (start + i) % self.shards
                if shard not in held and self._sql(
                    "SELECT pg_try_advisory_lock(:k, :s)", k=LEASE_KEY, s=shard
                ):
                    held.add(shard)
            self.held = frozenset(held)
            return self.held

    def owns(self, key: str) -> bool:
        return shard_of(key, self.shards) in self.held

    def close(self) -> None:
        """Release every lock (closing the session does); a second call does nothing."""
        with self._lock:
            if self._conn.closed:
                return
            self._sql("SELECT pg_advisory_unlock_all()")
            self._conn.close()
            self._engine.dispose()
            self.held = frozenset()
