"""The server's watch over its audit ledger: verification at start-up, signed checkpoints.

At start the ledger is verified against every signed checkpoint (from the newest one
that matches to the head). A ledger that fails does not stop the server, since then
nobody could look at it: the server starts degraded, says so in its log, on
``/healthz`` and on the dashboard, and refuses every write (UNAVAILABLE, so agents keep
their reports buffered) until an operator has restored the database. A ledger that
passes gets a checkpoint publisher.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sentinel.core.checkpoints import (
    Checkpoint,
    Publisher,
    SigningKey,
    load_checkpoints,
    newest,
    open_store,
)
from sentinel.core.ledger import Ledger
from sentinel.core.settings import ServerSettings

log = logging.getLogger("sentinel.server.ledger")

ORIGIN = "sentinel/audit-ledger"
"""The origin line of the server's checkpoints."""


class LedgerGuard:
    """Verifies ``ledger`` now and, when it is sound, publishes checkpoints until :meth:`stop`."""

    def __init__(self, settings: ServerSettings, ledger: Ledger) -> None:
        data_dir = Path(settings.data_dir)
        key = SigningKey.load_or_create(
            Path(settings.signing_key) if settings.signing_key else data_dir / "ledger-signing.key"
        )
        store = open_store(settings.checkpoint_store or data_dir / "checkpoints")
        verified: dict[tuple[str, str], Checkpoint] = {}
        ledger.checkpoints = lambda: load_checkpoints(store, key.verifier, verified)
        result = ledger.audit()
        self.publisher: Publisher | None = None
        if not result.valid:
            ledger.fault = result
            log.error("DEGRADED: %s", ledger.fault_message())
            return
        published = newest(load_checkpoints(store, key.verifier, verified)[0])
        self.publisher = Publisher(
            ledger.head,
            key,
            store,
            ORIGIN,
            every_entries=settings.checkpoint_every_entries,
            every_seconds=settings.checkpoint_every_seconds,
            published=published.size if published else 0,
        )
        log.info(
            "audit ledger verified (%d entries checked since the last checkpoint); "
            "publishing signed checkpoints to %s",
            result.entries_verified,
            store,
        )

    def start(self) -> None:
        if self.publisher is not None:
            self.publisher.start()

    def stop(self) -> None:
        """Publish the final checkpoint."""
        if self.publisher is not None:
            self.publisher.stop()
