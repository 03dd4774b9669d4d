"""Two workers share the watched series through PostgreSQL advisory-lock leases and one
artifact store; when one stops, the other takes its series over with their models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from _forecast_stack import Stack
from sentinel_testing import wait_for

from sentinel.forecast import Sentinel, SentinelConfig, WatchConfig
from sentinel.forecast.sharding import ShardLeases, shard_of

PG_URL = os.environ.get("SENTINEL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture
def pg_url() -> str:
    import psycopg

    try:
        with psycopg.connect(PG_URL.replace("+psycopg", ""), connect_timeout=3):
            return PG_URL
    except psycopg.Error as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {PG_URL} is not reachable: {exc}")
        pytest.skip(f"PostgreSQL at {PG_URL} is not reachable: {exc}")


def test_leases_split_fairly_and_move_when_a_worker_leaves(pg_url: str) -> None:
    a = ShardLeases(pg_url, shards=8)
    b = ShardLeases(pg_url, shards=8)
    try:
        assert len(a.rebalance()) == 8 or a.workers() >= 2
        b.rebalance()
        a.rebalance()  # a gives up its excess...
        b.rebalance()  # ...and b takes it
        assert a.held.isdisjoint(b.held) and a.held | b.held == set(range(8))
        assert len(a.held) == len(b.held) == 4
    finally:
        b.close()
    try:
        assert a.rebalance() == frozenset(range(8))
    finally:
        a.close()


def test_sqlite_is_refused() -> None:
    with pytest.raises(ValueError, match="needs PostgreSQL"):
        ShardLeases("sqlite:///x.db")


def test_two_workers_forecast_disjoint_series(stack: Stack, pg_url: str, tmp_path: Path) -> None:
    watch = {"granularity": "15s", "horizon": "1m", "lookback": "5m", "history": "3h"}
    watches = [
        WatchConfig(metric="demo_request_latency_seconds", **watch),  # type: ignore[arg-type]
        WatchConfig(metric="demo_queue_depth", **watch),  # type: ignore[arg-type]
        WatchConfig(metric="demo_http_requests_total", **watch),  # type: ignore[arg-type]
    ]
    config = SentinelConfig(
        prometheus_url=stack.url,
        emitter_port=0,
        artifact_store=str(tmp_path / "shared"),  # one store both see (S3 in production)
        watches=watches,
        shard_database_url=pg_url,
        shards=4,
    )
    first, second = Sentinel(config), Sentinel(config)
    try:
        _share(first, second)
    finally:
        first.stop()
        second.stop()


def _share(first: Sentinel, second: Sentinel) -> None:
    first.cycle()
    second.cycle()
    first.cycle()  # first releases the excess now that two workers are alive
    second.cycle()
    for s in (first, second):
        assert s.wait_idle(60)
        s.cycle()
    mine, theirs = set(first.status()), set(second.status())
    keys = mine | theirs
    assert len(keys) == 3 and not mine & theirs
    for s in (first, second):
        assert all(st["ready"] for st in s.status().values())
        assert all(s.leases.owns(k) for k in s.status())  # type: ignore[union-attr]
    assert {shard_of(k, 4) for k in theirs} <= second.leases.held  # type: ignore[union-attr]
    second.stop()

    def took_over() -> bool:
        first.cycle()
        return set(first.status()) == keys

    wait_for(took_over, "the remaining worker to take every series", timeout=30)
    restored = {k: st["active_version"] for k, st in first.status().items() if k in theirs}
    assert all(v == "v1" for v in restored.values())  # models restored, not retrained
    assert all(first.status()[k]["ready"] for k in keys)
