"""Legitimate ingestion under poison input, through the real gRPC API, SQLite and PostgreSQL.

Registers a fleet (default 10,000 H100 GPUs on 100 hosts), then ingests for ``--seconds``
(batches of 500 probe reports from ``--threads`` client threads in the server's process,
as ``bench_ingest.py``'s ``grpc`` mode) while another client process sends every poison
kind below at ``--poison-rate`` requests/s each, in every other window of ``--window``
seconds:

* telemetry with ``ecc_double_bit`` = 2^64-1 and ``throttle_reasons`` = 2^63;
* a config acknowledgement with ``config_version`` = 2^64-1;
* a probe report with a NUL byte in ``detail``, one dated -1e18 s, one with nanos -1;
* telemetry with a NaN temperature;
* a registration with a NUL byte in the hostname;
* bytes that are no protobuf message at all.

Short alternating windows keep a shared, noisy machine from favouring either side. A
batch counts for the window it completes in. The ratio is the reports/s of the poisoned
windows over that of the clean ones, over the whole run; the table also shows the median
ratio of each poisoned window to the clean window before it, the failed legitimate
batches (any error, or an ack that does not accept all 500 reports) and how the poison
was answered. First it times the edge's own cost: ``screen_batch`` on one valid batch of
500 reports, against decoding that batch.

Usage: .venv/bin/python bench/bench_poison.py [--gpus N] [--seconds S] [--runs R]
       [--window W] [--database sqlite|postgresql|both]
"""

from __future__ import annotations

import argparse
import collections
import itertools
import multiprocessing as mp
import os
import sys
import threading
import time
from datetime import datetime, timezone
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _fleet  # noqa: E402
import grpc  # noqa: E402

from sentinel.v1 import agent_pb2, types_pb2  # noqa: E402

BATCH = 500
AUTH = (("authorization", f"Bearer {_fleet.OPERATOR_TOKEN}"),)
AGENT = "/sentinel.v1.AgentService/"


def _poison(gpu: str, host: str) -> list[tuple[str, str, bytes]]:
    """(kind, method, serialized request) of each poison kind."""
    stamp_now = int(time.time())

    def telemetry(**kw: Any) -> bytes:
        s = agent_pb2.GpuTelemetry(**{"gpu_uuid": gpu, "temperature_c": 50, "power_w": 300, **kw})
        s.timestamp.seconds = stamp_now
        return agent_pb2.TelemetryBatch(samples=[s]).SerializeToString()

    def probe(n: int, **kw: Any) -> bytes:
        r = agent_pb2.ProbeReport(report_id=f"poison-{n}", gpu_uuid=gpu, probe_type=1, **kw)
        if not r.HasField("timestamp"):
            r.timestamp.seconds = stamp_now
        return agent_pb2.ProbeReportBatch(reports=[r]).SerializeToString()

    old = agent_pb2.ProbeReport().timestamp
    old.seconds = -(10**18)
    bad_nanos = agent_pb2.ProbeReport().timestamp
    bad_nanos.seconds, bad_nanos.nanos = stamp_now, -1
    return [
        ("ecc 2^64-1", "ReportTelemetry", telemetry(ecc_double_bit=2**64 - 1)),
        ("throttle 2^63", "ReportTelemetry", telemetry(throttle_reasons=2**63)),
        (
            "config_version 2^64-1",
            "AckConfig",
            types_pb2.ConfigAck(
                component_id=host, applied=True, config_version=2**64 - 1
            ).SerializeToString(),
        ),
        ("NUL in detail", "ReportProbeResults", probe(1, result=2, detail="bad\x00bits")),
        ("-1e18 s", "ReportProbeResults", probe(2, result=2, timestamp=old)),
        ("nanos -1", "ReportProbeResults", probe(3, result=2, timestamp=bad_nanos)),
        ("NaN temperature", "ReportTelemetry", telemetry(temperature_c=float("nan"))),
        (
            "NUL hostname",
            "RegisterAgent",
            agent_pb2.RegisterAgentRequest(hostname=f"{host}\x00").SerializeToString(),
        ),
        ("undecodable", "ReportProbeResults", b"\xff\xff\xff\xff"),
    ]


def _poison_client(
    address: str,
    poison: list[tuple[str, str, bytes]],
    rate: float,
    active: Any,
    stop: Any,
    out: Any,
) -> None:
    """Another client process: sends each poison kind ``rate`` times a second while
    ``active`` is set, until ``stop``; puts the count of each answer on ``out``."""
    channel = grpc.insecure_channel(address)
    calls = [
        (
            kind,
            channel.unary_unary(
                AGENT + method,
                response_deserializer=agent_pb2.ReportAck.FromString
                if method.startswith("Report")
                else None,
            ),
            payload,
        )
        for kind, method, payload in poison
    ]
    answers: collections.Counter[str] = collections.Counter()
    due = time.perf_counter()
    while not stop.wait(max(0.0, due - time.perf_counter())):
        due += 1.0 / rate
        if not active.is_set():
            continue
        for kind, call, payload in calls:
            try:
                answer = call(payload, metadata=AUTH, timeout=30)
            except grpc.RpcError as exc:
                answers[f"{kind}: {exc.code().name}"] += 1
                continue
            if not isinstance(answer, agent_pb2.ReportAck):
                answers[f"{kind}: OK"] += 1
            elif answer.rejected and not answer.accepted:
                answers[f"{kind}: refused in ReportAck.rejected"] += 1
            else:
                answers[f"{kind}: ACCEPTED"] += 1
    channel.close()
    out.put(dict(answers))


def _ingest(
    address: str, payloads: list[bytes], seconds: float, threads: int
) -> list[tuple[float, int, bool]]:
    """Send pre-serialized ProbeReportBatch payloads from ``threads`` threads until time is
    up; (completion time, reports accepted, whether the batch succeeded) per batch."""
    channel = grpc.insecure_channel(address, options=[("grpc.max_send_message_length", 64 << 20)])
    grpc.channel_ready_future(channel).result(timeout=10)
    call = channel.unary_unary(
        AGENT + "ReportProbeResults", response_deserializer=agent_pb2.ReportAck.FromString
    )
    it = iter(payloads)
    lock = threading.Lock()
    done: list[tuple[float, int, bool]] = []
    deadline = time.perf_counter() + seconds

    def worker() -> None:
        while time.perf_counter() < deadline:
            with lock:
                payload = next(it, None)
            if payload is None:  # the pool ran out: the caller sees fewer batches
                return
            try:
                ack = call(payload, metadata=AUTH, timeout=60)
                accepted, ok = ack.accepted, ack.accepted == BATCH and not ack.rejected
            except grpc.RpcError:
                accepted, ok = 0, False
            with lock:
                done.append((time.perf_counter(), accepted, ok))

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    channel.close()
    return done


def _toggle(active: Any, window: float, seconds: float) -> list[tuple[float, bool]]:
    """Clear and set ``active`` every ``window`` seconds; (start, poisoned) per window."""
    windows = []
    began = time.perf_counter()
    for k in range(int(seconds / window)):
        poisoned = k % 2 == 1
        if poisoned:
            active.set()
        else:
            active.clear()
        windows.append((time.perf_counter(), poisoned))
        time.sleep(max(0.0, began + (k + 1) * window - time.perf_counter()))
    active.clear()
    windows.append((time.perf_counter(), False))
    return windows


def _edge_cost(repeats: int = 50) -> tuple[float, float]:
    """Median seconds to check, and to decode, one valid batch of 500 probe reports."""
    from sentinel.fleet.validation import screen_batch

    batch = _fleet.make_batches([_fleet.gpu_uuid(i) for i in range(100)], 1, BATCH, seed=1)[0]
    payload = batch.SerializeToString()
    checks, decodes = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        decoded = agent_pb2.ProbeReportBatch.FromString(payload)
        t1 = time.perf_counter()
        assert not screen_batch(decoded)
        checks.append(time.perf_counter() - t1)
        decodes.append(t1 - t0)
    return _fleet.median(checks), _fleet.median(decodes)


def bench_db(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    with _fleet.database(kind) as url, _fleet.server(url) as srv:
        hosts = _fleet.fleet(args.gpus, args.hosts)
        uuids = [u for us in hosts.values() for u in us]
        reg = _fleet.register(srv.engine, hosts)
        print(f"[{kind}] registered {len(uuids):,} GPUs on {len(hosts):,} hosts in {reg:.1f}s")
        host, target = next(iter(hosts.items()))
        poison = _poison(target[0], host)
        n_batches = int(args.seconds * args.max_rate / BATCH) + 1
        warm = _fleet.make_batches(uuids, 40, BATCH, seed=0, tag="warm")
        _ingest(srv.address, [b.SerializeToString() for b in warm], 60.0, args.threads)
        payloads = [
            b.SerializeToString()
            for b in _fleet.make_batches(uuids, n_batches, BATCH, seed=1, tag="legit")
        ]
        ctx = mp.get_context("spawn")
        active, stop, out = ctx.Event(), ctx.Event(), ctx.Queue()
        client = ctx.Process(
            target=_poison_client,
            args=(srv.address, poison, args.poison_rate, active, stop, out),
        )
        client.start()
        windows: list[tuple[float, bool]] = []
        toggler = threading.Thread(
            target=lambda: windows.extend(_toggle(active, args.window, args.seconds))
        )
        toggler.start()
        done = _ingest(srv.address, payloads, args.seconds, args.threads)
        toggler.join()
        stop.set()
        answers = collections.Counter(out.get(timeout=60))
        client.join()
        if len(done) == len(payloads):
            raise SystemExit(f"[{kind}] the batch pool ran out before the time: raise --max-rate")
        del payloads
        # reports/s of each complete window, in order
        rates: list[tuple[float, bool]] = []
        for (start, poisoned), (end, _) in itertools.pairwise(windows):
            got = sum(n for t, n, _ in done if start <= t < end)
            rates.append((got / (end - start), poisoned))
        totals = {flag: [r for r, p in rates if p is flag] for flag in (False, True)}
        clean, poisoned_rate = (_fleet.median(totals[f]) for f in (False, True))
        ratio = (sum(totals[True]) / len(totals[True])) / (sum(totals[False]) / len(totals[False]))
        pairs = [p[0] / c[0] for c, p in itertools.pairwise(rates) if p[1] and c[0] > 0]
        result = {
            "db": kind,
            "clean": clean,
            "poisoned": poisoned_rate,
            "ratio": ratio,
            "pair_ratio": _fleet.median(pairs),
            "windows": len(rates),
            "failed": sum(1 for *_, ok in done if not ok),
            "batches": len(done),
            "answers": answers,
            "kinds": len(poison),
        }
        print(
            f"[{kind}] {len(rates)} windows: clean median {clean:,.0f} reports/s, poisoned "
            f"median {poisoned_rate:,.0f}; ratio {ratio:.2f}; {result['failed']} of "
            f"{len(done)} legitimate batches failed",
            flush=True,
        )
        return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gpus", type=int, default=10_000)
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the run")
    parser.add_argument(
        "--window", type=float, default=2.0, help="seconds with, then without, poison"
    )
    parser.add_argument("--threads", type=int, default=4, help="legitimate client threads")
    parser.add_argument(
        "--poison-rate", type=float, default=5.0, help="requests/s of each poison kind"
    )
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument(
        "--max-rate", type=float, default=20_000, help="reports/s the batch pool can feed"
    )
    args = parser.parse_args()
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    print(
        f"machine: {_fleet.machine()}; {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC", flush=True
    )
    check, decode = _edge_cost()
    print(
        f"edge check of a {BATCH}-report batch: {check * 1e3:.2f} ms "
        f"({check / BATCH * 1e6:.2f} us/report; decoding it: {decode * 1e3:.2f} ms)",
        flush=True,
    )
    results = [bench_db(kind, args) for kind in kinds]
    print()
    print(
        f"{'database':<11}{'windows':>8}{'clean reports/s':>16}{'poisoned':>10}{'ratio':>7}"
        f"{'window pairs':>13}{'failed legit batches':>22}"
    )
    for r in results:
        print(
            f"{r['db']:<11}{r['windows']:>8}{r['clean']:>16,.0f}{r['poisoned']:>10,.0f}"
            f"{r['ratio']:>7.2f}{r['pair_ratio']:>13.2f}"
            f"{str(r['failed']) + ' of ' + str(r['batches']):>22}"
        )
    for r in results:
        total = sum(r["answers"].values())
        print(
            f"[{r['db']}] {total} poison requests ({r['kinds']} kinds at {args.poison_rate:g}/s "
            "each): " + ", ".join(f"{k} x{n}" for k, n in sorted(r["answers"].items()))
        )


if __name__ == "__main__":
    main()
