"""The capture tables and every query on them; one implementation for SQLite and PostgreSQL.

Events are written in batches (one transaction each, by the gateway's writer thread): a
batch scrubs every event a second time, finds or creates each event's issue by
fingerprint, reopens resolved issues that recur (a regression), and adds to the per-endpoint
and hourly counts with ``INSERT ... ON CONFLICT``, which both databases speak alike.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from sentinel.capture import grouping
from sentinel.capture.scrubber import scrub
from sentinel.core.db import Base, bulk_insert
from sentinel.core.ids import uuid7

OPEN, RESOLVED, IGNORED = "open", "resolved", "ignored"
STATUSES = (OPEN, RESOLVED, IGNORED)
HOUR_US = 3_600_000_000
_TITLE_CHARS = 200


class IssueRow(Base):
    """One bug: the events of one repository with one fingerprint."""

    __tablename__ = "capture_issues"

    issue_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    github_repo: Mapped[str] = mapped_column(String(160))
    fingerprint: Mapped[str] = mapped_column(String(64))
    exception_type: Mapped[str] = mapped_column(String(512))
    title: Mapped[str] = mapped_column(Text)
    culprit: Mapped[str] = mapped_column(String(1024))
    language: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    first_seen_us: Mapped[int] = mapped_column(BigInteger)
    last_seen_us: Mapped[int] = mapped_column(BigInteger)
    event_count: Mapped[int] = mapped_column(BigInteger)
    status_changed_us: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    status_changed_by: Mapped[str] = mapped_column(String(128))
    regressions: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        UniqueConstraint(
            "github_repo", "fingerprint", name="uq_capture_issues_github_repo_fingerprint"
        ),
        Index("ix_capture_issues_last_seen", "last_seen_us"),
        Index("ix_capture_issues_status_last_seen", "status", "last_seen_us"),
    )


class EventRow(Base):
    """One reported exception, scrubbed."""

    __tablename__ = "capture_events"

    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    issue_id: Mapped[str] = mapped_column(String(36))
    received_us: Mapped[int] = mapped_column(BigInteger)
    occurred_us: Mapped[int] = mapped_column(BigInteger)
    endpoint: Mapped[str] = mapped_column(String(512))
    error_message: Mapped[str] = mapped_column(Text)
    stack_trace: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(32))
    reporter: Mapped[str] = mapped_column(String(128))

    __table_args__ = (Index("ix_capture_events_issue_received", "issue_id", "received_us"),)


class EndpointRow(Base):
    """How often an issue happened at one endpoint (route template)."""

    __tablename__ = "capture_endpoints"

    issue_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(512), primary_key=True)
    event_count: Mapped[int] = mapped_column(BigInteger)
    last_seen_us: Mapped[int] = mapped_column(BigInteger)


class HourlyRow(Base):
    """Events of an issue per hour (``hour`` = microseconds since the epoch // 1 h)."""

    __tablename__ = "capture_hourly"

    issue_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    event_count: Mapped[int] = mapped_column(BigInteger)


_ISSUES = cast(Table, IssueRow.__table__)
_EVENTS = cast(Table, EventRow.__table__)
_ENDPOINTS = cast(Table, EndpointRow.__table__)
_HOURLY = cast(Table, HourlyRow.__table__)


class IssueNotFound(LookupError):
    """No issue (or event) has the id asked for."""


@dataclass(frozen=True)
class Incoming:
    """An accepted event on its way to the database (checked, not yet scrubbed again)."""

    github_repo: str
    exception_type: str
    message: str
    trace: str
    endpoint: str
    language: str
    occurred_us: int
    received_us: int
    reporter: str


@dataclass(frozen=True)
class Stored:
    """Where an event went."""

    event_id: str
    issue_id: str
    regression: bool


@dataclass(frozen=True)
class Issue:
    """An issue as the API and the pages show it."""

    issue_id: str
    github_repo: str
    exception_type: str
    title: str
    culprit: str
    language: str
    status: str
    first_seen: datetime
    last_seen: datetime
    event_count: int
    regressions: int
    status_changed: datetime | None
    status_changed_by: str

    def json(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "status_changed": self.status_changed.isoformat() if self.status_changed else None,
        }


@dataclass(frozen=True)
class Event:
    """One stored event."""

    event_id: str
    issue_id: str
    received: datetime
    occurred: datetime
    endpoint: str
    error_message: str
    stack_trace: str
    language: str
    reporter: str

    def json(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "received": self.received.isoformat(),
            "occurred": self.occurred.isoformat(),
        }


def _time(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1e6, timezone.utc)


def _issue(r: Any) -> Issue:
    return Issue(
        issue_id=r.issue_id,
        github_repo=r.github_repo,
        exception_type=r.exception_type,
        title=r.title,
        culprit=r.culprit,
        language=r.language,
        status=r.status,
        first_seen=_time(r.first_seen_us),
        last_seen=_time(r.last_seen_us),
        event_count=int(r.event_count),
        regressions=int(r.regressions),
        status_changed=_time(r.status_changed_us) if r.status_changed_us else None,
        status_changed_by=r.status_changed_by,
    )


def _event(r: Any) -> Event:
    return Event(
        event_id=r.event_id,
        issue_id=r.issue_id,
        received=_time(r.received_us),
        occurred=_time(r.occurred_us),
        endpoint=r.endpoint,
        error_message=r.error_message,
        stack_trace=r.stack_trace,
        language=r.language,
        reporter=r.reporter,
    )


def _clean(text: str) -> str:
    """``text`` storable in both databases (PostgreSQL refuses NUL; lone surrogates
    cannot be encoded), scrubbed."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    text = text.encode("utf-8", "replace").decode("utf-8")
    return scrub(text)


@dataclass
class _Prepared:
    incoming: Incoming
    event_id: str
    message: str
    trace: str
    endpoint: str
    fingerprint: str
    culprit: str
    title: str


def _prepare(e: Incoming) -> _Prepared:
    message = _clean(e.message)
    trace = _clean(e.trace)
    endpoint = _clean(e.endpoint)[:512]
    frames = grouping.parse_frames(trace)
    title = message.strip().split("\n", 1)[0][:_TITLE_CHARS] or e.exception_type
    return _Prepared(
        incoming=e,
        event_id=uuid7(),
        message=message,
        trace=trace,
        endpoint=endpoint,
        fingerprint=grouping.fingerprint(e.github_repo, e.exception_type, message, frames),
        culprit=grouping.culprit(frames)[:1024],
        title=title,
    )


class CaptureStore:
    """Issues, events and their counts in the server's database.

    Args:
        db: Engine of a migrated database.
        events_per_issue: Newest events kept per issue.
    """

    def __init__(self, db: Engine, events_per_issue: int = 1000) -> None:
        self._db = db
        self._keep = events_per_issue

    # -- writing --------------------------------------------------------------------------

    def write(self, batch: Sequence[Incoming]) -> list[Stored]:
        """Store ``batch`` in one transaction; returns where each event went, in order."""
        prepared = [_prepare(e) for e in batch]
        try:
            with self._db.begin() as conn:
                return self._write(conn, prepared)
        except IntegrityError:
            # Another server sharing the database created one of these issues meanwhile:
            # the second attempt finds it.
            with self._db.begin() as conn:
                return self._write(conn, prepared)

    def _write(self, conn: Connection, batch: list[_Prepared]) -> list[Stored]:
        keys = {(p.incoming.github_repo, p.fingerprint) for p in batch}
        found = conn.execute(
            select(
                _ISSUES.c.issue_id,
                _ISSUES.c.github_repo,
                _ISSUES.c.fingerprint,
                _ISSUES.c.status,
                _ISSUES.c.event_count,
            ).where(_ISSUES.c.fingerprint.in_(sorted({fp for _, fp in keys})))
        ).all()
        issues = {(r.github_repo, r.fingerprint): r for r in found}
        by_key: dict[tuple[str, str], list[_Prepared]] = defaultdict(list)
        for p in batch:
            by_key[(p.incoming.github_repo, p.fingerprint)].append(p)

        new_rows, updates, ids, regressed = [], [], {}, set()
        pruning = []
        for key, events in by_key.items():
            last = max(events, key=lambda p: p.incoming.received_us)
            first_us = min(p.incoming.received_us for p in events)
            row = issues.get(key)
            if row is None:
                issue_id = uuid7()
                new_rows.append(
                    (
                        issue_id,
                        key[0],
                        key[1],
                        last.incoming.exception_type[:512],
                        last.title,
                        last.culprit,
                        last.incoming.language[:32],
                        OPEN,
                        first_us,
                        last.incoming.received_us,
                        len(events),
                        None,
                        "",
                        0,
                    )
                )
            else:
                issue_id = row.issue_id
                reopen = row.status == RESOLVED
                if reopen:
                    regressed.add(issue_id)
                updates.append(
                    (
                        len(events),
                        last.incoming.received_us,
                        last.incoming.received_us,
                        last.incoming.received_us,
                        last.title,
                        last.culprit,
                        OPEN if reopen else row.status,
                        1 if reopen else 0,
                        issue_id,
                    )
                )
                before, after = int(row.event_count), int(row.event_count) + len(events)
                if after > self._keep and before // 100 != after // 100:
                    pruning.append(issue_id)
            ids[key] = issue_id

        bulk_insert(
            conn,
            "capture_issues",
            [c.name for c in _ISSUES.columns],
            new_rows,
        )
        if updates:
            m = _marker(conn)
            conn.exec_driver_sql(
                "UPDATE capture_issues SET "
                f"event_count = event_count + {m}, "
                f"last_seen_us = CASE WHEN last_seen_us > {m} THEN last_seen_us ELSE {m} END, "
                f"title = CASE WHEN last_seen_us > {m} THEN title ELSE {m} END, "
                f"culprit = {m}, status = {m}, regressions = regressions + {m} "
                f"WHERE issue_id = {m}",
                [(u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8]) for u in updates],  # type: ignore[arg-type]
            )
            if regressed:
                conn.execute(
                    update(_ISSUES)
                    .where(_ISSUES.c.issue_id.in_(sorted(regressed)))
                    .values(
                        status_changed_us=max(u[1] for u in updates),
                        status_changed_by="regression",
                    )
                )
        bulk_insert(
            conn,
            "capture_events",
            [c.name for c in _EVENTS.columns],
            [
                (
                    p.event_id,
                    ids[(p.incoming.github_repo, p.fingerprint)],
                    p.incoming.received_us,
                    p.incoming.occurred_us,
                    p.endpoint,
                    p.message,
                    p.trace,
                    p.incoming.language[:32],
                    p.incoming.reporter[:128],
                )
                for p in batch
            ],
        )
        self._add_counts(conn, batch, ids)
        for issue_id in pruning:
            self._prune(conn, issue_id)
        return [
            Stored(p.event_id, ids[k], ids[k] in regressed)
            for p in batch
            for k in [(p.incoming.github_repo, p.fingerprint)]
        ]

    def _add_counts(
        self, conn: Connection, batch: list[_Prepared], ids: dict[tuple[str, str], str]
    ) -> None:
        endpoints: dict[tuple[str, str], list[int]] = {}
        hours: dict[tuple[str, int], int] = defaultdict(int)
        for p in batch:
            issue_id = ids[(p.incoming.github_repo, p.fingerprint)]
            at = p.incoming.received_us
            seen = endpoints.setdefault((issue_id, p.endpoint), [0, at])
            seen[0] += 1
            seen[1] = max(seen[1], at)
            hours[(issue_id, at // HOUR_US)] += 1
        m = _marker(conn)
        conn.exec_driver_sql(
            "INSERT INTO capture_endpoints (issue_id, endpoint, event_count, last_seen_us) "
            f"VALUES ({m}, {m}, {m}, {m}) ON CONFLICT (issue_id, endpoint) DO UPDATE SET "
            "event_count = capture_endpoints.event_count + excluded.event_count, "
            "last_seen_us = CASE WHEN capture_endpoints.last_seen_us > excluded.last_seen_us "
            "THEN capture_endpoints.last_seen_us ELSE excluded.last_seen_us END",
            [(i, e, n, at) for (i, e), (n, at) in sorted(endpoints.items())],  # type: ignore[arg-type]
        )
        conn.exec_driver_sql(
            "INSERT INTO capture_hourly (issue_id, hour, event_count) "
            f"VALUES ({m}, {m}, {m}) ON CONFLICT (issue_id, hour) DO UPDATE SET "
            "event_count = capture_hourly.event_count + excluded.event_count",
            [(i, h, n) for (i, h), n in sorted(hours.items())],  # type: ignore[arg-type]
        )

    def _prune(self, conn: Connection, issue_id: str) -> None:
        """Delete all but the newest ``events_per_issue`` events of ``issue_id``."""
        cutoff = conn.execute(
            select(_EVENTS.c.received_us)
            .where(_EVENTS.c.issue_id == issue_id)
            .order_by(_EVENTS.c.received_us.desc())
            .offset(self._keep - 1)
            .limit(1)
        ).scalar()
        if cutoff is not None:
            conn.execute(
                _EVENTS.delete().where(
                    _EVENTS.c.issue_id == issue_id, _EVENTS.c.received_us < cutoff
                )
            )

    def set_status(self, issue_id: str, status: str, by: str) -> Issue:
        """Resolve, ignore or reopen an issue, recording who did it.

        Raises:
            ValueError: ``status`` is not one of ``STATUSES``.
            IssueNotFound: No issue has that id.
        """
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}; got {status!r}")
        now = datetime.now(timezone.utc).timestamp()
        with self._db.begin() as conn:
            done = conn.execute(
                update(_ISSUES)
                .where(_ISSUES.c.issue_id == issue_id)
                .values(status=status, status_changed_us=int(now * 1e6), status_changed_by=by)
            )
            if done.rowcount == 0:
                raise IssueNotFound(f"no issue has id {issue_id!r}")
        found = self.issue(issue_id)
        assert found is not None
        return found

    # -- reading --------------------------------------------------------------------------

    def issues(
        self,
        *,
        status: str = "",
        repo: str = "",
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[Issue], int]:
        """Issues, most recently seen first, filtered by status and repository; and how
        many match."""
        where = []
        if status:
            where.append(_ISSUES.c.status == status)
        if repo:
            where.append(func.lower(_ISSUES.c.github_repo) == repo.lower())
        with self._db.connect() as conn:
            rows = conn.execute(
                select(_ISSUES)
                .where(*where)
                .order_by(_ISSUES.c.last_seen_us.desc(), _ISSUES.c.issue_id)
                .limit(limit)
                .offset(offset)
            ).all()
            total = conn.execute(select(func.count()).select_from(_ISSUES).where(*where)).scalar()
        return [_issue(r) for r in rows], int(total or 0)

    def issue(self, issue_id: str) -> Issue | None:
        with self._db.connect() as conn:
            row = conn.execute(select(_ISSUES).where(_ISSUES.c.issue_id == issue_id)).first()
        return None if row is None else _issue(row)

    def events(self, issue_id: str, *, limit: int = 50, offset: int = 0) -> list[Event]:
        """An issue's stored events, newest first."""
        with self._db.connect() as conn:
            rows = conn.execute(
                select(_EVENTS)
                .where(_EVENTS.c.issue_id == issue_id)
                .order_by(_EVENTS.c.received_us.desc(), _EVENTS.c.event_id.desc())
                .limit(limit)
                .offset(offset)
            ).all()
        return [_event(r) for r in rows]

    def event(self, event_id: str) -> Event | None:
        with self._db.connect() as conn:
            row = conn.execute(select(_EVENTS).where(_EVENTS.c.event_id == event_id)).first()
        return None if row is None else _event(row)

    def endpoints(self, issue_id: str) -> list[tuple[str, int, datetime]]:
        """``(endpoint, events, last seen)`` of an issue, most frequent first."""
        with self._db.connect() as conn:
            rows = conn.execute(
                select(_ENDPOINTS)
                .where(_ENDPOINTS.c.issue_id == issue_id)
                .order_by(_ENDPOINTS.c.event_count.desc(), _ENDPOINTS.c.endpoint)
            ).all()
        return [(r.endpoint, int(r.event_count), _time(r.last_seen_us)) for r in rows]

    def hourly(self, issue_ids: Sequence[str], hours: int, now_us: int) -> dict[str, list[int]]:
        """Events per hour of each issue over the last ``hours`` hours, oldest first."""
        last = now_us // HOUR_US
        first = last - hours + 1
        out = {i: [0] * hours for i in issue_ids}
        if not issue_ids:
            return out
        with self._db.connect() as conn:
            rows = conn.execute(
                select(_HOURLY).where(
                    _HOURLY.c.issue_id.in_(list(issue_ids)), _HOURLY.c.hour >= first
                )
            ).all()
        for r in rows:
            if r.hour <= last:
                out[r.issue_id][int(r.hour - first)] += int(r.event_count)
        return out

    def repos(self) -> list[tuple[str, int, int]]:
        """``(repository, issues, events)`` for every repository that reported."""
        with self._db.connect() as conn:
            rows = conn.execute(
                select(
                    _ISSUES.c.github_repo,
                    func.count(),
                    func.coalesce(func.sum(_ISSUES.c.event_count), 0),
                )
                .group_by(_ISSUES.c.github_repo)
                .order_by(_ISSUES.c.github_repo)
            ).all()
        return [(r[0], int(r[1]), int(r[2])) for r in rows]

    def counts(self) -> dict[str, int]:
        """Issues per status, and events in all."""
        with self._db.connect() as conn:
            rows = conn.execute(
                select(
                    _ISSUES.c.status,
                    func.count(),
                    func.coalesce(func.sum(_ISSUES.c.event_count), 0),
                ).group_by(_ISSUES.c.status)
            ).all()
        out = dict.fromkeys(STATUSES, 0)
        events = 0
        for status, n, e in rows:
            out[status] = int(n)
            events += int(e)
        return {**out, "events": events}


def _marker(conn: Connection) -> str:
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"
