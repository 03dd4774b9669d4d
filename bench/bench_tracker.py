"""Tracker CPU cost at 1 Hz: ours against the published ``resource-tracker`` (seed 001).

Both track the same workload (a process burning one core and holding 256 MiB) for
``--seconds`` in a fresh interpreter each; the figure is the CPU time (user + system)
the tracker spent, from just before ``start()`` to just after ``stop()``: the
interpreter's own time plus that of the processes it started and reaped (the
published tracker samples in two forked processes and, where ``nvidia-smi`` exists,
starts it twice a second). Imports are outside the window. Both run local-only (no
upload) and without the published tracker's one-off server/cloud discovery. Trials
alternate; the medians and their ratio are printed.

    python bench/bench_tracker.py --seconds 30 --repeat 5 [--gpu]

With ``--gpu`` the workload multiplies matrices on the GPU instead (torch), so that
both trackers have per-process GPU usage to read.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time

WORKLOAD = (
    "block = bytearray(256 * 2**20)\n"
    "for i in range(0, len(block), 4096): block[i] = 1\n"
    "while True: pass\n"
)
GPU_WORKLOAD = (
    "import torch\n"
    "a = torch.randn(8192, 8192, device='cuda')\n"
    "while True: a = (a @ a).clamp_(-1, 1)\n"
)


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + reaped.ru_utime + reaped.ru_stime


def _measure(which: str, pid: int, seconds: float) -> None:
    """One trial, in this (fresh) interpreter: prints the tracker's CPU seconds as JSON."""
    if which == "ours":
        from sentinel.runs.tracker import ResourceTracker

        with tempfile.NamedTemporaryFile(suffix=".csv") as out:
            tracker = ResourceTracker(pid, interval=1.0, token="", csv_path=out.name)
            before = _cpu()
            tracker.start()
            time.sleep(seconds)
            tracker.stop()
            after = _cpu()
            samples = tracker.samples
    else:
        from resource_tracker import ResourceTracker as Published

        published = Published(pid=pid, interval=1, discover_server=False, discover_cloud=False)
        before = _cpu()
        published.start()
        time.sleep(seconds)
        published.stop()
        after = _cpu()
        samples = published.n_samples
    print(json.dumps({"cpu_s": after - before, "samples": samples}))


def _published_version() -> str:
    try:
        return importlib.metadata.version("resource-tracker")
    except importlib.metadata.PackageNotFoundError:  # on the path without its metadata
        from resource_tracker._version import __version__

        return str(__version__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--gpu", action="store_true", help="the workload keeps an NVIDIA GPU busy (needs torch)"
    )
    parser.add_argument("--trial", choices=["ours", "published"], help=argparse.SUPPRESS)
    parser.add_argument("--pid", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.trial:
        _measure(args.trial, args.pid, args.seconds)
        return
    workload = subprocess.Popen([sys.executable, "-c", GPU_WORKLOAD if args.gpu else WORKLOAD])
    results: dict[str, list[float]] = {"ours": [], "published": []}
    try:
        for trial in range(args.repeat):
            for which in ("ours", "published") if trial % 2 == 0 else ("published", "ours"):
                out = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--trial",
                        which,
                        "--pid",
                        str(workload.pid),
                        "--seconds",
                        str(args.seconds),
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                measured = json.loads(out.stdout.strip().splitlines()[-1])
                results[which].append(measured["cpu_s"])
                print(
                    f"trial {trial + 1} {which:9s} {measured['cpu_s'] * 1000:8.1f} ms CPU "
                    f"({measured['samples']} samples)"
                )
    finally:
        workload.kill()
        workload.wait()
    ours, theirs = (statistics.median(results[k]) for k in ("ours", "published"))
    per_sample = 1000 / args.seconds
    print(
        f"\nresource-tracker {_published_version()}, "
        f"{args.seconds:g} s at 1 Hz, "
        f"median of {args.repeat}"
    )
    print(f"ours:      {ours * per_sample:6.2f} ms CPU per second tracked")
    print(f"published: {theirs * per_sample:6.2f} ms CPU per second tracked")
    print(f"ratio ours/published: {ours / theirs:.2f}")


if __name__ == "__main__":
    main()
