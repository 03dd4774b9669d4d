"""The engine's writer thread survives callers that give up on their operations."""

from __future__ import annotations

import threading
from pathlib import Path

from sentinel.core.db import make_engine, migrate
from sentinel.fleet.engine.engine import FleetEngine


def test_a_cancelled_operation_does_not_stop_the_writer(tmp_path: Path) -> None:
    db = make_engine(f"sqlite:///{tmp_path / 'sentinel.db'}")
    migrate(db)
    engine = FleetEngine(db)
    engine.start()
    try:
        release = threading.Event()
        blocker = engine.submit(lambda b: release.wait(10))
        abandoned = engine.submit(lambda b: "nobody waits for this")
        # What asyncio.wrap_future does when a gRPC deadline expires while queued.
        assert abandoned.cancel()
        release.set()
        assert blocker.result(timeout=10) is True
        assert engine.submit(lambda b: "still serving").result(timeout=10) == "still serving"
        assert engine.running
    finally:
        engine.stop()
        db.dispose()
