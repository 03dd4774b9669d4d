"""What someone holding the database can do to the audit ledger, for the tests that catch it."""

from __future__ import annotations

from hashlib import sha256

from sqlalchemy import Engine, text

from sentinel.core.ledger import canonical_bytes
from sentinel.core.merkle import merkle_root


def rewrite_from(db: Engine, k: int, batch_size: int) -> None:
    """Change entry ``k`` and recompute every hash, link, Merkle root and the recorded head
    after it, so the chain on its own verifies."""
    with db.begin() as conn:
        rows = conn.execute(
            text(
                "SELECT entry_id, entry_type, timestamp, gpu_uuid, data, entry_hash "
                "FROM ledger_entries ORDER BY entry_id"
            )
        ).all()
        hashes = [bytes(r.entry_hash) for r in rows]
        prev = hashes[k - 2] if k > 1 else bytes(32)
        for r in rows[k - 1 :]:
            data = b"forged" if r.entry_id == k else bytes(r.data)
            h = sha256(
                prev + canonical_bytes(r.entry_id, r.entry_type, r.timestamp, r.gpu_uuid, data)
            ).digest()
            hashes[r.entry_id - 1] = h
            root = None
            if r.entry_id % batch_size == 0:
                root = merkle_root(hashes[r.entry_id - batch_size : r.entry_id])
                conn.execute(
                    text("UPDATE ledger_batches SET merkle_root = :m WHERE batch_no = :b"),
                    {"m": root, "b": r.entry_id // batch_size},
                )
            conn.execute(
                text(
                    "UPDATE ledger_entries SET data = :d, previous_hash = :p, entry_hash = :h, "
                    "merkle_root = :m WHERE entry_id = :i"
                ),
                {"d": data, "p": prev, "h": h, "m": root, "i": r.entry_id},
            )
            prev = h
        conn.execute(
            text("UPDATE sentinel_meta SET value = :v WHERE key = 'ledger_head'"),
            {"v": f"{len(rows)}:{prev.hex()}"},
        )


def truncate_to(db: Engine, size: int) -> None:
    """Cut the tail off and roll the recorded head back to match."""
    with db.begin() as conn:
        last = conn.execute(
            text("SELECT entry_hash FROM ledger_entries WHERE entry_id = :i"), {"i": size}
        ).scalar_one()
        conn.execute(text("DELETE FROM ledger_entries WHERE entry_id > :i"), {"i": size})
        conn.execute(text("DELETE FROM ledger_batches WHERE last_entry_id > :i"), {"i": size})
        conn.execute(
            text("UPDATE sentinel_meta SET value = :v WHERE key = 'ledger_head'"),
            {"v": f"{size}:{bytes(last).hex()}"},
        )


def insert_after_head(db: Engine) -> int:
    """Insert a copy of the newest entry one past the head; returns its id."""
    with db.begin() as conn:
        head = int(conn.execute(text("SELECT max(entry_id) FROM ledger_entries")).scalar_one())
        conn.execute(
            text(
                "INSERT INTO ledger_entries (entry_id, entry_type, timestamp, gpu_uuid, data, "
                "previous_hash, entry_hash, merkle_root) SELECT :n, entry_type, timestamp, "
                "gpu_uuid, data, previous_hash, entry_hash, NULL FROM ledger_entries "
                "WHERE entry_id = :h"
            ),
            {"n": head + 1, "h": head},
        )
    return head + 1
