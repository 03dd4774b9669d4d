"""One write batch of the engine: rows and ledger records gathered, then flushed together.

The writer thread runs many operations against one ``Batch`` and flushes it in a single
database transaction shared with the audit ledger, so an operation's state change and its
audit entry commit or roll back together.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite

from sentinel.core.db import bulk_insert, bulk_update
from sentinel.core.ledger import LedgerRecord
from sentinel.fleet.engine.state import Agent, Gpu, sm_blob
from sentinel.fleet.engine.store import (
    AgentRow,
    ConfigRow,
    CorrelationRow,
    DirectiveRow,
    GpuRow,
    ReliabilitySampleRow,
    TelemetryRow,
    TmrCanaryRow,
    TransitionRow,
    TrustEdgeRow,
)

_GPU_FIELDS = (
    "state",
    "state_changed_us",
    "state_change_reason",
    "probe_pass_count",
    "probe_fail_count",
    "anomaly_count",
    "last_probe_us",
    "last_anomaly_us",
    "passes_since_deep_test",
    "deep_test_types",
    "deep_test_failed",
    "agent_id",
    "hostname",
    "driver_version",
    "firmware_version",
    "model",
    "device_index",
)


def us_to_dt(us: int) -> datetime:
    """Microseconds since the epoch to an aware UTC datetime."""
    return datetime.fromtimestamp(us / 1e6, tz=UTC)


_GPU_COLUMNS = (*_GPU_FIELDS, "alpha", "beta", "reliability_updated")
_GPU_SM_COLUMNS = (*_GPU_COLUMNS, "sm_blob", "sm_disabled")


def _gpu_values(g: Gpu, with_sm: bool) -> tuple[Any, ...]:
    """Column values of ``g`` in ``_GPU_COLUMNS`` (or ``_GPU_SM_COLUMNS``) order."""
    values = [getattr(g, f) for f in _GPU_FIELDS]
    values += (g.rel.alpha, g.rel.beta, g.rel.updated_at)
    if with_sm:
        values += (sm_blob(g.sm), g.sm_disabled_json())
    return tuple(values)


def _upsert(
    conn: Connection, table: Table, rows: list[dict[str, Any]], keys: Sequence[str]
) -> None:
    if not rows:
        return
    dialect: Any = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table)
    cols = {c: stmt.excluded[c] for c in rows[0] if c not in keys}
    conn.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=cols), rows)


@dataclass
class Batch:
    """What a group of engine operations wants written, plus what to do after commit."""

    now: float
    ledger: list[LedgerRecord] = field(default_factory=list)
    gpus: dict[str, Gpu] = field(default_factory=dict)
    sm_flush: set[str] = field(default_factory=set)
    agents: dict[str, Agent] = field(default_factory=dict)
    transitions: list[dict[str, Any]] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)
    correlations: list[dict[str, Any]] = field(default_factory=list)
    directives: dict[str, dict[str, Any]] = field(default_factory=dict)
    trust_edges: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    telemetry: list[dict[str, Any]] = field(default_factory=list)
    config: list[dict[str, Any]] = field(default_factory=list)
    canaries: dict[str, dict[str, Any]] = field(default_factory=dict)
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    reports: int = 0

    @property
    def now_us(self) -> int:
        return int(self.now * 1e6)

    def audit(self, entry_type: int, gpu_uuid: str | None, data: bytes, ts: float = 0.0) -> None:
        """Queue one audit ledger entry."""
        when = datetime.fromtimestamp(ts or self.now, tz=UTC)
        self.ledger.append(LedgerRecord(entry_type, when, gpu_uuid, data))

    def touch(self, gpu: Gpu, *, sm: bool = False) -> None:
        """Mark ``gpu`` for writing; ``sm`` also writes its per-SM blob."""
        self.gpus[gpu.uuid] = gpu
        if sm:
            self.sm_flush.add(gpu.uuid)

    def flush(self, conn: Connection) -> None:
        """Write everything gathered on ``conn`` (inside the ledger's transaction)."""
        self._flush_gpus(conn)
        agents = [
            {
                "agent_id": a.agent_id,
                "hostname": a.hostname,
                "agent_version": a.agent_version,
                "registered_us": a.registered_us,
                "last_heartbeat_us": a.last_heartbeat_us,
                "config_version": a.config_version,
                "config_error": a.config_error,
            }
            for a in self.agents.values()
        ]
        _upsert(conn, AgentRow.__table__, agents, ["agent_id"])  # type: ignore[arg-type]
        for name, rows in (
            (TransitionRow.__tablename__, self.transitions),
            (ReliabilitySampleRow.__tablename__, self.samples),
            (CorrelationRow.__tablename__, self.correlations),
            (TelemetryRow.__tablename__, self.telemetry),
            (ConfigRow.__tablename__, self.config),
        ):
            if rows:
                columns = list(rows[0])
                bulk_insert(conn, name, columns, [tuple(r[c] for c in columns) for r in rows])
        _upsert(conn, DirectiveRow.__table__, list(self.directives.values()), ["directive_id"])  # type: ignore[arg-type]
        _upsert(conn, TrustEdgeRow.__table__, list(self.trust_edges.values()), ["gpu_a", "gpu_b"])  # type: ignore[arg-type]
        _upsert(conn, TmrCanaryRow.__table__, list(self.canaries.values()), ["canary_id"])  # type: ignore[arg-type]

    def _flush_gpus(self, conn: Connection) -> None:
        new: list[tuple[Any, ...]] = []
        plain: list[tuple[Any, ...]] = []
        with_sm: list[tuple[Any, ...]] = []
        for g in self.gpus.values():
            if not g.persisted:
                new.append((g.uuid, g.sm_count, g.registered_us, *_gpu_values(g, with_sm=True)))
            elif g.uuid in self.sm_flush:
                with_sm.append((*_gpu_values(g, with_sm=True), g.uuid))
            else:
                plain.append((*_gpu_values(g, with_sm=False), g.uuid))
        table = GpuRow.__tablename__
        bulk_insert(conn, table, ("uuid", "sm_count", "registered_us", *_GPU_SM_COLUMNS), new)
        bulk_update(conn, table, _GPU_COLUMNS, "uuid", plain)
        bulk_update(conn, table, _GPU_SM_COLUMNS, "uuid", with_sm)

    def committed(self) -> None:
        """Mark written objects persisted once the transaction committed."""
        for g in self.gpus.values():
            g.persisted = True
            if g.uuid in self.sm_flush:
                g.sm_persisted_us = self.now_us
                g.sm_dirty = False
        for a in self.agents.values():
            a.persisted = True


def dumps(value: Any) -> str:
    """Compact JSON for list/dict columns."""
    return json.dumps(value, separators=(",", ":"))
