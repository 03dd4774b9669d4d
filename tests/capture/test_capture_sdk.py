"""The SDK in-process: configuration, hooks, capture_exception and the dispatcher's
retries, drops, flush and spool, against the real gateway or a scripted HTTP peer."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from capture_helpers import REPO, ScriptedGateway, events_of, wait_for_events
from sentinel_testing import wait_for

import sentinel.capture as sdk
from sentinel.capture import _config, _dispatch, hook
from sentinel.capture._dispatch import retry_after


@pytest.fixture
def scripted() -> Iterator[Any]:
    gateways: list[ScriptedGateway] = []

    def make(*answers: tuple[int, dict[str, str]]) -> ScriptedGateway:
        gateways.append(ScriptedGateway(list(answers)))
        return gateways[-1]

    yield make
    for g in gateways:
        g.close()


def boom(order_id: int) -> None:
    raise KeyError(f"order {order_id} of alice@example.com")


def test_configure_defaults_environment_and_bad_arguments(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SENTINEL_GATEWAY_URL", raising=False)
    monkeypatch.delenv("SENTINEL_ENABLED", raising=False)
    config = sdk.configure(api_key="k", github_repo=REPO)
    assert (config.gateway_url, config.timeout_seconds, config.max_retries) == (
        "http://127.0.0.1:8000",
        5.0,
        3,
    )
    assert (config.retry_backoff_base, config.endpoint_label, config.enabled) == (
        0.5,
        "<unknown>",
        True,
    )
    monkeypatch.setenv("SENTINEL_GATEWAY_URL", "https://sentinel.example/")
    for off in ("false", "0", "NO", " off "):
        monkeypatch.setenv("SENTINEL_ENABLED", off)
        config = sdk.configure(api_key="k", github_repo=REPO)
        assert not config.enabled and config.gateway_url == "https://sentinel.example"
    assert sdk.configure(api_key="k", github_repo=REPO, enabled=True).enabled
    monkeypatch.setenv("SENTINEL_ENABLED", "yes")
    assert sdk.configure(api_key="k", github_repo=REPO, max_retries=0).max_retries == 1
    for bad, says in [
        ({"api_key": " "}, "api_key must not be empty"),
        ({"github_repo": "shop"}, "github_repo must be 'owner/repo'"),
        ({"gateway_url": "ftp://x"}, r"gateway_url must be an http\(s\) URL"),
        ({"timeout_seconds": 0}, "timeout_seconds and queue_size must be positive"),
    ]:
        with pytest.raises(ValueError, match=says):
            sdk.configure(**{"api_key": "k", "github_repo": REPO, **bad})


def test_hooks_need_configure_first() -> None:
    with pytest.raises(RuntimeError, match="configure"):
        sdk.install_hook()
    with pytest.raises(RuntimeError, match="configure"):
        sdk.SentinelMiddleware(lambda *a: None)  # type: ignore[arg-type,return-value]
    assert not sdk.capture_exception(ValueError("unconfigured"))


def test_install_chains_is_idempotent_and_uninstall_restores_exactly(server: Any) -> None:
    seen: list[str] = []
    original_sys, original_threading = sys.excepthook, threading.excepthook

    def theirs(t: Any, e: Any, tb: Any) -> None:
        seen.append(f"sys:{e}")

    def theirs_threading(args: Any) -> None:
        seen.append(f"thread:{args.exc_value}")

    sys.excepthook, threading.excepthook = theirs, theirs_threading
    try:
        sdk.configure(api_key=server.key, github_repo=REPO, gateway_url=server.http_url)
        sdk.install_hook(endpoint="worker")
        ours = sys.excepthook
        sdk.install_hook()
        assert sys.excepthook is ours and sdk.hook.is_installed()
        try:
            boom(1)
        except KeyError as exc:
            sys.excepthook(type(exc), exc, exc.__traceback__)  # what the interpreter does
        worker = threading.Thread(target=boom, args=(2,))
        worker.start()
        worker.join()
        assert seen == [
            "sys:'order 1 of alice@example.com'",
            "thread:'order 2 of alice@example.com'",
        ]
        sdk.uninstall_hook()
        sdk.uninstall_hook()
        assert (sys.excepthook, threading.excepthook) == (theirs, theirs_threading)
        assert not hook.is_installed()
        found = wait_for_events(server, 2)  # two issues: the call paths differ
        events = [e for i in found for e in events_of(server, i["issue_id"])]
        assert [e["endpoint"] for e in events] == ["worker", "worker"]
        assert "alice" not in str(events)
    finally:
        sys.excepthook, threading.excepthook = original_sys, original_threading


def test_a_hook_installed_after_ours_is_kept_and_ours_passes_through(
    server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    original = sys.excepthook
    try:
        sdk.configure(api_key=server.key, github_repo=REPO, gateway_url=server.http_url)
        sdk.install_hook()
        ours = sys.excepthook
        later: list[BaseException] = []

        def later_hook(t: Any, e: BaseException, tb: Any) -> None:
            later.append(e)
            ours(t, e, tb)

        sys.excepthook = later_hook
        sdk.uninstall_hook()
        assert sys.excepthook is later_hook  # not dropped by our uninstall
        try:
            boom(3)
        except KeyError as exc:
            sys.excepthook(type(exc), exc, exc.__traceback__)
        assert len(later) == 1 and sdk.flush(5)
        assert sdk.stats().sent == 0  # ours passed it on without reporting
    finally:
        sys.excepthook = original


def test_capture_exception_reports_handled_errors_with_chains(server: Any) -> None:
    sdk.configure(api_key=server.key, github_repo=REPO, gateway_url=server.http_url)
    assert not sdk.capture_exception()  # nothing is being handled
    try:
        try:
            boom(7)
        except KeyError as exc:
            raise RuntimeError("lookup failed for token=s3cr3t-value-123") from exc
    except RuntimeError:
        assert sdk.capture_exception(endpoint="/api/orders/{order_id}")
    assert sdk.flush(10)
    (issue,) = wait_for_events(server, 1)
    (event,) = events_of(server, issue["issue_id"])
    assert issue["exception_type"] == "RuntimeError"
    assert event["error_message"] == "lookup failed for token=[REDACTED_SECRET]"
    trace = event["stack_trace"]
    assert "direct cause of the following exception" in trace and "in boom" in trace
    assert "alice" not in trace and "[EMAIL]" in trace
    assert sdk.stats().sent == 1


@pytest.mark.skipif(sys.version_info < (3, 11), reason="exception groups are Python 3.11+")
def test_exception_groups_are_scrubbed_inside(server: Any) -> None:
    sdk.configure(api_key=server.key, github_repo=REPO, gateway_url=server.http_url)
    group = ExceptionGroup(  # noqa: F821 - Python 3.11+
        "validation", [ValueError("bad email bob@example.com"), TypeError("card 4111111111111111")]
    )
    try:
        raise group
    except ExceptionGroup:  # noqa: F821
        sdk.capture_exception()
    (issue,) = wait_for_events(server, 1)
    (event,) = events_of(server, issue["issue_id"])
    assert "bad email [EMAIL]" in event["stack_trace"] and "[CREDIT_CARD]" in event["stack_trace"]
    assert "bob@" not in event["stack_trace"] and "4111" not in event["stack_trace"]


def test_disabled_sends_nothing(scripted: Any) -> None:
    gateway = scripted()
    sdk.configure(api_key="k", github_repo=REPO, gateway_url=gateway.url, enabled=False)
    assert not sdk.capture_exception(ValueError("x"))
    assert sdk.flush(1) and gateway.requests == []


def test_retries_5xx_and_429_honouring_retry_after_but_not_other_4xx(scripted: Any) -> None:
    when = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=4), usegmt=True)
    gateway = scripted(
        (503, {}),
        (429, {"Retry-After": "1"}),
        (429, {"Retry-After": when}),
        (202, {}),
        (401, {}),
    )
    sdk.configure(
        api_key="snt_k",
        github_repo=REPO,
        gateway_url=gateway.url,
        max_retries=4,
        retry_backoff_base=0.05,
    )
    sdk.capture_exception(ValueError("first"))
    assert sdk.flush(15)
    times = [t for t, _, _ in gateway.requests]
    assert len(times) == 4
    assert times[1] - times[0] >= 0.05  # backoff: base * 2**0, plus jitter
    assert times[2] - times[1] >= 0.95  # Retry-After: 1
    assert times[3] - times[2] >= 1.5  # Retry-After: an HTTP date 2-3 s ahead by then
    headers, body = gateway.requests[0][1], gateway.requests[0][2]
    assert headers["Authorization"] == "Bearer snt_k"
    assert headers["Content-Type"] == "application/json"
    assert set(body) == {
        "exceptionType",
        "errorMessage",
        "stackTrace",
        "endpoint",
        "timestamp",
        "githubRepo",
        "language",
    }
    sdk.capture_exception(ValueError("second"))  # 401: a configuration problem, no retry
    assert sdk.flush(5)
    assert len(gateway.requests) == 5
    stats = sdk.stats()
    assert (stats.sent, stats.rejected, stats.failed) == (1, 1, 0)


def test_retry_after_forms() -> None:
    assert retry_after("3") == 3.0 and retry_after(None) is None and retry_after("soon") is None
    past = format_datetime(datetime.now(timezone.utc) - timedelta(minutes=1), usegmt=True)
    assert retry_after(past) == 0.0


def test_a_full_queue_drops_and_counts_without_blocking(scripted: Any) -> None:
    gateway = scripted()
    sdk.configure(api_key="k", github_repo=REPO, gateway_url=gateway.url, queue_size=2)
    dispatcher = _dispatch._dispatcher
    assert dispatcher is not None
    hold = threading.Event()
    original = dispatcher._deliver
    dispatcher._deliver = lambda payload: hold.wait(10) and original(payload)  # type: ignore[method-assign]
    results = [sdk.capture_exception(ValueError(str(i))) for i in range(6)]
    # One is in the worker's hands, two wait in the queue, three are dropped.
    assert results.count(False) >= 3 and sdk.stats().dropped == results.count(False)
    hold.set()
    assert sdk.flush(10)
    assert len(gateway.requests) == results.count(True)


def test_undeliverable_events_are_spooled_and_replayed_on_the_next_start(
    server: Any, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    sdk.configure(
        api_key=server.key,
        github_repo=REPO,
        gateway_url="http://127.0.0.1:9",  # nothing listens: offline
        max_retries=2,
        retry_backoff_base=0.01,
        spool_dir=spool,
    )
    for i in range(3):
        sdk.capture_exception(ValueError(f"offline {i}"))
    assert sdk.flush(10)
    assert sdk.stats().spooled == 3 and len(list(spool.glob("*.json"))) == 3
    _config.reset()
    sdk.configure(
        api_key=server.key, github_repo=REPO, gateway_url=server.http_url, spool_dir=spool
    )
    issues = wait_for_events(server, 3)
    assert issues[0]["exception_type"] == "ValueError"
    wait_for(lambda: not list(spool.glob("*.json")), "the spool to be emptied")


def test_the_public_names_are_pinned() -> None:
    assert set(sdk.__all__) == {
        "DEFAULT_GATEWAY_URL",
        "CaptureConfig",
        "DispatchStats",
        "SentinelMiddleware",
        "SentinelWSGIMiddleware",
        "capture_exception",
        "configure",
        "flush",
        "hook",
        "install_hook",
        "scrub",
        "stats",
        "uninstall_hook",
    }
    assert len(sdk.__all__) == len(set(sdk.__all__))
    assert all(hasattr(sdk, name) for name in sdk.__all__)
    assert callable(sdk.hook.is_installed)
