"""Server-side render time of every dashboard page and its ``/api/v1`` twin, 10,000-GPU fleet.

Starts a real server (SQLite by default) and gives it two weeks of simulated history
through the engine, with the engine's clock stepped in 10-minute steps:

* ``--gpus`` H100s of 132 SMs, ``--per-host`` per host (10,000 on 1,250 hosts);
* ``--rounds`` fleet-wide rounds of one probe report and one telemetry sample per GPU,
  spread over the two weeks (10 rounds: 100k ledger entries, 100k reliability samples,
  100k telemetry rows);
* ``--fail-fraction`` of the GPUs fail: some a probe or two (stay HEALTHY), some 3-4
  probes on one SM (QUARANTINED, then DEEP_TEST by the policy, a few failing the deep
  test: CONDEMN directives waiting for approval, one approved), some a run of CRITICAL
  anomalies (SUSPECT); correlation findings follow;
* the 8 GPUs of one host (``node-00010``) report and send telemetry on every step
  (``--history-steps``, 2,000: the GPU page's full 2,000-point reliability series and
  720 telemetry points). One of them is the "GPU with history": quarantined, deep-tested
  and reinstated mid-way, anomalies later, quarantined again at the end;
* operator directives: ``--pending`` waiting for approval, some approved or rejected;
* ``--canaries`` TMR canaries on random triples, some with a dissenting digest.

A final group of failures is ingested on the real clock just before timing, so the fleet
has QUARANTINED GPUs; the policy moves them to DEEP_TEST 300 s later, which can happen
during the timing (the state counts before and after are printed).

Then a client in a separate process times, over HTTP with httpx on one keep-alive
connection, each page and JSON twin: ``--warmup`` calls, then ``--calls`` timed ones,
``--repeats`` times. Server time is the ``Server-Timing: app;dur=`` header the server
adds to every response (its middleware, routing, the view, rendering or serialising);
client time is the wall time of the call (adds transport and reading the body). The
table shows the median over repeats of each repeat's p50/p99, the ratio of the p50
server time to the ``/healthz`` baseline's and PASS/FAIL of the p99 server time against
the 300 ms target. The server process's garbage collections during the timing are
counted (a gen-2 collection walks the engine's whole in-memory fleet state; see
``--gc-freeze``). ``POST /api/v1/audit/verify`` (verifies the whole ledger, not a page)
is timed once after.

With ``--profile slow`` (default) every page over the target is then profiled in the
bench's process: cProfile around full requests through the same FastAPI app over
``httpx.ASGITransport``, sync endpoints run inline so the profile sees the view, the
template and the response validation. ``--profile all`` profiles every page.

Usage: .venv/bin/python bench/bench_dashboard.py [--gpus N] [--calls N] [--repeats N]
       [--database sqlite|postgresql] [--profile slow|all|none] [--gc-freeze]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import math
import multiprocessing as mp
import os
import pstats
import random
import sys
import time
import zlib
from concurrent.futures import Future, wait
from datetime import datetime, timezone
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _fleet  # noqa: E402

TARGET_MS = 300.0
STEP_S = 600.0  # one simulated step: the engine samples reliability at most every 10 min
TRACKED_HOST = 10  # node-00010: its GPUs report on every step
BATCH = 500
SM_FAULT = 17  # the SM the history GPU's faults land on
WAIT_S = 300  # an engine operation not done by then means the engine is stuck

_PASS, _FAIL = 1, 2


class SimClock:
    """The engine's clock while history is written: a settable epoch time."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


# -- populating --------------------------------------------------------------------------


def _stamp(msg: Any, t: float) -> None:
    msg.timestamp.FromNanoseconds(int(t * 1e9))


def _probe(rid: str, uuid: str, t: float, ptype: int, *, fail_sm: int | None, deep: bool) -> Any:
    from sentinel.v1 import agent_pb2

    sm = bytearray([_PASS]) * _fleet.H100_SMS
    if fail_sm is not None:
        sm[fail_sm] = _FAIL
    r = agent_pb2.ProbeReport(
        report_id=rid,
        gpu_uuid=uuid,
        probe_type=ptype,
        result=_FAIL if fail_sm is not None else _PASS,
        duration_us=1200,
        sm_outcomes=bytes(sm),
        deep_test=deep,
    )
    _stamp(r, t)
    return r


def _telemetry(uuid: str, t: float, rng: random.Random, hot: bool = False) -> Any:
    from sentinel.v1 import agent_pb2

    load = 0.5 + 0.4 * math.sin(t / 5400.0 + zlib.crc32(uuid.encode()) % 7)  # a day-ish load cycle
    s = agent_pb2.GpuTelemetry(
        gpu_uuid=uuid,
        temperature_c=45 + 30 * load + rng.gauss(0, 1.5) + (6 if hot else 0),
        power_w=120 + 560 * load + rng.gauss(0, 15),
        sm_clock_mhz=int(1980 - 300 * max(0.0, load - 0.8) * 5),
        mem_clock_mhz=2619,
        throttle_reasons=4 if load > 0.85 else 0,
        ecc_single_bit=rng.randrange(3) if hot else 0,
        xid_events=[48] if hot and rng.random() < 0.01 else [],
    )
    _stamp(s, t)
    return s


def _anomaly(rid: str, uuid: str, t: float, severity: int, sm: int | None) -> Any:
    from sentinel.v1 import agent_pb2

    a = agent_pb2.AnomalyReport(
        report_id=rid,
        gpu_uuid=uuid,
        anomaly_type=1 + zlib.crc32(rid.encode()) % 8,
        source=2,
        severity=severity,
        score=7.5,
        threshold=4.0,
        has_sm=sm is not None,
        sm_id=sm or 0,
        detail="bench: loss spike on the training job",
    )
    _stamp(a, t)
    return a


def _chunks(items: list[Any], n: int = BATCH) -> list[list[Any]]:
    return [items[i : i + n] for i in range(0, len(items), n)]


def _finish(futs: list[Future[Any]]) -> None:
    wait(futs, timeout=WAIT_S)
    for f in futs:
        ack = f.result(timeout=WAIT_S)
        rejected = getattr(ack, "rejected", None)
        if rejected:
            raise RuntimeError(f"engine rejected reports: {list(rejected)[:3]}")


def _fail_burst(eng: Any, uuid: str, t: float, n: int, sm: int, tag: str) -> Future[Any]:
    """``n`` failing FMA probes on SM ``sm`` a second apart, ending at ``t``."""
    reports = [
        _probe(f"{tag}-{uuid}-{j}", uuid, t - (n - j), 1, fail_sm=sm, deep=False) for j in range(n)
    ]
    return eng.submit_probe_results(reports)


def _populate(
    eng: Any, args: argparse.Namespace, uuids: list[str], tracked: list[str]
) -> dict[str, str]:
    """Write the simulated history (engine clock stepped); returns what the timing needs."""
    from sentinel.fleet.engine.enums import Action, GpuState
    from sentinel.v1 import agent_pb2, fleet_pb2

    rng = random.Random(2026)
    history_gpu, healthy_gpu = tracked[3], tracked[0]
    steps, rounds = args.history_steps, args.rounds
    t0 = time.time() - (steps - 1) * STEP_S
    clock = SimClock(t0)
    eng.clock = clock

    # Fleet rounds fall on these steps, the last on the last step.
    round_at = {round(i * (steps - 1) / max(rounds - 1, 1)): i for i in range(rounds)}
    tracked_set = set(tracked)
    others = [u for u in uuids if u not in tracked_set]
    failing = rng.sample(others, max(3, int(len(uuids) * args.fail_fraction)))
    late = rounds // 2  # failures happen in the second half of the history
    groups: dict[int, list[tuple[str, str]]] = {}
    final: list[str] = []
    for i, u in enumerate(failing):
        kind = ("light", "burst", "burst", "anomalous", "light")[i % 5]
        if kind == "burst" and i % 4 == 1:
            final.append(u)  # fails on the real clock just before timing: stays QUARANTINED
            continue
        groups.setdefault(rng.randrange(late, rounds), []).append((kind, u))

    fail1 = int(steps * 0.6)  # history GPU: quarantined, deep-tested, reinstated
    anomalies_at = {int(steps * 0.8) + k * 3 for k in range(4)}
    ledger_before = len(eng.ledger)
    began = time.perf_counter()
    for k in range(steps):
        t = t0 + k * STEP_S
        clock.t = t
        futs: list[Future[Any]] = []
        if k in round_at:
            r = round_at[k]
            for b in _fleet.make_batches(
                uuids,
                -(-len(uuids) // BATCH),
                BATCH,
                seed=100 + r,
                fail_ratio=0.0,
                tag=f"r{r}",
                at=t,
            ):
                futs.append(eng.submit_probe_results(b.reports))
            for chunk in _chunks(others):
                futs.append(eng.submit_telemetry([_telemetry(u, t, rng) for u in chunk]))
            anomalies = []
            for j, (kind, u) in enumerate(groups.get(r, ())):
                sm = rng.randrange(_fleet.H100_SMS)
                if kind == "light":
                    futs.append(_fail_burst(eng, u, t, 1 + j % 2, sm, f"f{r}"))
                elif kind == "burst":
                    futs.append(_fail_burst(eng, u, t, 3 + j % 2, sm, f"f{r}"))
                else:
                    anomalies += [
                        _anomaly(f"a{r}-{u}-{n}", u, t - 60 * n, 4, None) for n in range(10)
                    ]
            if anomalies:
                futs.append(eng.submit_anomalies(anomalies))
        reports = []
        with eng.state.lock:
            deep = {u: eng.state.gpus[u].state == GpuState.DEEP_TEST for u in tracked}
        for j, u in enumerate(tracked):
            fail_sm = SM_FAULT if (u == history_gpu and fail1 <= k < fail1 + 4) else None
            reports.append(
                _probe(f"t{k}-{j}", u, t, 1 + (k + j) % 7, fail_sm=fail_sm, deep=deep[u])
            )
        futs.append(eng.submit_probe_results(reports))
        futs.append(
            eng.submit_telemetry([_telemetry(u, t, rng, hot=u == history_gpu) for u in tracked])
        )
        if k in anomalies_at:
            futs.append(eng.submit_anomalies([_anomaly(f"h{k}", history_gpu, t, 3, SM_FAULT)]))
        _finish(futs)
        if k % 250 == 0 and k:
            print(
                f"  history step {k}/{steps}: {len(eng.ledger) - ledger_before:,} entries, "
                f"{time.perf_counter() - began:.0f}s",
                flush=True,
            )
    eng.clock = time.time

    # -- on the real clock from here ---------------------------------------------------
    for agent in list(eng.state.agents):
        eng.heartbeat(agent)
    now = time.time()
    futs = [
        _fail_burst(eng, u, now, 3 + i % 2, i % _fleet.H100_SMS, "final")
        for i, u in enumerate(final)
    ]
    futs.append(_fail_burst(eng, history_gpu, now, 3, SM_FAULT, "final"))
    _finish(futs)

    # A few GPUs in DEEP_TEST fail their deep test: CONDEMN directives wait for approval.
    with eng.state.lock:
        in_deep = sorted(
            u
            for u, g in eng.state.gpus.items()
            if g.state == GpuState.DEEP_TEST and u not in tracked
        )
    for i, u in enumerate(in_deep[:4]):
        r = _probe(f"deep-{u}", u, now, 2, fail_sm=i, deep=True)
        eng.submit_probe_results([r]).result(timeout=WAIT_S)
    condemn = [d.directive_id for d in eng.pending.values() if d.action == Action.CONDEMN]
    if condemn:
        eng.review_directive(condemn[0], True, "bench-operator", "confirmed by RMA").result(
            timeout=WAIT_S
        )

    def issue(u: str, action: int, approval: bool, reason: str) -> str:
        req = fleet_pb2.IssueQuarantineRequest(
            gpu_uuid=u,
            action=action,
            reason=reason,
            initiated_by="bench-operator",
            requires_approval=approval,
            evidence=["ticket SDC-1234"],
        )
        return str(eng.issue_directive(req).result(timeout=WAIT_S).directive_id)

    bad = set(failing)
    healthy = [u for u in others if u not in bad]
    picks = rng.sample(healthy, args.pending + 8)
    for u in picks[: args.pending]:
        issue(u, Action.QUARANTINE, True, "job owner reports wrong checkpoints on this host")
    reviewed = [
        issue(u, Action.QUARANTINE, True, "suspected by the training team") for u in picks[-8:-4]
    ]
    for i, d in enumerate(reviewed):
        eng.review_directive(d, i % 2 == 0, "bench-operator", "checked the logs").result(
            timeout=WAIT_S
        )
    for u in picks[-4:]:
        issue(u, Action.SCHEDULE_DEEP_TEST, False, "scheduled deep test after a firmware update")

    # TMR canaries on random triples; a failing GPU in one gives it a dissenting digest.
    with eng.state.lock:
        ok = (GpuState.HEALTHY, GpuState.SUSPECT)
        live = [u for u in uuids if eng.state.gpus[u].state in ok]
    live_set = set(live)
    suspects = [u for u in failing if u in live_set] or live
    triples = []
    for i in range(args.canaries):
        first = rng.choice(suspects) if i < 40 else rng.choice(live)
        triples.append([first, *[u for u in rng.sample(live, 3) if u != first][:2]])
    ids = [f.result(timeout=WAIT_S) for f in [eng.create_tmr_canary(tr) for tr in triples]]
    tmr = []
    for cid, tr in zip(ids, triples, strict=True):
        for j, u in enumerate(tr):
            digest = b"\x01" * 32 if u in bad and j == 0 else b"\x00" * 32
            rep = agent_pb2.TmrReport(report_id=f"tmr-{cid}-{j}", canary_id=cid, gpu_uuid=u)
            rep.digest = digest
            tmr.append(rep)
    _finish([eng.submit_tmr_results(c) for c in _chunks(tmr)])
    return {"history_gpu": history_gpu, "healthy_gpu": healthy_gpu}


# -- timing ------------------------------------------------------------------------------


def _pages(history_gpu: str, healthy_gpu: str) -> list[tuple[str, str]]:
    """(name, path) of every timed call; the first is the baseline."""
    host = f"node-{TRACKED_HOST:05d}"
    return [
        ("/healthz (baseline)", "/healthz"),
        ("/ home", "/"),
        ("/fleet", "/fleet"),
        ("/fleet?sort=state&order=desc", "/fleet?sort=state&order=desc"),
        (f"/fleet?host={host}", f"/fleet?host={host}"),
        ("/fleet?state=QUARANTINED", "/fleet?state=QUARANTINED"),
        ("/gpus/<with history>", f"/gpus/{history_gpu}"),
        ("/gpus/<healthy>", f"/gpus/{healthy_gpu}"),
        ("/directives", "/directives"),
        ("/audit", "/audit"),
        ("/audit?gpu_uuid=<history>", f"/audit?gpu_uuid={history_gpu}"),
        ("/audit?entry_type=PROBE_RESULT", "/audit?entry_type=PROBE_RESULT"),
        ("/trust", "/trust"),
        ("api /overview", "/api/v1/overview"),
        ("api /gpus", "/api/v1/gpus"),
        ("api /gpus?sort=state&order=desc", "/api/v1/gpus?sort=state&order=desc"),
        (f"api /gpus?host={host}", f"/api/v1/gpus?host={host}"),
        ("api /gpus?state=QUARANTINED", "/api/v1/gpus?state=QUARANTINED"),
        ("api /gpus/<with history>/detail", f"/api/v1/gpus/{history_gpu}/detail"),
        ("api /gpus/<healthy>/detail", f"/api/v1/gpus/{healthy_gpu}/detail"),
        ("api /directives", "/api/v1/directives"),
        ("api /audit", "/api/v1/audit"),
        ("api /audit?gpu_uuid=<history>", f"/api/v1/audit?gpu_uuid={history_gpu}"),
        ("api /audit?entry_type=PROBE_RESULT", "/api/v1/audit?entry_type=PROBE_RESULT"),
        ("api /trust", "/api/v1/trust"),
    ]


def _server_ms(r: Any) -> float:
    for part in r.headers["server-timing"].split(";"):
        if part.startswith("dur="):
            return float(part[4:])
    raise ValueError(f"no dur in Server-Timing: {r.headers['server-timing']!r}")


def _client(
    base: str, pages: list[tuple[str, str]], calls: int, warmup: int, repeats: int
) -> dict[str, Any]:
    """Per page, per repeat: (server ms list, client ms list, body bytes); then verify."""
    import httpx

    out: dict[str, Any] = {"pages": {}}
    with httpx.Client(base_url=base, timeout=300) as c:
        for _ in range(repeats):
            for name, path in pages:
                for _ in range(warmup):
                    c.get(path).raise_for_status()
                srv, cli, size = [], [], 0
                for _ in range(calls):
                    t0 = time.perf_counter()
                    r = c.get(path)
                    cli.append((time.perf_counter() - t0) * 1e3)
                    r.raise_for_status()
                    srv.append(_server_ms(r))
                    size = len(r.content)
                out["pages"].setdefault(name, []).append((srv, cli, size))
        t0 = time.perf_counter()
        r = c.post(  # operators only
            "/api/v1/audit/verify", headers={"Authorization": f"Bearer {_fleet.OPERATOR_TOKEN}"}
        )
        wall = (time.perf_counter() - t0) * 1e3
        r.raise_for_status()
        out["verify"] = (_server_ms(r), wall, r.json())
    return out


def _client_proc(q: Any, *args: Any) -> None:
    q.put(_client(*args))


# -- profiling ---------------------------------------------------------------------------


def _profile(srv: Any, path: str, calls: int, top: int) -> str:
    """cProfile of ``calls`` full requests to ``path`` in this thread; the top functions."""
    import fastapi.dependencies.utils
    import fastapi.routing
    import httpx

    from sentinel.server.http import create_app

    async def inline(func: Any, *args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    saved = fastapi.routing.run_in_threadpool, fastapi.dependencies.utils.run_in_threadpool
    fastapi.routing.run_in_threadpool = inline  # type: ignore[assignment]
    fastapi.dependencies.utils.run_in_threadpool = inline  # type: ignore[assignment]
    try:
        app = create_app(srv.host, list(srv.domains.values()))

        async def go(n: int) -> list[float]:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as c:
                out = []
                for _ in range(n):
                    r = await c.get(path)
                    r.raise_for_status()
                    out.append(_server_ms(r))
                return out

        asyncio.run(go(2))
        prof = cProfile.Profile()
        prof.enable()
        ms = asyncio.run(go(calls))
        prof.disable()
    finally:
        fastapi.routing.run_in_threadpool, fastapi.dependencies.utils.run_in_threadpool = saved
    buf = io.StringIO()
    buf.write(
        f"in-process, {calls} calls, Server-Timing under the profiler: "
        f"median {_fleet.median(ms):.1f} ms\n"
    )
    stats = pstats.Stats(prof, stream=buf).strip_dirs()
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return buf.getvalue()


# -- main --------------------------------------------------------------------------------


class _GcPauses:
    """A ``gc.callbacks`` entry: how long each collection of each generation took."""

    def __init__(self) -> None:
        self.started = 0.0
        self.ms: dict[int, list[float]] = {0: [], 1: [], 2: []}

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.started = time.perf_counter()
        else:
            self.ms[info["generation"]].append((time.perf_counter() - self.started) * 1e3)

    def summary(self) -> str:
        return (
            "; ".join(
                f"gen{g} {len(v)}x max {max(v, default=0):.1f} ms total {sum(v):.0f} ms"
                for g, v in self.ms.items()
            )
            + f"; {len(gc.get_objects()):,} tracked objects"
        )


def _states(eng: Any) -> dict[str, int]:
    return {s.name: n for s, n in sorted(eng.state.state_count.items()) if n}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gpus", type=int, default=10_000)
    parser.add_argument("--per-host", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=10, help="fleet-wide report rounds")
    parser.add_argument("--history-steps", type=int, default=2000, help="10-minute steps")
    parser.add_argument("--fail-fraction", type=float, default=0.01)
    parser.add_argument("--pending", type=int, default=5, help="directives awaiting approval")
    parser.add_argument("--canaries", type=int, default=300)
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--domains", default="", help="domains the server hosts, comma-separated (default: all)"
    )
    parser.add_argument("--client", choices=["process", "thread"], default="process")
    parser.add_argument("--only", default="", help="comma-separated substrings of page names")
    parser.add_argument("--profile", choices=["slow", "all", "none"], default="slow")
    parser.add_argument("--profile-calls", type=int, default=5)
    parser.add_argument("--profile-top", type=int, default=25)
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.freeze() the server process after the history is written (a candidate fix "
        "for the gen-2 collection pauses; off = the server as it is)",
    )
    args = parser.parse_args()
    if args.gpus < (TRACKED_HOST + 2) * args.per_host:
        parser.error(f"--gpus must be at least {(TRACKED_HOST + 2) * args.per_host}")

    print(
        f"machine: {_fleet.machine()}; {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC", flush=True
    )
    domains = tuple(d for d in args.domains.split(",") if d)
    with _fleet.database(args.database) as url, _fleet.server(url, domains) as srv:
        eng = srv.engine
        hosts = _fleet.fleet(args.gpus, -(-args.gpus // args.per_host))
        uuids = [u for us in hosts.values() for u in us]
        tracked = hosts[f"node-{TRACKED_HOST:05d}"]
        setup = time.perf_counter()
        # registered on the simulated clock's start: see _populate
        eng.clock = SimClock(time.time() - (args.history_steps - 1) * STEP_S)
        reg = _fleet.register(eng, hosts)
        picked = _populate(eng, args, uuids, tracked)
        setup = time.perf_counter() - setup
        if args.gc_freeze:
            gc.collect()
            gc.freeze()
        with eng.db.connect() as conn:
            from sqlalchemy import text

            counts = {
                t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in (
                    "fleet_reliability_samples",
                    "fleet_telemetry",
                    "fleet_transitions",
                    "fleet_correlations",
                    "fleet_directives",
                    "fleet_trust_edges",
                )
            }
        print(
            f"[{args.database}] {len(uuids):,} GPUs on {len(hosts):,} hosts; setup "
            f"{setup:.0f}s (registration {reg:.1f}s); ledger {len(eng.ledger):,} entries; "
            f"pending approvals {len(eng.pending)}",
            flush=True,
        )
        print("rows: " + ", ".join(f"{t.removeprefix('fleet_')} {n:,}" for t, n in counts.items()))
        print(f"states before timing: {_states(eng)}", flush=True)

        only = [o for o in args.only.split(",") if o]
        pages = _pages(picked["history_gpu"], picked["healthy_gpu"])
        pages = [
            p
            for p in pages
            if p[0].startswith("/healthz") or not only or any(o in p[0] for o in only)
        ]
        cargs = (srv.http_url, pages, args.calls, args.warmup, args.repeats)
        pauses = _GcPauses()
        gc.callbacks.append(pauses)
        began = time.perf_counter()
        if args.client == "process":
            ctx = mp.get_context("spawn")
            q = ctx.Queue()
            p = ctx.Process(target=_client_proc, args=(q, *cargs))
            p.start()
            res = q.get(timeout=4 * 3600)
            p.join()
        else:
            res = _client(*cargs)
        gc.callbacks.remove(pauses)
        print(
            f"timed in {time.perf_counter() - began:.0f}s (client: "
            f"{'separate process' if args.client == 'process' else 'thread of this process'}, "
            f"httpx, keep-alive); states after: {_states(eng)}"
        )

        rows = []
        for name, reps in res["pages"].items():
            rows.append(
                (
                    name,
                    len(reps[0][0]),
                    _fleet.median([_fleet.pct(r[0], 50) for r in reps]),
                    _fleet.median([_fleet.pct(r[0], 99) for r in reps]),
                    _fleet.median([_fleet.pct(r[1], 50) for r in reps]),
                    _fleet.median([_fleet.pct(r[1], 99) for r in reps]),
                    reps[-1][2],
                    [_fleet.pct(r[0], 99) for r in reps],
                )
            )
        base = rows[0][2]
        print()
        print(
            f"{'page':<38}{'calls':>6}{'srv p50':>9}{'srv p99':>9}{'cli p50':>9}{'cli p99':>9}"
            f"{'×healthz':>10}{'KiB':>8}{'<300ms':>8}   srv p99 per repeat (ms)"
        )
        slow = []
        for name, n, s50, s99, c50, c99, size, per in rows:
            baseline = name.startswith("/healthz")
            verdict = "" if baseline else ("PASS" if s99 < TARGET_MS else "FAIL")
            if verdict == "FAIL" or (args.profile == "all" and not baseline):
                slow.append(name)
            print(
                f"{name:<38}{n:>6}{s50:>9.1f}{s99:>9.1f}{c50:>9.1f}{c99:>9.1f}"
                f"{s50 / base:>10.0f}{size / 1024:>8.1f}{verdict:>8}   "
                + " ".join(f"{x:.1f}" for x in per)
            )
        print(f"transport (client p50 - server p50 of /healthz): {rows[0][4] - rows[0][2]:.1f} ms")
        print(f"server process GC during the timing: {pauses.summary()}")
        srv_ms, wall_ms, body = res["verify"]
        print(
            f"\nPOST /api/v1/audit/verify (once; not a page): server {srv_ms:.0f} ms, client "
            f"{wall_ms:.0f} ms; valid={body['valid']}, {body['entries_verified']:,} entries, "
            f"{body['batches_verified']:,} Merkle batches"
        )

        if args.profile != "none" and slow:
            paths = dict(pages)
            for name in slow:
                print(f"\n== profile of {name} ({paths[name]}) ==")
                print(_profile(srv, paths[name], args.profile_calls, args.profile_top))


if __name__ == "__main__":
    main()
