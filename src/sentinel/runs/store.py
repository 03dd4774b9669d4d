"""The runs tables and every query on them; one implementation for SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
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
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column

from sentinel.core.db import Base

RUNNING = "running"
STATUSES = (RUNNING, "finished", "failed")


class RunRow(Base):
    """One tracked run: who registered it, what it ran on, how it ended and its statistics."""

    __tablename__ = "runs_runs"

    run_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    project_name: Mapped[str] = mapped_column(String(255))
    job_name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    created_us: Mapped[int] = mapped_column(BigInteger)
    finished_us: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    run_metadata: Mapped[str] = mapped_column("metadata", Text)
    upload_uri_prefix: Mapped[str] = mapped_column(String(512))
    upload_secret_hash: Mapped[str] = mapped_column(String(64))
    upload_expires_us: Mapped[int] = mapped_column(BigInteger)
    data_source: Mapped[str] = mapped_column(String(16))
    data_uris: Mapped[str] = mapped_column(Text)
    statistics: Mapped[str | None] = mapped_column(Text, nullable=True)
    measured_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    """How long the run's data covers (its statistics' duration); set at finish."""

    __table_args__ = (
        Index("ix_runs_runs_created", "created_us"),
        Index("ix_runs_runs_project_created", "project_name", "created_us"),
        Index("ix_runs_runs_status_created", "status", "created_us"),
        Index("ix_runs_runs_owner_created", "owner", "created_us"),
    )


class RunGpuRow(Base):
    """A GPU a run named (``host_gpu_uuids``), so a GPU's page can list its runs."""

    __tablename__ = "runs_gpus"

    gpu_uuid: Mapped[str] = mapped_column(String(64), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    created_us: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_runs_gpus_gpu_created", "gpu_uuid", "created_us"),)


_RUNS = cast(Table, RunRow.__table__)
_GPUS = cast(Table, RunGpuRow.__table__)
_LIGHT = [
    _RUNS.c[name]
    for name in (
        "run_id",
        "owner",
        "project_name",
        "job_name",
        "status",
        "created_us",
        "finished_us",
        "exit_code",
        "measured_s",
    )
]


def _dt(us: int | None) -> datetime | None:
    return None if us is None else datetime.fromtimestamp(us / 1e6, tz=timezone.utc)


@dataclass(frozen=True)
class RunSummary:
    """A run as lists show it."""

    run_id: str
    owner: str
    project_name: str
    job_name: str
    status: str
    created_us: int
    finished_us: int | None
    exit_code: int | None
    measured_s: float | None = None

    @property
    def started(self) -> datetime | None:
        return _dt(self.created_us)

    @property
    def finished(self) -> datetime | None:
        return _dt(self.finished_us)

    @property
    def duration_s(self) -> float | None:
        """How long the run ran: what its data covers, else the wall time from registration
        to finish (a run finished without data); ``None`` while running."""
        if self.finished_us is None:
            return None
        if self.measured_s is not None:
            return self.measured_s
        return (self.finished_us - self.created_us) / 1e6

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "owner": self.owner,
            "project_name": self.project_name,
            "job_name": self.job_name,
            "status": self.status,
            "started_at": _iso(self.created_us),
            "finished_at": _iso(self.finished_us),
            "exit_code": self.exit_code,
            "duration_s": self.duration_s,
        }


@dataclass(frozen=True)
class Run(RunSummary):
    """A run with everything stored about it."""

    metadata: dict[str, Any] = field(default_factory=dict)
    upload_uri_prefix: str = ""
    upload_secret_hash: str = ""
    upload_expires_us: int = 0
    data_source: str = ""
    data_uris: list[str] = field(default_factory=list)
    statistics: dict[str, Any] | None = None

    @property
    def gpu_uuids(self) -> list[str]:
        return list(self.metadata.get("host_gpu_uuids") or [])

    def to_json(self) -> dict[str, Any]:
        return {
            **super().to_json(),
            "metadata": self.metadata,
            "upload_uri_prefix": self.upload_uri_prefix,
            "data_source": self.data_source,
            "data_uris": self.data_uris,
            "statistics": self.statistics,
        }


def _iso(us: int | None) -> str | None:
    d = _dt(us)
    return None if d is None else d.isoformat().replace("+00:00", "Z")


class RunStore:
    """Runs in ``runs_runs`` and the GPUs they used in ``runs_gpus``.

    Args:
        db: Engine of a migrated database.
    """

    def __init__(self, db: Engine) -> None:
        self._db = db

    def create(
        self,
        run_id: str,
        owner: str,
        metadata: dict[str, Any],
        upload_uri_prefix: str,
        upload_secret_hash: str,
        upload_expires_us: int,
        created_us: int,
    ) -> None:
        """Insert a new running run and the GPUs its metadata names, in one transaction."""
        with self._db.begin() as conn:
            conn.execute(
                insert(_RUNS),
                {
                    "run_id": run_id,
                    "owner": owner,
                    "project_name": str(metadata.get("project_name", "")),
                    "job_name": str(metadata.get("job_name", "")),
                    "status": RUNNING,
                    "created_us": created_us,
                    "finished_us": None,
                    "exit_code": None,
                    "metadata": json.dumps(metadata, separators=(",", ":")),
                    "upload_uri_prefix": upload_uri_prefix,
                    "upload_secret_hash": upload_secret_hash,
                    "upload_expires_us": upload_expires_us,
                    "data_source": "",
                    "data_uris": "[]",
                    "statistics": None,
                },
            )
            gpus = metadata.get("host_gpu_uuids") or []
            if gpus:
                conn.execute(
                    insert(_GPUS),
                    [{"gpu_uuid": u, "run_id": run_id, "created_us": created_us} for u in gpus],
                )

    def get(self, run_id: str) -> Run | None:
        """The run, or ``None`` when there is none of that id."""
        with self._db.connect() as conn:
            row = conn.execute(select(_RUNS).where(_RUNS.c.run_id == run_id)).mappings().first()
        if row is None:
            return None
        return Run(
            **{c.name: row[c.name] for c in _LIGHT},
            metadata=json.loads(row["metadata"]),
            upload_uri_prefix=row["upload_uri_prefix"],
            upload_secret_hash=row["upload_secret_hash"],
            upload_expires_us=row["upload_expires_us"],
            data_source=row["data_source"],
            data_uris=json.loads(row["data_uris"]),
            statistics=json.loads(row["statistics"]) if row["statistics"] else None,
        )

    def renew_upload(self, run_id: str, secret_hash: str, expires_us: int) -> bool:
        """Record new upload credentials of a running run; False once it finished."""
        with self._db.begin() as conn:
            done = conn.execute(
                update(_RUNS)
                .where(_RUNS.c.run_id == run_id, _RUNS.c.status == RUNNING)
                .values(upload_secret_hash=secret_hash, upload_expires_us=expires_us)
            )
        return bool(done.rowcount)

    def finish(
        self,
        run_id: str,
        *,
        status: str,
        exit_code: int,
        data_source: str,
        data_uris: Sequence[str],
        statistics: dict[str, Any],
        finished_us: int,
    ) -> bool:
        """Mark a running run finished with its statistics; False when it already was."""
        with self._db.begin() as conn:
            done = conn.execute(
                update(_RUNS)
                .where(_RUNS.c.run_id == run_id, _RUNS.c.status == RUNNING)
                .values(
                    status=status,
                    exit_code=exit_code,
                    finished_us=finished_us,
                    data_source=data_source,
                    data_uris=json.dumps(list(data_uris)),
                    statistics=json.dumps(statistics, separators=(",", ":")),
                    measured_s=statistics.get("duration_s"),
                    upload_secret_hash="",
                    upload_expires_us=0,
                )
            )
        return bool(done.rowcount)

    def search(
        self,
        *,
        owner: str | None = None,
        project: str = "",
        status: str = "",
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[RunSummary], int]:
        """Runs newest first, filtered, one page of them and how many match in all."""
        where = []
        if owner is not None:
            where.append(_RUNS.c.owner == owner)
        if project:
            where.append(_RUNS.c.project_name == project)
        if status:
            where.append(_RUNS.c.status == status)
        with self._db.connect() as conn:
            rows = conn.execute(
                select(*_LIGHT)
                .where(*where)
                .order_by(_RUNS.c.created_us.desc(), _RUNS.c.run_id.desc())
                .limit(limit)
                .offset(offset)
            ).mappings()
            page = [RunSummary(**r) for r in rows]
            total = conn.execute(select(func.count()).select_from(_RUNS).where(*where)).scalar()
        return page, int(total or 0)

    def projects(self, limit: int = 500) -> list[str]:
        """Project names that have runs, alphabetically (for the list's filter)."""
        with self._db.connect() as conn:
            rows = conn.execute(
                select(_RUNS.c.project_name)
                .where(_RUNS.c.project_name != "")
                .group_by(_RUNS.c.project_name)
                .order_by(_RUNS.c.project_name)
                .limit(limit)
            )
            return [r[0] for r in rows]

    def counts(self) -> dict[str, int]:
        """How many runs there are in each status."""
        with self._db.connect() as conn:
            rows = conn.execute(select(_RUNS.c.status, func.count()).group_by(_RUNS.c.status))
            found = {r[0]: int(r[1]) for r in rows}
        return {s: found.get(s, 0) for s in STATUSES}

    def for_gpu(self, gpu_uuid: str, limit: int = 20) -> list[RunSummary]:
        """The newest runs that named ``gpu_uuid``."""
        with self._db.connect() as conn:
            rows = conn.execute(
                select(*_LIGHT)
                .join(_GPUS, _GPUS.c.run_id == _RUNS.c.run_id)
                .where(_GPUS.c.gpu_uuid == gpu_uuid)
                .order_by(_GPUS.c.created_us.desc())
                .limit(limit)
            ).mappings()
            return [RunSummary(**r) for r in rows]
