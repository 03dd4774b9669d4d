"""The exception gateway's HTTP API: ingestion where the published SDK posts, and reading.

``POST /api/v1/exceptions`` takes the seed's JSON (camelCase fields) with a bearer key of
scope ``capture`` bound to the event's repository, and answers 202 once the event is
stored. Every refusal is JSON ``{"error": ...}`` and stores nothing: 400 a body that is
not JSON, 401 an unknown or revoked key, 403 a key of another scope or another
repository, 413 a body over the server's limit (answered before this code runs), 422 a
missing or malformed field (each one named), 429 a key over its rate or a full queue
(with ``Retry-After``), 503 the database away.

Reading is under ``/api/v1/capture``; changing an issue's status needs an operator.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import threading
import time
from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Request
from fastapi.responses import JSONResponse

from sentinel.capture.store import STATUSES, CaptureStore, Incoming
from sentinel.capture.writer import EventWriter, QueueFull
from sentinel.core.api import ErrorBody
from sentinel.core.auth import Authorizer, Refused

Authorization = Annotated[str | None, Header()]

FIELDS = (
    "exceptionType",
    "errorMessage",
    "stackTrace",
    "endpoint",
    "timestamp",
    "githubRepo",
    "language",
)
"""The seed's contract: every event carries all seven."""
_REPO = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}")
_LIMITS = {"exceptionType": 512, "endpoint": 512, "language": 32}
_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": list(FIELDS),
    "properties": {
        "exceptionType": {"type": "string", "minLength": 1, "maxLength": 512},
        "errorMessage": {"type": "string"},
        "stackTrace": {"type": "string"},
        "endpoint": {"type": "string", "maxLength": 512},
        "timestamp": {"type": "string", "format": "date-time"},
        "githubRepo": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+$"},
        "language": {"type": "string", "minLength": 1, "maxLength": 32},
    },
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 413, 422, 429, 503)
}


class IngestError(Exception):
    """A refused event: the status to answer and what was wrong."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse_event(body: bytes) -> dict[str, Any]:
    """The checked fields of an event body, with ``timestamp`` as a ``datetime``.

    Raises:
        IngestError: 400 not JSON; 422 naming every missing or malformed field.
    """
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise IngestError(400, f"the body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise IngestError(
            422, f"the body must be a JSON object with the fields {', '.join(FIELDS)}"
        )
    problems = []
    for name in FIELDS:
        value = data.get(name)
        if name not in data:
            problems.append(f"{name}: missing")
        elif not isinstance(value, str):
            problems.append(f"{name}: must be a string, got {type(value).__name__}")
        elif name in _LIMITS and len(value) > _LIMITS[name]:
            problems.append(f"{name}: at most {_LIMITS[name]} characters, got {len(value):,}")
        elif name in ("exceptionType", "language") and not value.strip():
            problems.append(f"{name}: must not be empty")
    repo = data.get("githubRepo")
    if isinstance(repo, str) and not _REPO.fullmatch(repo):
        problems.append(f"githubRepo: must be owner/repo as on GitHub, got {repo[:200]!r}")
    stamp = data.get("timestamp")
    if isinstance(stamp, str):
        try:
            # Python 3.10 reads "+00:00" but not the "Z" that JavaScript and Java write.
            when = datetime.fromisoformat(stamp[:-1] + "+00:00" if stamp.endswith("Z") else stamp)
        except ValueError:
            when = None
        if when is None or when.tzinfo is None:
            problems.append(
                "timestamp: must be ISO 8601 with a UTC offset "
                f"(2026-04-11T14:23:01.123456+00:00), got {stamp[:64]!r}"
            )
        else:
            data["timestamp"] = when
    if problems:
        raise IngestError(422, "; ".join(problems))
    return data


class RateLimiter:
    """A token bucket per key: ``rate`` events a second, ``burst`` at once; an event may
    cost more than one."""

    def __init__(self, rate: float, burst: int) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str, cost: float = 1.0) -> float:
        """Take ``cost`` from ``key``'s bucket: 0 if allowed, else seconds to wait."""
        now = time.monotonic()
        cost = min(cost, self._burst)  # a bucket never holds more than a burst
        with self._lock:
            tokens, at = self._buckets.get(key, (self._burst, now))
            tokens = min(self._burst, tokens + (now - at) * self._rate)
            if tokens >= cost:
                self._buckets[key] = (tokens - cost, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (cost - tokens) / self._rate


def _error(status: int, message: str, retry_after: float | None = None) -> JSONResponse:
    headers = {"Retry-After": str(max(1, math.ceil(retry_after)))} if retry_after else None
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def router(
    store: CaptureStore, writer: EventWriter, limiter: RateLimiter, authorizer: Authorizer
) -> APIRouter:
    """The gateway's routes over ``store`` (reads) and ``writer`` (ingestion)."""
    r = APIRouter(tags=["capture"], responses=_ERRORS)

    @r.post(
        "/api/v1/exceptions",
        status_code=202,
        openapi_extra={
            # Declared here rather than as parameters: the hot path then skips FastAPI's
            # parameter solving (about a fifth more events a second in the bench).
            "parameters": [{"name": "authorization", "in": "header", "schema": {"type": "string"}}],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _SCHEMA}},
            },
        },
    )
    async def report_exception(request: Request) -> Any:
        """Report one exception (the published SDK's contract); 202 once it is stored."""
        authorization = request.headers.get("authorization")
        try:
            who = authorizer.require_http_scope(authorization, "capture", "reporting an exception")
        except Refused as exc:
            return _error(exc.status, str(exc))
        body = await request.body()
        # Every started 64 KiB counts as an event: scrubbing costs by the byte.
        wait = limiter.take(who.name, 1 + len(body) // 65536)
        if wait:
            return _error(
                429,
                f"key {who.name!r} reports more than the gateway takes from one key "
                "(SENTINEL_CAPTURE_RATE_PER_SECOND); retry after the delay in Retry-After",
                wait,
            )
        try:
            event = parse_event(body)
        except IngestError as exc:
            return _error(exc.status, str(exc))
        repo = event["githubRepo"]
        if not who.reports_for(repo):
            bound = ", ".join(sorted(who.repos)) or "no repository"
            return _error(
                403,
                f"key {who.name!r} reports for {bound}, not {repo}: create a key for it with "
                f"`sentinel tokens create --scope capture --repo {repo}`",
            )
        incoming = Incoming(
            github_repo=repo,
            exception_type=event["exceptionType"].strip(),
            message=event["errorMessage"],
            trace=event["stackTrace"],
            endpoint=event["endpoint"],
            language=event["language"].strip(),
            occurred_us=int(event["timestamp"].timestamp() * 1e6),
            received_us=time.time_ns() // 1000,
            reporter=who.name,
        )
        try:
            stored = await asyncio.wrap_future(writer.submit(incoming))
        except QueueFull as exc:
            return _error(429, str(exc), 1.0)
        except Exception:
            return _error(503, "the event could not be stored: the database is unavailable")
        return JSONResponse(
            {"event_id": stored.event_id, "issue_id": stored.issue_id}, status_code=202
        )

    @r.get("/api/v1/capture/issues")
    def list_issues(
        status: Annotated[str, Query(description="open, resolved or ignored; empty: all")] = "",
        repo: Annotated[str, Query(description="owner/repo; empty: all")] = "",
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> Any:
        """Issues, most recently seen first."""
        if status and status not in STATUSES:
            return _error(400, f"status must be one of {', '.join(STATUSES)}; got {status!r}")
        issues, total = store.issues(status=status, repo=repo, limit=limit, offset=offset)
        return {"issues": [i.json() for i in issues], "total": total}

    @r.get("/api/v1/capture/issues/{issue_id}")
    def read_issue(issue_id: str) -> Any:
        """One issue with its endpoints and its events per hour over the last day."""
        issue = store.issue(issue_id)
        if issue is None:
            return _error(404, f"no issue has id {issue_id!r}")
        now_us = int(datetime.now(timezone.utc).timestamp() * 1e6)
        return {
            **issue.json(),
            "endpoints": [
                {"endpoint": e, "events": n, "last_seen": at.isoformat()}
                for e, n, at in store.endpoints(issue_id)
            ],
            "hourly": store.hourly([issue_id], 24, now_us)[issue_id],
        }

    @r.get("/api/v1/capture/issues/{issue_id}/events")
    def list_events(
        issue_id: str,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> Any:
        """An issue's events, newest first."""
        if store.issue(issue_id) is None:
            return _error(404, f"no issue has id {issue_id!r}")
        return {"events": [e.json() for e in store.events(issue_id, limit=limit, offset=offset)]}

    @r.get("/api/v1/capture/events/{event_id}")
    def read_event(event_id: str) -> Any:
        """One event: its scrubbed message and stack trace."""
        event = store.event(event_id)
        if event is None:
            return _error(404, f"no event has id {event_id!r}")
        return event.json()

    @r.post("/api/v1/capture/issues/{issue_id}/status")
    def set_status(
        issue_id: str,
        status: Annotated[str, Body(embed=True, description="open, resolved or ignored")],
        authorization: Authorization = None,
    ) -> Any:
        """Resolve, ignore or reopen an issue (operators); a resolved issue that recurs
        reopens by itself."""
        try:
            who = authorizer.require_http_operator(authorization, f"marking an issue {status}")
        except Refused as exc:
            return _error(exc.status, str(exc))
        if status not in STATUSES:
            return _error(422, f"status must be one of {', '.join(STATUSES)}; got {status!r}")
        if store.issue(issue_id) is None:
            return _error(404, f"no issue has id {issue_id!r}")
        return store.set_status(issue_id, status, who.name).json()

    return r
