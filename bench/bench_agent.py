"""The agent's own CPU use between probes: CPU backend, default schedule, a real server.

The server runs in a child process so its work is not counted. The agent's process CPU
time over the window (``time.process_time``) minus the CPU time of the probe and TMR
calls themselves (``time.thread_time`` on the threads that ran them) is what the agent
costs to schedule, buffer, heartbeat and deliver. Target: under 2% of one core.

    .venv/bin/python bench/bench_agent.py [--seconds 60] [--devices 8] [--sms 16]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from sentinel.fleet.agent import Agent
from sentinel.fleet.probes import CpuBackend

_SERVER = """
import sys, time
from pathlib import Path
from sentinel.server.app import SentinelServer
from sentinel.core.settings import ServerSettings
s = SentinelServer(ServerSettings(grpc_port=0, http_port=0, data_dir=Path(sys.argv[1]))).start()
print(s.address, s.tokens.create("agent", host="bench-host")[1], flush=True)
sys.stdin.read()
s.stop()
"""


class _Metered(CpuBackend):
    """The real CPU backend, with the CPU time of each probe and digest added up."""

    probe_cpu_s = 0.0
    probes = 0

    def _count(self, started: float) -> None:
        with _LOCK:
            _Metered.probe_cpu_s += time.thread_time() - started
            _Metered.probes += 1

    def run(self, device_index: int, probe_type: int, **kwargs: Any) -> Any:
        started = time.thread_time()
        try:
            return super().run(device_index, probe_type, **kwargs)
        finally:
            self._count(started)

    def tmr_digest(self, device_index: int, seed: int) -> bytes:
        started = time.thread_time()
        try:
            return super().tmr_digest(device_index, seed)
        finally:
            self._count(started)


_LOCK = threading.Lock()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--devices", type=int, default=8)
    parser.add_argument("--sms", type=int, default=16)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen(
            [sys.executable, "-c", _SERVER, str(Path(tmp) / "server")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None
            address, token = server.stdout.readline().split()
            backend = _Metered(args.devices, args.sms, hostname="bench-host")
            agent = Agent(
                address, backend, token=token, hostname="bench-host", data_dir=Path(tmp) / "agent"
            )
            cpu0, wall0 = time.process_time(), time.monotonic()
            agent.start()
            time.sleep(args.seconds)  # the measured window: the agent runs on its own
            cpu = time.process_time() - cpu0
            wall = time.monotonic() - wall0
            probe_cpu, probes = _Metered.probe_cpu_s, _Metered.probes
            agent.stop()
        finally:
            assert server.stdin is not None
            server.stdin.close()
            server.wait(30)

    agent_cpu = cpu - probe_cpu
    rows = [
        ("window (wall s)", f"{wall:.1f}"),
        ("devices x SMs", f"{args.devices} x {args.sms}"),
        ("probe runs", str(probes)),
        ("reports delivered", str(agent.stats.delivered)),
        ("heartbeats", str(agent.stats.heartbeats)),
        ("process CPU (s)", f"{cpu:.3f}"),
        ("probe CPU (s)", f"{probe_cpu:.3f}"),
        ("agent CPU between probes (s)", f"{agent_cpu:.3f}"),
        ("agent CPU, % of one core", f"{100 * agent_cpu / wall:.3f}"),
        ("target, % of one core", "< 2"),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"| {'figure'.ljust(width)} | value |")
    print(f"| {'-' * width} | ----- |")
    for k, v in rows:
        print(f"| {k.ljust(width)} | {v} |")


if __name__ == "__main__":
    main()
