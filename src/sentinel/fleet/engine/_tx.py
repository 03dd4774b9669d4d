"""One write batch of the engine: rows and ledger records gathered, then flushed together.

The writer thread runs many operations against one ``Batch`` and flushes it in a single
database transaction shared with the audit ledger, so an operation's state change and its
audit entry commit or roll back together.

Memory must roll back too: an operation calls ``stage(gpu)`` (``stage_agent(agent)``)
before its first change to a GPU (agent), so that ``undo`` can put back every object a
failed batch touched. Validate first, stage, then mutate.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from operator import attrgetter
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite

from sentinel.core.db import bulk_insert, bulk_update
from sentinel.core.ledger import LedgerRecord
from sentinel.fleet.engine import _dedup
from sentinel.fleet.engine.rates import WindowCounter
from sentinel.fleet.engine.reliability import BetaReliability
from sentinel.fleet.engine.state import Agent, FleetState, Gpu, sm_blob
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
    return datetime.fromtimestamp(us / 1e6, tz=timezone.utc)


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
    report_ids: dict[str, None] = field(default_factory=dict)
    """Ids of the reports this batch applied, in order; stored with the batch."""
    stored_reports: set[str] = field(default_factory=set)
    """Ids of this batch's reports that the database already held when it began."""
    staged_gpus: dict[str, _SavedGpu | None] = field(default_factory=dict)
    """GPUs as they were before the batch changed them (None: the batch created it)."""
    staged_agents: dict[str, Agent | None] = field(default_factory=dict)
    """Agents as they were before the batch changed them (None: the batch created it)."""

    @property
    def now_us(self) -> int:
        return int(self.now * 1e6)

    def audit(self, entry_type: int, gpu_uuid: str | None, data: bytes, ts: float = 0.0) -> None:
        """Queue one audit ledger entry."""
        when = datetime.fromtimestamp(ts or self.now, tz=timezone.utc)
        self.ledger.append(LedgerRecord(entry_type, when, gpu_uuid, data))

    def stage(self, gpu: Gpu) -> None:
        """Keep a copy of ``gpu`` before this batch first changes it (or note that the batch
        created it), so a batch that fails can be undone. Call before every change."""
        if gpu.uuid not in self.staged_gpus:
            self.staged_gpus[gpu.uuid] = _save_gpu(gpu) if gpu.persisted else None

    def stage_agent(self, agent: Agent) -> None:
        """``stage`` for an agent."""
        if agent.agent_id not in self.staged_agents:
            self.staged_agents[agent.agent_id] = copy.copy(agent) if agent.persisted else None

    def undo(self, state: FleetState) -> list[Gpu]:
        """Put the staged GPUs and agents back as they were (caller holds the lock).

        Returns the GPUs whose per-SM arrays are still to be reloaded from their database
        checkpoint: the batch does not copy them (see ``_save_gpu``).
        """
        restored = []
        for uuid, saved in self.staged_gpus.items():
            gpu = state.gpus.get(uuid)
            if gpu is None:
                continue
            if saved is None:
                state.remove(gpu)
            else:
                _restore_gpu(state, gpu, saved)
                restored.append(gpu)
        for agent_id, agent in self.staged_agents.items():
            if agent is None:
                state.agents.pop(agent_id, None)
            else:
                state.agents[agent_id] = agent
        return restored

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
        _dedup.store(conn, list(self.report_ids))

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


_GPU_SLOTS = tuple(f.name for f in fields(Gpu))
_gpu_slots = attrgetter(*_GPU_SLOTS)
_SavedGpu = tuple[
    tuple[Any, ...],
    float,
    float,
    float,
    WindowCounter | None,
    WindowCounter | None,
    dict[int, str] | None,
]


def _save_gpu(g: Gpu) -> _SavedGpu:
    """Every field of ``g``, with copies of what operations change in place, except the
    per-SM array.

    One batch saves thousands of GPUs, so this allocates as few tracked objects as it can
    (the cyclic collector's passes grow with them): empty windows and maps are not copied.
    Copying the 4 KiB per-SM arrays cost a fifth of the writer's time at 100,000 GPUs (cold
    memory), so an undone GPU gets its per-SM array back from its database checkpoint,
    as a restart would (it is checkpointed at every SM failure and every 5 minutes).
    """
    rel = g.rel
    return (
        _gpu_slots(g),
        rel.alpha,
        rel.beta,
        rel.updated_at,
        None if g.fail_window.empty else g.fail_window.copy(),
        None if g.anomaly_window.empty else g.anomaly_window.copy(),
        dict(g.sm_disabled) if g.sm_disabled else None,
    )


def _restore_gpu(state: FleetState, g: Gpu, saved: _SavedGpu) -> None:
    values, alpha, beta, updated, fail_window, anomaly_window, disabled = saved
    was = dict(zip(_GPU_SLOTS, values, strict=True))
    state.move(g, was["state"])
    identity = (was["hostname"], was["driver_version"], was["firmware_version"])
    if (g.hostname, g.driver_version, g.firmware_version) != identity:
        state.reidentify(g, *identity)
    old_score = g.score
    for name, value in was.items():
        setattr(g, name, value)
    g.rel = BetaReliability(alpha, beta, updated)
    window = g.fail_window.window_seconds
    g.fail_window = fail_window or WindowCounter(window)
    g.anomaly_window = anomaly_window or WindowCounter(window)
    g.sm_disabled = disabled or {}
    state.rescore(g, old_score)


def dumps(value: Any) -> str:
    """Compact JSON for list/dict columns."""
    return json.dumps(value, separators=(",", ":"))
