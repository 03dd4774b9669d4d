"""Fleet API query latency over loopback gRPC on a 100,000-GPU fleet.

Registers a fleet (default 100,000 H100 GPUs of 132 SMs on ~1,000 hosts), ingests one
round of passing probe reports for every GPU plus failing ones for ~1% of them (so GPUs
are HEALTHY, SUSPECT, QUARANTINED, ...), then times, one call at a time from a client in a
separate process (``--client thread`` runs it in the server's process instead):

* QueryFleetHealth unfiltered, with a hostname_prefix (10% of hosts), with a state
  filter of the rare states (SUSPECT+QUARANTINED+DEEP_TEST) and with state=HEALTHY
  (every GPU matches)                                             target p99 < 20 ms
* QueryGpuHealth on random GPUs (132 SMs each)                    target p99 <  5 ms
* baselines: grpc.health.v1 Check and GetTrustGraph on an empty trust graph

``--calls`` timed calls per query (after ``--warmup``), ``--repeats`` times; the table
shows the median over repeats of each repeat's p50/p99.

Usage: .venv/bin/python bench/bench_queries.py [--gpus N] [--calls N] [--database sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import sys
import time
from concurrent.futures import wait
from datetime import datetime, timezone
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _fleet  # noqa: E402

TARGETS = {"fleet": 20.0, "gpu": 5.0}


def _queries(uuids: list[str], prefix: str) -> list[tuple[str, str, Any]]:
    """(name, target kind, request factory) for every timed call."""
    from grpc_health.v1 import health_pb2

    from sentinel.v1 import fleet_pb2, types_pb2

    rng = random.Random(42)
    rare = [
        types_pb2.GPU_HEALTH_STATE_SUSPECT,
        types_pb2.GPU_HEALTH_STATE_QUARANTINED,
        types_pb2.GPU_HEALTH_STATE_DEEP_TEST,
    ]
    return [
        ("health Check (floor)", "", lambda: ("health", health_pb2.HealthCheckRequest())),
        ("GetTrustGraph empty", "", lambda: ("trust", fleet_pb2.GetTrustGraphRequest())),
        ("FleetHealth unfiltered", "fleet", lambda: ("fleet", fleet_pb2.QueryFleetHealthRequest())),
        (
            f"FleetHealth host '{prefix}*'",
            "fleet",
            lambda: ("fleet", fleet_pb2.QueryFleetHealthRequest(hostname_prefix=prefix)),
        ),
        (
            "FleetHealth rare states",
            "fleet",
            lambda: ("fleet", fleet_pb2.QueryFleetHealthRequest(state_filter=rare)),
        ),
        (
            "FleetHealth state=HEALTHY",
            "fleet",
            lambda: (
                "fleet",
                fleet_pb2.QueryFleetHealthRequest(
                    state_filter=[types_pb2.GPU_HEALTH_STATE_HEALTHY]
                ),
            ),
        ),
        (
            "GpuHealth random GPU",
            "gpu",
            lambda: ("gpu", fleet_pb2.QueryGpuHealthRequest(gpu_uuid=rng.choice(uuids))),
        ),
    ]


def _client(
    address: str,
    uuids: list[str],
    prefix: str,
    calls: int,
    warmup: int,
    repeats: int,
    only: list[str],
    slow_calls: int,
) -> dict[str, list[tuple[float, float, float]]]:
    """Per query name: one (p50, p99, max, calls) in seconds per repeat."""
    import grpc
    from grpc_health.v1 import health_pb2_grpc

    from sentinel.v1 import fleet_pb2_grpc

    channel = grpc.insecure_channel(address)
    grpc.channel_ready_future(channel).result(timeout=10)
    fleet = fleet_pb2_grpc.FleetServiceStub(channel)
    methods = {
        "health": health_pb2_grpc.HealthStub(channel).Check,
        "trust": fleet.GetTrustGraph,
        "fleet": fleet.QueryFleetHealth,
        "gpu": fleet.QueryGpuHealth,
    }
    out: dict[str, list[tuple[float, float, float]]] = {}
    qs = [q for q in _queries(uuids, prefix) if not only or any(o in q[0] for o in only)]
    for _ in range(repeats):
        for name, _kind, make in qs:

            def timed(n: int, make: Any = make) -> list[float]:
                lat = []
                for _ in range(n):
                    method, req = make()
                    t0 = time.perf_counter()
                    methods[method](req, timeout=60)
                    lat.append(time.perf_counter() - t0)
                return lat

            first = timed(min(20, warmup))
            # a query far over its target gets --slow-calls calls, or a run takes hours
            n = slow_calls if _fleet.median(first) > 0.05 else calls
            if n == calls:
                timed(warmup - len(first))
            lat = timed(n)
            out.setdefault(name, []).append(
                (_fleet.pct(lat, 50), _fleet.pct(lat, 99), max(lat), len(lat))
            )
    channel.close()
    return out


def _client_proc(q: Any, *args: Any) -> None:
    q.put(_client(*args))


def _populate(eng: Any, uuids: list[str], fail_fraction: float) -> None:
    """One passing FMA report per GPU, then failing ones for ``fail_fraction`` of GPUs."""
    from sentinel.v1 import agent_pb2

    futs = []
    for b in _fleet.make_batches(
        uuids, -(-len(uuids) // 500), 500, seed=1, fail_ratio=0.0, tag="pass"
    ):
        futs.append(eng.submit_probe_results(b.reports))
    rng = random.Random(7)
    bad = rng.sample(uuids, max(1, int(len(uuids) * fail_fraction)))
    now = time.time()
    batch: list[Any] = []
    for i, u in enumerate(bad):
        # 1 to 4 failures on one SM: some GPUs stay SUSPECT, some get quarantined
        for j in range(1 + i % 4):
            sm = bytearray([1] * _fleet.H100_SMS)
            sm[i % _fleet.H100_SMS] = 2
            r = agent_pb2.ProbeReport(
                report_id=f"fail-{i}-{j}", gpu_uuid=u, probe_type=1, result=2, sm_outcomes=bytes(sm)
            )
            r.timestamp.FromNanoseconds(int((now - 10 + j) * 1e9))
            batch.append(r)
            if len(batch) == 500:
                futs.append(eng.submit_probe_results(batch))
                batch = []
    if batch:
        futs.append(eng.submit_probe_results(batch))
    wait(futs)
    for f in futs:
        f.result()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gpus", type=int, default=100_000)
    parser.add_argument("--hosts", type=int, default=1_000)
    parser.add_argument("--calls", type=int, default=2_000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument(
        "--slow-calls",
        type=int,
        default=100,
        help="timed calls for a query whose warm-up median is over 50 ms",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--client", choices=["process", "thread"], default="process")
    parser.add_argument("--fail-fraction", type=float, default=0.01)
    parser.add_argument("--prefix", default="node-001", help="hostname_prefix for the filter")
    parser.add_argument("--only", default="", help="comma-separated substrings of query names")
    args = parser.parse_args()
    only = [o for o in args.only.split(",") if o]
    print(
        f"machine: {_fleet.machine()}; {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC", flush=True
    )
    with _fleet.database(args.database) as url, _fleet.server(url) as srv:
        eng = srv.engine
        hosts = _fleet.fleet(args.gpus, args.hosts)
        uuids = [u for us in hosts.values() for u in us]
        t = _fleet.register(eng, hosts)
        t0 = time.perf_counter()
        _populate(eng, uuids, args.fail_fraction)
        states = {s.name: n for s, n in eng.state.state_count.items()}
        in_prefix = sum(len(v) for h, v in hosts.items() if h.startswith(args.prefix))
        print(
            f"[{args.database}] {len(uuids):,} GPUs on {len(hosts):,} hosts registered in "
            f"{t:.1f}s, populated in {time.perf_counter() - t0:.1f}s; states {states}; "
            f"prefix '{args.prefix}' selects {in_prefix:,} GPUs",
            flush=True,
        )
        cargs = (
            srv.address,
            uuids,
            args.prefix,
            args.calls,
            args.warmup,
            args.repeats,
            only,
            args.slow_calls,
        )
        began = time.perf_counter()
        if args.client == "process":
            ctx = mp.get_context("spawn")
            q = ctx.Queue()
            p = ctx.Process(target=_client_proc, args=(q, *cargs))
            p.start()
            res = q.get()
            p.join()
        else:
            res = _client(*cargs)
        print(
            f"timed in {time.perf_counter() - began:.0f}s "
            f"(client: {'separate process' if args.client == 'process' else 'same process'})"
        )

    kinds = {name: kind for name, kind, _ in _queries(uuids, args.prefix)}
    print()
    print(
        f"{'query':<30}{'calls':>6}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'target':>11}"
        "   p99 per repeat"
    )
    for name, reps in res.items():
        p50 = _fleet.median([r[0] for r in reps]) * 1e3
        p99 = _fleet.median([r[1] for r in reps]) * 1e3
        mx = _fleet.median([r[2] for r in reps]) * 1e3
        target = TARGETS.get(kinds[name])
        verdict = "" if target is None else (f"<{target:g} {'ok' if p99 < target else 'MISS'}")
        print(
            f"{name:<30}{reps[0][3]:>6}{p50:>9.2f}{p99:>9.2f}{mx:>9.1f}{verdict:>11}   "
            + " ".join(f"{r[1] * 1e3:.2f}" for r in reps)
        )


if __name__ == "__main__":
    main()
