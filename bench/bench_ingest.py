"""Probe-report ingest throughput of one engine process, ledger on, SQLite and PostgreSQL.

Registers a fleet (default 100,000 H100 GPUs of 132 SMs on ~1,000 hosts), then pushes
batches of 500 probe reports (~0.1% FAIL, sm_outcomes covering all 132 SMs) for
``--seconds`` per run, three ways:

* ``direct``     submit_probe_results() with ``--inflight`` batches in flight (the writer
                 batches them), no transport;
* ``grpc``       AgentService.ReportProbeResults over loopback gRPC from ``--threads``
                 client threads in the server's own process (pre-serialized requests);
* ``grpc-proc``  the same from a separate client process (on a 2-core box it competes
                 with the server for CPU).

Each is run ``--runs`` times; the table shows the median reports/s and the median of
the runs' p50/p99 ingest latency (engine.metrics.recent_latencies: batch queued ->
its state update committed; "rtt" is submit -> ack as the client sees it). The baseline
is a raw DB-API executemany of ledger-sized rows (500 per transaction) into the same
database from the same process.

Usage: .venv/bin/python bench/bench_ingest.py [--gpus N] [--seconds S]
       [--database sqlite|postgresql|both]
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing as mp
import os
import sys
import threading
import time
from datetime import datetime, timezone
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _fleet  # noqa: E402

BATCH = 500
REPORT_METHOD = "/sentinel.v1.AgentService/ReportProbeResults"


# -- the three ways in ---------------------------------------------------------------


def _run_direct(engine: Any, batches: list[Any], seconds: float, inflight: int) -> dict[str, Any]:
    rtts: list[float] = []
    accepted = 0
    window: collections.deque[tuple[Any, float]] = collections.deque()
    lock = threading.Lock()

    def done_cb(t0: float) -> Any:
        def cb(_f: Any) -> None:
            with lock:
                rtts.append(time.perf_counter() - t0)

        return cb

    began = time.perf_counter()
    deadline = began + seconds
    used = 0
    for batch in batches:
        if time.perf_counter() >= deadline:
            break
        while len(window) >= inflight:
            accepted += window.popleft()[0].result().accepted
        t0 = time.perf_counter()
        fut = engine.submit_probe_results(batch.reports)
        fut.add_done_callback(done_cb(t0))
        window.append((fut, t0))
        used += 1
    while window:
        accepted += window.popleft()[0].result().accepted
    elapsed = time.perf_counter() - began
    return {
        "accepted": accepted,
        "elapsed": elapsed,
        "rtts": rtts,
        "exhausted": used == len(batches),
    }


_OPERATOR = (("authorization", f"Bearer {_fleet.OPERATOR_TOKEN}"),)
"""The reports name GPUs of many hosts: sent as the operator, who may report for any."""


def _grpc_send(address: str, payloads: list[bytes], seconds: float, threads: int) -> dict[str, Any]:
    """Send pre-serialized ProbeReportBatch payloads from ``threads`` threads until time is up."""
    import grpc

    from sentinel.v1 import agent_pb2

    channel = grpc.insecure_channel(address, options=[("grpc.max_send_message_length", 64 << 20)])
    grpc.channel_ready_future(channel).result(timeout=10)
    call = channel.unary_unary(
        REPORT_METHOD,
        request_serializer=lambda b: b,
        response_deserializer=agent_pb2.ReportAck.FromString,
    )
    it = iter(payloads)
    it_lock = threading.Lock()
    results: list[tuple[int, list[float]]] = []
    began = time.perf_counter()
    deadline = began + seconds
    exhausted = [False]

    def worker() -> None:
        acc, rtts = 0, []
        while time.perf_counter() < deadline:
            with it_lock:
                payload = next(it, None)
            if payload is None:
                exhausted[0] = True
                break
            t0 = time.perf_counter()
            ack = call(payload, timeout=60, metadata=_OPERATOR)
            rtts.append(time.perf_counter() - t0)
            acc += ack.accepted
        results.append((acc, rtts))

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    elapsed = time.perf_counter() - began
    channel.close()
    return {
        "accepted": sum(a for a, _ in results),
        "elapsed": elapsed,
        "rtts": [x for _, r in results for x in r],
        "exhausted": exhausted[0],
    }


def _client_process(
    address: str,
    uuids: list[str],
    n: int,
    seed: int,
    seconds: float,
    threads: int,
    ready: Any,
    go: Any,
    out: Any,
) -> None:
    payloads = [
        b.SerializeToString() for b in _fleet.make_batches(uuids, n, BATCH, seed=seed, tag="p")
    ]
    ready.set()
    go.wait()
    res = _grpc_send(address, payloads, seconds, threads)
    out.put(res)


def _run_grpc_proc(
    address: str, uuids: list[str], n: int, seed: int, seconds: float, threads: int
) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    ready, go, out = ctx.Event(), ctx.Event(), ctx.Queue()
    p = ctx.Process(
        target=_client_process, args=(address, uuids, n, seed, seconds, threads, ready, go, out)
    )
    p.start()
    ready.wait()
    go.set()
    res = out.get()
    p.join()
    return res


# -- the baseline -------------------------------------------------------------------


def _raw_insert_rate(db: Any, seconds: float, row_bytes: int) -> float:
    """Rows/s of a raw DB-API executemany of ledger-sized rows, 500 per transaction."""
    pg = db.dialect.name == "postgresql"
    ph = "%s" if pg else "?"
    blob = "BYTEA" if pg else "BLOB"
    raw = db.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("DROP TABLE IF EXISTS bench_raw_rows")
        cur.execute(
            f"CREATE TABLE bench_raw_rows (entry_id BIGINT PRIMARY KEY, entry_type SMALLINT, "
            f"timestamp BIGINT, gpu_uuid VARCHAR(64), data {blob}, previous_hash {blob}, "
            f"entry_hash {blob}, merkle_root {blob})"
        )
        raw.commit()
        sql = f"INSERT INTO bench_raw_rows VALUES ({', '.join([ph] * 8)})"
        data, h = os.urandom(row_bytes), os.urandom(32)
        uuid = _fleet.gpu_uuid(7)
        n = 0
        began = time.perf_counter()
        while time.perf_counter() - began < seconds:
            rows = [
                (n + i, 1, 1_700_000_000_000_000 + n + i, uuid, data, h, h, None)
                for i in range(BATCH)
            ]
            cur.executemany(sql, rows)
            raw.commit()
            n += BATCH
        elapsed = time.perf_counter() - began
        cur.execute("DROP TABLE bench_raw_rows")
        raw.commit()
        return n / elapsed
    finally:
        raw.close()


# -- driver -------------------------------------------------------------------------


def _summ(res: dict[str, Any], engine_lat: list[float]) -> dict[str, Any]:
    return {
        "rate": res["accepted"] / res["elapsed"],
        "elapsed": res["elapsed"],
        "p50": _fleet.pct(engine_lat, 50),
        "p99": _fleet.pct(engine_lat, 99),
        "rtt50": _fleet.pct(res["rtts"], 50),
        "rtt99": _fleet.pct(res["rtts"], 99),
        "exhausted": res["exhausted"],
    }


def bench_db(kind: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with _fleet.database(kind) as url, _fleet.server(url) as srv:
        eng = srv.engine
        hosts = _fleet.fleet(args.gpus, args.hosts)
        uuids = [u for us in hosts.values() for u in us]
        reg = _fleet.register(eng, hosts)
        print(
            f"[{kind}] registered {len(uuids):,} GPUs on {len(hosts):,} hosts in {reg:.1f}s",
            flush=True,
        )
        n_batches = int(args.seconds * args.max_rate / BATCH) + 1
        seed = 0
        # warm-up: a few seconds of direct ingest (connection pool, caches, first rows)
        warm = _fleet.make_batches(uuids, 20, BATCH, seed=10_000, tag="w")
        _run_direct(eng, warm, 3.0, args.inflight)
        for mode in args.modes:
            runs = []
            for i in range(args.runs):
                seed += 1
                eng.metrics.recent_latencies.clear()
                if mode == "grpc-proc":
                    res = _run_grpc_proc(
                        srv.address, uuids, n_batches, seed, args.seconds, args.threads
                    )
                else:
                    batches = _fleet.make_batches(uuids, n_batches, BATCH, seed=seed, tag=mode)
                    if mode == "direct":
                        res = _run_direct(eng, batches, args.seconds, args.inflight)
                    else:
                        payloads = [b.SerializeToString() for b in batches]
                        del batches
                        res = _grpc_send(srv.address, payloads, args.seconds, args.threads)
                s = _summ(res, list(eng.metrics.recent_latencies))
                runs.append(s)
                print(
                    f"[{kind}] {mode:<9} run {i + 1}: {s['rate']:>9,.0f} reports/s over "
                    f"{s['elapsed']:.1f}s, commit p50 {s['p50'] * 1e3:.1f} ms p99 "
                    f"{s['p99'] * 1e3:.1f} ms, rtt p50 {s['rtt50'] * 1e3:.1f} ms p99 "
                    f"{s['rtt99'] * 1e3:.1f} ms{' (batch pool ran out)' if s['exhausted'] else ''}",
                    flush=True,
                )
            rows.append({"db": kind, "mode": mode, "runs": runs})
        raw_rates = []
        row_bytes = len(_fleet.make_batches(uuids, 1, 1, seed=1)[0].reports[0].SerializeToString())
        for _ in range(args.runs):
            raw_rates.append(_raw_insert_rate(eng.db, min(args.seconds, 10.0), row_bytes))
        print(
            f"[{kind}] raw executemany ({row_bytes} B rows): "
            + ", ".join(f"{r:,.0f}" for r in raw_rates)
            + " rows/s",
            flush=True,
        )
        rows.append({"db": kind, "mode": "raw-insert", "raw": raw_rates})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gpus", type=int, default=100_000)
    parser.add_argument("--hosts", type=int, default=1_000)
    parser.add_argument("--seconds", type=float, default=20.0, help="sustained seconds per run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--target-gpus",
        type=int,
        default=100_000,
        help="fleet size the headroom column is computed for",
    )
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--modes", default="direct,grpc,grpc-proc")
    parser.add_argument("--inflight", type=int, default=8, help="direct: batches in flight")
    parser.add_argument("--threads", type=int, default=4, help="gRPC client threads")
    parser.add_argument(
        "--max-rate",
        type=float,
        default=25_000,
        help="reports/s the pre-generated batch pool can feed",
    )
    args = parser.parse_args()
    args.modes = [m for m in args.modes.split(",") if m]
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    need = _fleet.required_rate(args.target_gpus)
    print(f"machine: {_fleet.machine()}; {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(
        f"fleet of {args.target_gpus:,} GPUs at the default schedule needs {need:,.0f} reports/s "
        f"(3x headroom: {3 * need:,.0f}/s)",
        flush=True,
    )
    results = []
    for kind in kinds:
        results += bench_db(kind, args)

    print()
    print(
        f"{'database':<11}{'path':<11}{'reports/s':>11}{'(min-max)':>19}{'headroom':>10}"
        f"{'commit p50':>12}{'p99':>9}{'rtt p50':>10}{'p99':>9}"
    )
    for r in results:
        if r["mode"] == "raw-insert":
            raws = r["raw"]
            med = _fleet.median(raws)
            eng_rate = next(
                (
                    _fleet.median([x["rate"] for x in q["runs"]])
                    for q in results
                    if q["db"] == r["db"] and q["mode"] == "direct"
                ),
                float("nan"),
            )
            spread = f"({min(raws):,.0f}-{max(raws):,.0f})"
            print(
                f"{r['db']:<11}{'raw rows':<11}{med:>11,.0f}{spread:>19}"
                f"{'':>10}   engine direct / raw = {eng_rate / med:.2f}"
            )
            continue
        rates = [x["rate"] for x in r["runs"]]
        med = _fleet.median(rates)

        def m(k: str, runs: list[dict[str, Any]] = r["runs"]) -> float:
            return _fleet.median([x[k] for x in runs]) * 1e3

        print(
            f"{r['db']:<11}{r['mode']:<11}{med:>11,.0f}"
            f"{f'({min(rates):,.0f}-{max(rates):,.0f})':>19}{med / need:>9.1f}x"
            f"{m('p50'):>10.1f}ms{m('p99'):>7.1f}ms{m('rtt50'):>8.1f}ms{m('rtt99'):>7.1f}ms"
        )


if __name__ == "__main__":
    main()
