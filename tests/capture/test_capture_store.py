"""The capture store on SQLite and PostgreSQL: batches, counts per endpoint and hour,
keeping the newest events per issue, and the migration."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from sentinel.capture.store import HOUR_US, CaptureStore, Incoming
from sentinel.core.db import make_engine, migrate

TRACE = 'Traceback (most recent call last):\n  File "/app/shop/api.py", line 3, in {fn}\nE: x\n'


@pytest.fixture
def db(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    migrate(engine)
    yield engine
    engine.dispose()


def incoming(fn: str = "get", endpoint: str = "/a", at_us: int | None = None) -> Incoming:
    now = at_us or time.time_ns() // 1000
    return Incoming(
        github_repo="acme/shop",
        exception_type="KeyError",
        message="bob@example.com",
        trace=TRACE.format(fn=fn),
        endpoint=endpoint,
        language="python",
        occurred_us=now,
        received_us=now,
        reporter="k",
    )


def test_a_batch_groups_counts_and_scrubs(db: Engine) -> None:
    store = CaptureStore(db)
    now = time.time_ns() // 1000
    batch = [
        incoming("get", "/a", now - 2 * HOUR_US),
        incoming("get", "/b", now),
        incoming("get", "/a", now),
        incoming("put", "/a", now),
    ]
    stored = store.write(batch)
    assert len({s.issue_id for s in stored}) == 2 and not any(s.regression for s in stored)
    get_issue = stored[0].issue_id
    assert store.endpoints(get_issue)[0][:2] == ("/a", 2)
    assert store.hourly([get_issue], 3, now)[get_issue] == [1, 0, 2]
    issue = store.issue(get_issue)
    assert issue is not None and (issue.event_count, issue.title) == (3, "[EMAIL]")
    with db.connect() as conn:
        messages = conn.execute(text("SELECT error_message FROM capture_events")).scalars().all()
    assert set(messages) == {"[EMAIL]"}
    assert store.counts() == {"open": 2, "resolved": 0, "ignored": 0, "events": 4}
    assert store.repos() == [("acme/shop", 2, 4)]


def test_only_the_newest_events_are_kept_but_every_one_is_counted(db: Engine) -> None:
    store = CaptureStore(db, events_per_issue=150)
    start = time.time_ns() // 1000
    for n in range(3):
        store.write([incoming(at_us=start + n * 1000 + i) for i in range(100)])
    (issue,), _ = store.issues()
    assert issue.event_count == 300
    kept = store.events(issue.issue_id, limit=500)
    assert len(kept) == 150 and kept[-1].received.timestamp() * 1e6 >= start + 1000
    assert sum(store.hourly([issue.issue_id], 2, start)[issue.issue_id]) == 300
