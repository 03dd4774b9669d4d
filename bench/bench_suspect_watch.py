"""How much sooner a real fault on a SUSPECT GPU is confirmed when the agent watches it.

A real server and a real agent (CPU backend, one device of 32 SMs) with an intermittent
bit flip on one SM (hit on half the runs that cover it). The FMA probe covers a quarter
of the SMs per run, every 60 s scaled down by ``--scale``. The engine's ``suspect_below``
is raised so that the first failure makes the GPU SUSPECT; the figure is the time from
SUSPECT to QUARANTINED (three failures within the rate window), in FMA periods, with
the watch (a SUSPECT GPU probed 4x as often over all its SMs) and without it (the
agent never told), over the same fault seeds.

    .venv/bin/python bench/bench_suspect_watch.py [--trials 5] [--scale 0.01]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from sentinel.core.settings import ServerSettings
from sentinel.fleet.agent import Agent
from sentinel.fleet.probes import CpuBackend, FaultSpec
from sentinel.server.app import SentinelServer
from sentinel.v1 import types_pb2

_SUSPECT, _QUARANTINED = 2, 3
_PERIOD_S = 60


def _trial(seed: int, scale: float, watch: bool) -> float:
    """Seconds from SUSPECT to QUARANTINED for one fault seed."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = ServerSettings(grpc_port=0, http_port=0, data_dir=Path(tmp) / "server")
        server = SentinelServer(settings).start()
        engine = server.engine
        changes: dict[int, float] = {}
        reached = threading.Event()

        def on_event(kind: str, payload: Any) -> None:
            if kind == "state":
                changes.setdefault(payload.state, time.monotonic())
                if payload.state == _QUARANTINED:
                    reached.set()

        engine.add_listener(on_event)
        for parameter, value in (("suspect_recover_score", 0.99), ("suspect_below", 0.985)):
            threshold = types_pb2.ThresholdUpdate(
                component="engine", parameter=parameter, value=value
            )
            engine.update_config(types_pb2.ConfigUpdate(threshold=threshold)).result()
        for update in (
            types_pb2.ConfigUpdate(
                probe_schedule=types_pb2.ProbeScheduleUpdate(
                    entries=[
                        types_pb2.ProbeScheduleEntry(
                            type=1,
                            period_seconds=_PERIOD_S,
                            sm_coverage=0.25,
                            priority=1,
                            enabled=True,
                            timeout_ms=5000,
                        )
                    ]
                )
            ),
        ):
            engine.update_config(update).result()
        backend = CpuBackend(1, 32, hostname="bench-host")
        backend.inject(0, FaultSpec("flip_bit", sm_id=5, bit=3, rate=0.5, seed=seed))
        token = server.tokens.create("agent", host="bench-host")[1]
        agent = Agent(
            server.address,
            backend,
            token=token,
            hostname="bench-host",
            data_dir=Path(tmp) / "agent",
            schedule_scale=scale,
        )
        if not watch:  # the agent as it was: never told that the GPU is SUSPECT
            agent._scheduler.set_watched = lambda device, watched: False  # type: ignore[method-assign]
        agent.start()
        try:
            if not reached.wait(600 * _PERIOD_S * scale):
                raise RuntimeError(f"seed {seed}: no quarantine; changes {changes}")
        finally:
            agent.stop()
            server.stop()
        return changes[_QUARANTINED] - changes[_SUSPECT]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--scale", type=float, default=0.01)
    args = parser.parse_args()
    period = _PERIOD_S * args.scale
    results: dict[bool, list[float]] = {True: [], False: []}
    for seed in range(args.trials):
        for watch in (False, True):
            results[watch].append(_trial(seed, args.scale, watch) / period)
    without, with_watch = (statistics.median(results[w]) for w in (False, True))
    print(f"SUSPECT -> QUARANTINED, median over {args.trials} fault seeds, in FMA periods:")
    print(f"  without the watch: {without:.2f}  ({', '.join(f'{v:.2f}' for v in results[False])})")
    print(
        f"  with the watch:    {with_watch:.2f}  ({', '.join(f'{v:.2f}' for v in results[True])})"
    )
    print(f"  confirmed {without / with_watch:.1f}x sooner")


if __name__ == "__main__":
    main()
