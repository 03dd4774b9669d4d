"""The LLM tables and every query on them; one implementation for SQLite and PostgreSQL.

``llm_anomalies`` holds what the detectors found (upserted by stable id, so a replay does
not double them); ``llm_windows`` the figures of every closed window (the charts);
``llm_baselines`` each (service, model) baseline's state as JSON (a restart resumes it).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Engine,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column

from sentinel.core.db import Base
from sentinel.llm.findings import Anomaly, WindowRecord
from sentinel.llm.types import AnomalyType, DetectionMethod, Severity


class AnomalyRow(Base):
    """One anomaly of one (service, model)."""

    __tablename__ = "llm_anomalies"

    anomaly_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    service: Mapped[str] = mapped_column(String(255))
    model: Mapped[str] = mapped_column(String(255))
    anomaly_type: Mapped[str] = mapped_column(String(32))
    method: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    score: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    metric: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)
    expected: Mapped[float] = mapped_column(Float)
    window_start_us: Mapped[int] = mapped_column(BigInteger)
    window_end_us: Mapped[int] = mapped_column(BigInteger)
    detected_us: Mapped[int] = mapped_column(BigInteger)
    created_us: Mapped[int] = mapped_column(BigInteger)
    updated_us: Mapped[int] = mapped_column(BigInteger)
    windows: Mapped[int] = mapped_column(Integer)
    gpu_uuid: Mapped[str] = mapped_column(String(64))
    evidence: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        Index("ix_llm_anomalies_start", "window_start_us"),
        Index("ix_llm_anomalies_key_start", "service", "model", "window_start_us"),
        Index("ix_llm_anomalies_type_start", "anomaly_type", "window_start_us"),
        Index("ix_llm_anomalies_gpu", "gpu_uuid"),
    )


class WindowRow(Base):
    """The figures of one closed window of one (service, model)."""

    __tablename__ = "llm_windows"

    service: Mapped[str] = mapped_column(String(255), primary_key=True)
    model: Mapped[str] = mapped_column(String(255), primary_key=True)
    start_us: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    figures: Mapped[str] = mapped_column(Text)


class BaselineRow(Base):
    """The persisted state of one (service, model) baseline."""

    __tablename__ = "llm_baselines"

    service: Mapped[str] = mapped_column(String(255), primary_key=True)
    model: Mapped[str] = mapped_column(String(255), primary_key=True)
    events: Mapped[int] = mapped_column(BigInteger)
    updated_us: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(Text)


_A = cast(Table, AnomalyRow.__table__)
_W = cast(Table, WindowRow.__table__)
_B = cast(Table, BaselineRow.__table__)


def _us(seconds: float) -> int:
    return int(round(seconds * 1_000_000))


def _json(value: Any) -> str:
    # Python's JSON keeps NaN (a window without events has no percentile) and reads it back.
    return json.dumps(value, separators=(",", ":"))


def _row(a: Anomaly, now: int) -> dict[str, Any]:
    return {
        "anomaly_id": a.anomaly_id,
        "service": a.service,
        "model": a.model,
        "anomaly_type": a.type.value,
        "method": a.method.value,
        "severity": a.severity.value,
        "score": a.score,
        "threshold": a.threshold,
        "metric": a.metric,
        "value": a.value,
        "expected": a.expected,
        "window_start_us": _us(a.window_start),
        "window_end_us": _us(a.window_end),
        "detected_us": _us(a.detected_at),
        "created_us": now,
        "updated_us": now,
        "windows": a.windows,
        "gpu_uuid": a.gpu_uuid,
        "evidence": _json(a.evidence),
    }


def _anomaly(r: Any) -> Anomaly:
    return Anomaly(
        anomaly_id=r.anomaly_id,
        service=r.service,
        model=r.model,
        type=AnomalyType(r.anomaly_type),
        method=DetectionMethod(r.method),
        severity=Severity(r.severity),
        score=r.score,
        threshold=r.threshold,
        metric=r.metric,
        value=r.value,
        expected=r.expected,
        window_start=r.window_start_us / 1e6,
        window_end=r.window_end_us / 1e6,
        detected_at=r.detected_us / 1e6,
        evidence=json.loads(r.evidence),
        gpu_uuid=r.gpu_uuid,
        windows=r.windows,
    )


class LlmStore:
    """Reads and writes the LLM tables of ``db``."""

    def __init__(self, db: Engine) -> None:
        self.db = db

    def save(
        self,
        anomalies: Sequence[Anomaly],
        windows: Sequence[WindowRecord],
        baselines: Sequence[tuple[str, str, dict[str, Any], int]] = (),
    ) -> None:
        """Upsert anomalies, insert window figures and replace baselines, in one transaction."""
        if not (anomalies or windows or baselines):
            return
        now = _us(time.time())
        with self.db.begin() as conn:
            if anomalies:
                ids = [a.anomaly_id for a in anomalies]
                created = dict(
                    conn.execute(
                        select(_A.c.anomaly_id, _A.c.created_us).where(_A.c.anomaly_id.in_(ids))
                    ).all()
                )
                conn.execute(delete(_A).where(_A.c.anomaly_id.in_(ids)))
                rows = [_row(a, now) for a in anomalies]
                for r in rows:
                    r["created_us"] = created.get(r["anomaly_id"], now)
                conn.execute(insert(_A), rows)
            if windows:
                keys = {(w.service, w.model, _us(w.start)) for w in windows}
                for service, model, start in keys:
                    conn.execute(
                        delete(_W).where(
                            _W.c.service == service, _W.c.model == model, _W.c.start_us == start
                        )
                    )
                conn.execute(
                    insert(_W),
                    [
                        {
                            "service": w.service,
                            "model": w.model,
                            "start_us": _us(w.start),
                            "figures": _json(w.metrics),
                        }
                        for w in {(w.service, w.model, _us(w.start)): w for w in windows}.values()
                    ],
                )
            for service, model, state, events in baselines:
                conn.execute(delete(_B).where(_B.c.service == service, _B.c.model == model))
                conn.execute(
                    insert(_B).values(
                        service=service,
                        model=model,
                        events=events,
                        updated_us=now,
                        state=_json(state),
                    )
                )

    def load_baseline(self, service: str, model: str) -> dict[str, Any] | None:
        with self.db.connect() as conn:
            raw = conn.execute(
                select(_B.c.state).where(_B.c.service == service, _B.c.model == model)
            ).scalar_one_or_none()
        return None if raw is None else json.loads(raw)

    def baselines(self) -> list[dict[str, Any]]:
        """Every persisted baseline: key, events seen, last update."""
        with self.db.connect() as conn:
            rows = conn.execute(
                select(_B.c.service, _B.c.model, _B.c.events, _B.c.updated_us).order_by(
                    _B.c.service, _B.c.model
                )
            ).all()
        return [
            {
                "service": r.service,
                "model": r.model,
                "events": r.events,
                "updated": datetime.fromtimestamp(r.updated_us / 1e6, tz=timezone.utc),
            }
            for r in rows
        ]

    def search(
        self,
        *,
        service: str = "",
        model: str = "",
        anomaly_type: str = "",
        severity: str = "",
        gpu_uuid: str = "",
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[Anomaly], int]:
        """Anomalies newest first (by window start), filtered; and how many match."""
        where = []
        if service:
            where.append(_A.c.service == service)
        if model:
            where.append(_A.c.model == model)
        if anomaly_type:
            where.append(_A.c.anomaly_type == anomaly_type)
        if severity:
            where.append(_A.c.severity == severity)
        if gpu_uuid:
            where.append(_A.c.gpu_uuid == gpu_uuid)
        with self.db.connect() as conn:
            total = conn.execute(select(func.count()).select_from(_A).where(*where)).scalar_one()
            rows = conn.execute(
                select(_A)
                .where(*where)
                .order_by(_A.c.window_start_us.desc(), _A.c.anomaly_id)
                .limit(limit)
                .offset(offset)
            ).all()
        return [_anomaly(r) for r in rows], int(total)

    def get(self, anomaly_id: str) -> Anomaly | None:
        with self.db.connect() as conn:
            r = conn.execute(select(_A).where(_A.c.anomaly_id == anomaly_id)).one_or_none()
        return None if r is None else _anomaly(r)

    def counts(self) -> dict[str, int]:
        """Anomalies per type."""
        with self.db.connect() as conn:
            rows = conn.execute(
                select(_A.c.anomaly_type, func.count()).group_by(_A.c.anomaly_type)
            ).all()
        return {t: int(n) for t, n in rows}

    def windows(
        self, service: str, model: str, start: float, end: float
    ) -> list[tuple[datetime, dict[str, float | None]]]:
        """Figures of the windows of ``[start, end)`` (Unix seconds), oldest first."""
        with self.db.connect() as conn:
            rows = conn.execute(
                select(_W.c.start_us, _W.c.figures)
                .where(
                    _W.c.service == service,
                    _W.c.model == model,
                    _W.c.start_us >= _us(start),
                    _W.c.start_us < _us(end),
                )
                .order_by(_W.c.start_us)
            ).all()
        return [
            (datetime.fromtimestamp(r.start_us / 1e6, tz=timezone.utc), json.loads(r.figures))
            for r in rows
        ]
