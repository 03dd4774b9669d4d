"""Database outages during sustained ingestion through the real gRPC API.

A real server ingests probe reports from ``--clients`` client threads, each sending
batches of ``--batch`` reports over ``AgentService.ReportProbeResults`` and retrying a
batch (as the SDK and the agent do) until it is acknowledged. Then the database goes
away for each of ``--outages`` seconds:

* ``postgresql``  a private PostgreSQL cluster (``initdb``/``pg_ctl`` of the installed
                  server, temporary directory, free port) stopped with
                  ``pg_ctl stop -m immediate`` and started again;
* ``sqlite``      another connection holds ``BEGIN EXCLUSIVE`` on the server's SQLite file.

Figures per outage: acknowledged reports lost (every acknowledged id looked up in the
ledger; must be 0) and applied twice (must be 0), how fast ingestion is refused while the
database is away (p99 of the UNAVAILABLE answers), and the seconds from the database's
return to the engine's first commit, to ``/healthz`` answering 200, and to the first
batch a client got acknowledged. Each outage is run ``--repeats`` times; the table shows
medians.

Usage: .venv/bin/python bench/bench_outage.py [--outages 5,60] [--repeats 3]
       [--database postgresql|sqlite|both]
"""

from __future__ import annotations

import argparse
import math
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

import grpc
import httpx
from sqlalchemy import create_engine, text

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests")
)

import _fleet  # noqa: E402
from _pgcluster import pg_cluster  # noqa: E402

from sentinel.v1 import agent_pb2, agent_pb2_grpc  # noqa: E402

_RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


class Clients:
    """``n`` threads reporting PASS results, each batch retried until acknowledged."""

    def __init__(self, address: str, uuids: list[str], n: int, batch: int) -> None:
        self._address, self._uuids, self._batch = address, uuids, batch
        self._metadata = (("authorization", f"Bearer {_fleet.OPERATOR_TOKEN}"),)
        self.acked: list[str] = []
        self.acked_at: list[float] = []
        self.refused: list[tuple[float, float]] = []
        """(monotonic start, seconds to the answer) of each UNAVAILABLE answer."""
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(n)
        ]

    def __enter__(self) -> Clients:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)

    def _run(self, me: int) -> None:
        with grpc.insecure_channel(self._address) as channel:
            stub = agent_pb2_grpc.AgentServiceStub(channel)
            n = 0
            while not self._stop.is_set():
                reports = [
                    agent_pb2.ProbeReport(
                        report_id=f"outage-{me}-{n + i}",
                        gpu_uuid=self._uuids[(me * 7919 + n + i) % len(self._uuids)],
                        probe_type=1 + (n + i) % 7,
                        result=1,
                        sm_outcomes=bytes([1]) * _fleet.H100_SMS,
                    )
                    for i in range(self._batch)
                ]
                n += self._batch
                self._deliver(stub, agent_pb2.ProbeReportBatch(reports=reports))

    def _deliver(self, stub: Any, batch: agent_pb2.ProbeReportBatch) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                ack = stub.ReportProbeResults(batch, metadata=self._metadata, timeout=5)
            except grpc.RpcError as exc:
                if exc.code() == grpc.StatusCode.UNAVAILABLE:
                    with self._lock:
                        self.refused.append((started, time.monotonic() - started))
                elif exc.code() not in _RETRYABLE:
                    self.errors.append(f"{exc.code()}: {exc.details()}")
                self._stop.wait(0.05)
                continue
            if ack.accepted + ack.duplicates != len(batch.reports):
                self.errors.append(f"unexpected acknowledgement: {ack}")
            with self._lock:
                self.acked.extend(r.report_id for r in batch.reports)
                self.acked_at.append(time.monotonic())
            return

    def rate(self, seconds: float) -> float:
        """Reports/s acknowledged over the last ``seconds``."""
        since = time.monotonic() - seconds
        with self._lock:
            return sum(1 for t in self.acked_at if t > since) * self._batch / seconds


def _stored_ids(url: str) -> list[str]:
    db = create_engine(url)
    try:
        with db.connect() as conn:
            rows = conn.execute(text("SELECT data FROM ledger_entries WHERE entry_type = 1"))
            return [agent_pb2.ProbeReport.FromString(r[0]).report_id for r in rows]
    finally:
        db.dispose()


def _poll(condition: Callable[[], bool], timeout: float) -> float:
    """Seconds until ``condition()`` holds (polled every 10 ms); NaN after ``timeout``."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if condition():
            return time.monotonic() - began
        time.sleep(0.01)
    return float("nan")


def _healthy(http_url: str) -> bool:
    try:
        return httpx.get(f"{http_url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def _postgres() -> Iterator[tuple[str, Callable[[], None], Callable[[], None]]]:
    with pg_cluster() as cluster:
        yield cluster.url, cluster.stop, cluster.start


@contextmanager
def _sqlite() -> Iterator[tuple[str, Callable[[], None], Callable[[], None]]]:
    with _fleet.database("sqlite") as url:
        blocker: list[sqlite3.Connection] = []

        def down() -> None:
            conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
            conn.execute("BEGIN EXCLUSIVE")
            blocker.append(conn)

        def up() -> None:
            conn = blocker.pop()
            conn.execute("COMMIT")
            conn.close()

        yield url, down, up


def run_once(kind: str, outage: float, args: argparse.Namespace) -> dict[str, Any]:
    setup = _postgres if kind == "postgresql" else _sqlite
    with setup() as (url, down, up):
        with _fleet.server(url) as srv:
            hosts = _fleet.fleet(args.gpus, max(1, args.gpus // 8))
            _fleet.register(srv.engine, hosts)
            uuids = [u for us in hosts.values() for u in us]
            with Clients(srv.address, uuids, args.clients, args.batch) as clients:
                time.sleep(args.warmup)
                before = clients.rate(args.warmup / 2)
                down()
                went = time.monotonic()
                time.sleep(outage)
                up()
                back = time.monotonic()
                to_commit = _poll(lambda: not srv.engine.unavailable, 60)
                _poll(lambda: _healthy(srv.http_url), 60)
                to_health = time.monotonic() - back
                _poll(lambda: any(t > back for t in clients.acked_at), 60)
                to_ack = min((t for t in clients.acked_at if t > back), default=math.nan) - back
                time.sleep(args.warmup)
                after = clients.rate(args.warmup / 2)
        stored = _stored_ids(url)
    acked = set(clients.acked)
    return {
        "acked": acked,
        "lost": len(acked - set(stored)),
        "twice": len(stored) - len(set(stored)),
        "errors": list(clients.errors),
        "refused": [secs for start, secs in clients.refused if went + 1 < start < back],
        "to_commit": to_commit,
        "to_health": to_health,
        "to_ack": to_ack,
        "before": before,
        "after": after,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--outages", default="5,60", help="outage lengths in seconds")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--gpus", type=int, default=1_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before and after")
    args = parser.parse_args()
    kinds = ["postgresql", "sqlite"] if args.database == "both" else [args.database]
    outages = [float(s) for s in args.outages.split(",") if s]
    print(f"machine: {_fleet.machine()}; {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    rows = []
    for kind in kinds:
        for outage in outages:
            runs = []
            for i in range(args.repeats):
                r = run_once(kind, outage, args)
                print(
                    f"{kind} {outage:g} s run {i + 1}: acked {len(r['acked']):,}, "
                    f"lost {r['lost']}, twice {r['twice']}, commit +{r['to_commit']:.2f} s, "
                    f"healthz +{r['to_health']:.2f} s, ack +{r['to_ack']:.2f} s, "
                    f"UNAVAILABLE p99 {_fleet.pct(r['refused'], 99) * 1000:.1f} ms "
                    f"({len(r['refused'])}), {r['before']:,.0f} -> {r['after']:,.0f} reports/s"
                    + (f", errors {r['errors'][:3]}" if r["errors"] else ""),
                    flush=True,
                )
                runs.append(r)
            rows.append((kind, outage, runs))
    print()
    print(
        "| database | outage | acked reports | lost | applied twice | UNAVAILABLE answer p99 "
        "| return → first commit | → /healthz 200 | → first client ack | reports/s before → after |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for kind, outage, runs in rows:
        med = _fleet.median
        print(
            f"| {kind} | {outage:g} s | {med([len(r['acked']) for r in runs]):,.0f} "
            f"| {sum(r['lost'] for r in runs)} | {sum(r['twice'] for r in runs)} "
            f"| {med([_fleet.pct(r['refused'], 99) * 1000 for r in runs]):.1f} ms "
            f"| {med([r['to_commit'] for r in runs]):.2f} s "
            f"| {med([r['to_health'] for r in runs]):.2f} s "
            f"| {med([r['to_ack'] for r in runs]):.2f} s "
            f"| {med([r['before'] for r in runs]):,.0f} → {med([r['after'] for r in runs]):,.0f} |"
        )


if __name__ == "__main__":
    main()
