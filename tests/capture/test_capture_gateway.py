"""The exception gateway on a real server, on SQLite and PostgreSQL: the seed's contract,
every refusal (nothing stored), the second scrub, grouping, resolve / ignore / regression."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from capture_helpers import REPO, events_of, issues
from sentinel_testing import OPERATOR_TOKEN, start_server

from sentinel.capture.settings import CaptureSettings

TRACE = """Traceback (most recent call last):
  File "/srv/shop/app/orders.py", line {line}, in get_order
    return ORDERS[order_id]
  File "/usr/lib/python3.11/collections/__init__.py", line 1121, in __getitem__
    raise KeyError(key)
KeyError: {order}
"""


def event(**changes: Any) -> dict[str, Any]:
    """A valid event as the published SDK sends it."""
    body = {
        "exceptionType": "KeyError",
        "errorMessage": "1001",
        "stackTrace": TRACE.format(line=12, order=1001),
        "endpoint": "/api/orders/{order_id}",
        "timestamp": datetime.now(timezone.utc).isoformat(),
        "githubRepo": REPO,
        "language": "python",
    }
    body.update(changes)
    return body


def post(server: Any, body: Any, key: str | None, **headers: str) -> httpx.Response:
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(
        server.http_url + "/api/v1/exceptions",
        content=content,
        headers={"Content-Type": "application/json", **headers},
    )


@pytest.fixture
def gw(db_server: Any) -> Any:
    """The server of ``db_server`` (SQLite, then PostgreSQL) with a key for acme/shop."""
    db_server.key = db_server.tokens.create("capture", name="shop-key", repos=[REPO])[1]
    return db_server


def stored_events(server: Any) -> int:
    return sum(i["event_count"] for i in issues(server))


def test_an_event_is_stored_and_grouped_by_type_and_in_app_frames(gw: Any) -> None:
    first = post(gw, event(), gw.key)
    assert first.status_code == 202, first.text
    # Another line, another id, another message value: the same bug.
    again = post(
        gw,
        event(errorMessage="2002", stackTrace=TRACE.format(line=40, order=2002)),
        gw.key,
    )
    other = post(gw, event(exceptionType="ValueError"), gw.key)
    assert again.json()["issue_id"] == first.json()["issue_id"] != other.json()["issue_id"]
    (key_error,) = issues(gw, repo=REPO.upper(), status="open")[1:]
    assert key_error["issue_id"] == first.json()["issue_id"]
    assert (key_error["event_count"], key_error["culprit"]) == (2, "app/orders.py in get_order")
    assert key_error["title"] == "2002"  # the newest event's
    detail = httpx.get(f"{gw.http_url}/api/v1/capture/issues/{key_error['issue_id']}").json()
    assert detail["endpoints"][0]["endpoint"] == "/api/orders/{order_id}"
    assert detail["endpoints"][0]["events"] == 2 and detail["hourly"][-1] == 2
    events = events_of(gw, key_error["issue_id"])
    assert [e["error_message"] for e in events] == ["2002", "1001"]
    one = httpx.get(f"{gw.http_url}/api/v1/capture/events/{events[1]['event_id']}").json()
    assert one["reporter"] == "shop-key" and "line 12" in one["stack_trace"]


def test_the_server_scrubs_what_a_client_did_not(gw: Any) -> None:
    leaky = event(
        errorMessage="card 4111-1111-1111-1111 of bob@example.com from 203.0.113.9",
        stackTrace=TRACE.format(line=3, order="'password=hunter2'")
        + "Authorization: Bearer ghp_"
        + "a1" * 18,
        endpoint="/api/users/alice@example.com",
    )
    assert post(gw, leaky, gw.key).status_code == 202
    (issue,) = issues(gw)
    (stored,) = events_of(gw, issue["issue_id"])
    everything = json.dumps([issue, stored])
    for secret in ("4111", "bob@example.com", "203.0.113.9", "hunter2", "ghp_", "alice@"):
        assert secret not in everything
    assert stored["error_message"] == "card [CREDIT_CARD] of [EMAIL] from [IP_ADDRESS]"
    assert "password=[REDACTED_SECRET]" in stored["stack_trace"]
    assert stored["endpoint"] == "/api/users/[EMAIL]"


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (b"{not json", 400, "the body is not JSON"),
        (b"\xff\xfe", 400, "the body is not JSON"),
        ([1, 2], 422, "must be a JSON object with the fields exceptionType"),
        (
            {"exceptionType": "E"},
            422,
            "errorMessage: missing; stackTrace: missing; endpoint: missing; timestamp: missing; "
            "githubRepo: missing; language: missing",
        ),
        (event(exceptionType=7), 422, "exceptionType: must be a string, got int"),
        (event(exceptionType=" "), 422, "exceptionType: must not be empty"),
        (event(timestamp="yesterday"), 422, "timestamp: must be ISO 8601 with a UTC offset"),
        (event(timestamp="2026-04-11T14:23:01"), 422, "timestamp: must be ISO 8601 with a UTC"),
        (event(githubRepo="acme"), 422, "githubRepo: must be owner/repo"),
        (event(endpoint="/x" * 300), 422, "endpoint: at most 512 characters"),
        (event(githubRepo="acme/other"), 403, "reports for acme/shop, not acme/other"),
    ],
)
def test_bad_events_are_refused_saying_why_and_nothing_is_stored(
    gw: Any, body: Any, status: int, says: str
) -> None:
    answer = post(gw, body, gw.key)
    assert answer.status_code == status, answer.text
    assert says in answer.json()["error"]
    assert issues(gw) == []


def test_java_and_javascript_timestamps_are_accepted(server: Any) -> None:
    answer = post(server, event(timestamp="2026-04-11T14:23:01.123Z"), server.key)
    assert answer.status_code == 202, answer.text
    stored = httpx.get(f"{server.http_url}/api/v1/capture/events/{answer.json()['event_id']}")
    assert stored.json()["occurred"] == "2026-04-11T14:23:01.123000+00:00"


def test_keys_are_checked_before_anything_else(gw: Any) -> None:
    runs_key = gw.tokens.create("runs")[1]
    revoked, revoked_key = gw.tokens.create("capture", repos=[REPO])
    gw.tokens.revoke(revoked.token_id)
    for key, status, says in [
        (None, 401, "requires a token of scope 'capture'"),
        ("snt_capture_" + "x" * 43, 401, "unknown token"),
        (revoked_key, 401, "was revoked"),
        (runs_key, 403, "an ingestion client (scope runs)"),
    ]:
        answer = post(gw, event(), key)
        assert answer.status_code == status, (key, answer.text)
        assert says in answer.json()["error"]
    # An operator may report for any repository.
    assert post(gw, event(githubRepo="acme/other"), OPERATOR_TOKEN).status_code == 202
    assert [i["github_repo"] for i in issues(gw)] == ["acme/other"]


def test_a_body_over_one_mib_is_413_and_not_stored(server: Any) -> None:
    big = event(errorMessage="x" * (1024 * 1024))
    answer = post(server, big, server.key)
    assert answer.status_code == 413 and "1,048,576 bytes" in answer.json()["error"]
    assert issues(server) == []


def test_a_key_over_its_rate_gets_429_with_retry_after(tmp_path: Path) -> None:
    settings = CaptureSettings(rate_per_second=0.5, burst=2)
    server = start_server(tmp_path, domain_settings={"capture": settings})
    try:
        key = server.tokens.create("capture", repos=[REPO])[1]
        other = server.tokens.create("capture", name="other", repos=[REPO])[1]
        assert [post(server, event(), key).status_code for _ in range(2)] == [202, 202]
        refused = post(server, event(), key)
        assert refused.status_code == 429 and "retry after" in refused.json()["error"]
        assert 1 <= int(refused.headers["Retry-After"]) <= 2
        assert post(server, event(), other).status_code == 202  # limits are per key
        # A large event costs one per started 64 KiB (at most a burst): here the whole bucket.
        third = server.tokens.create("capture", name="third", repos=[REPO])[1]
        assert post(server, event(), third).status_code == 202
        assert post(server, event(stackTrace="x" * 200_000), third).status_code == 429
        assert stored_events(server) == 4
    finally:
        server.stop()


def test_resolve_ignore_and_regression(gw: Any) -> None:
    issue_id = post(gw, event(), gw.key).json()["issue_id"]
    url = f"{gw.http_url}/api/v1/capture/issues/{issue_id}/status"

    def set_status(status: str, token: str | None = OPERATOR_TOKEN) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.post(url, json={"status": status}, headers=headers)

    assert set_status("resolved", None).status_code == 403
    assert set_status("resolved", gw.key).status_code == 403
    assert set_status("closed").status_code == 422
    assert httpx.get(f"{gw.http_url}/api/v1/capture/issues/{issue_id}").json()["status"] == "open"
    done = set_status("resolved")
    assert done.status_code == 200 and done.json()["status_changed_by"] == "alice"
    assert issues(gw, status="open") == []

    again = post(gw, event(), gw.key)  # the bug is back: a regression
    assert again.json()["issue_id"] == issue_id
    (reopened,) = issues(gw, status="open")
    assert (reopened["regressions"], reopened["status_changed_by"]) == (1, "regression")

    assert set_status("ignored").json()["status"] == "ignored"
    post(gw, event(), gw.key)
    (ignored,) = issues(gw)
    assert (ignored["status"], ignored["event_count"], ignored["regressions"]) == ("ignored", 3, 1)
    missing = httpx.post(
        f"{gw.http_url}/api/v1/capture/issues/nope/status",
        json={"status": "open"},
        headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
    )
    assert missing.status_code == 404


def test_reading_unknown_things_is_404(server: Any) -> None:
    for path in ("issues/nope", "issues/nope/events", "events/nope"):
        answer = httpx.get(f"{server.http_url}/api/v1/capture/{path}")
        assert answer.status_code == 404 and "nope" in answer.json()["error"]
    assert httpx.get(f"{server.http_url}/api/v1/capture/issues?status=x").status_code == 400
    assert httpx.get(f"{server.http_url}/capture/issues/nope").status_code == 404
