"""Monitor overhead on CPU with PyTorch: % of a training step, and per batch of logits.

Training: a ~100M-parameter stack of Linear + LayerNorm layers, batch 8, SGD; step time
with and without TorchTrainingMonitor (loss, grad norm and lr every step) and
TorchInvariantHooks (every LayerNorm and the output), alternating in one process,
median of the repeats. The parameter digest (SHA-256 of every parameter) is timed on
its own and amortised over ``digest_every`` steps.

Inference: InferenceMonitor on 64 x 32k logits (NumPy summary, and the torch
summary the adapter uses) against the forward time of a model producing them.

Usage: .venv/bin/python bench/bench_monitors.py [--repeats 5] [--steps 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from sentinel.fleet.monitors import (
    Anomaly,
    InferenceMonitor,
    InvariantChecker,
    TorchInvariantHooks,
    TorchTrainingMonitor,
    summarize_logits,
    summarize_tensor_logits,
)

GPU = "GPU-bench"
WIDTH, LAYERS, BATCH = 4096, 6, 8
DIGEST_EVERY = 100


class Count:
    def __init__(self) -> None:
        self.n = 0

    def report(self, anomaly: Anomaly) -> None:
        self.n += 1


def _timed(fn: Callable[[], object], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


def training(repeats: int, steps: int) -> None:
    torch.manual_seed(0)
    layers: list[torch.nn.Module] = []
    for _ in range(LAYERS):
        layers += [torch.nn.Linear(WIDTH, WIDTH), torch.nn.LayerNorm(WIDTH), torch.nn.GELU()]
    model = torch.nn.Sequential(*layers)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.SGD(model.parameters(), lr=1e-4)
    x, y = torch.randn(BATCH, WIDTH), torch.randn(BATCH, WIDTH)
    sink = Count()
    monitor: list[TorchTrainingMonitor] = []

    def step() -> None:
        loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        if monitor:
            monitor[0].record_loss(loss)
        opt.step()

    for _ in range(2):
        step()  # warm up allocator and kernels
    plain, watched = [], []
    for _ in range(repeats):
        plain.append(_timed(step, steps))
        tmon = TorchTrainingMonitor(model, opt, sink, gpu_uuid=GPU, digest_every=0)
        hooks = TorchInvariantHooks(model, InvariantChecker(GPU, sink))
        monitor.append(tmon)
        watched.append(_timed(step, steps))
        monitor.clear()
        tmon.remove()
        hooks.remove()
    base, mon = statistics.median(plain), statistics.median(watched)
    digest = statistics.median(_timed(tmon.parameter_digest, 1) for _ in range(3))
    print(f"training: {params / 1e6:.1f}M parameters, batch {BATCH}, {repeats} x {steps} steps")
    print(f"  step without monitors      {base * 1e3:9.1f} ms")
    print(f"  step with monitors + hooks {mon * 1e3:9.1f} ms  ({(mon / base - 1) * 100:+.2f}%)")
    print(
        f"  parameter digest           {digest * 1e3:9.1f} ms  = {digest / base * 100:.0f}% of a "
        f"step; every {DIGEST_EVERY} steps: {digest / DIGEST_EVERY / base * 100:.2f}%"
    )
    print(f"  anomalies reported: {sink.n}")


def inference(repeats: int) -> None:
    torch.manual_seed(0)
    head = torch.nn.Sequential(
        torch.nn.Linear(1024, 4096), torch.nn.GELU(), torch.nn.Linear(4096, 32_000)
    ).eval()
    x = torch.randn(64, 1024)
    with torch.no_grad():
        logits = head(x)
        forward = statistics.median(_timed(lambda: head(x), 5) for _ in range(repeats))
    arr = logits.numpy()
    mon = InferenceMonitor(GPU, Count(), warmup=3)
    np_cost = statistics.median(_timed(lambda: summarize_logits(arr), 5) for _ in range(repeats))
    t_cost = statistics.median(
        _timed(lambda: summarize_tensor_logits(logits), 5) for _ in range(repeats)
    )
    check = statistics.median(
        _timed(lambda: mon.check_summary(summarize_tensor_logits(logits)), 5)
        for _ in range(repeats)
    )
    print("inference: 64 x 32000 logits")
    print(f"  forward (1024 -> 4096 -> 32000)   {forward * 1e3:7.2f} ms")
    print(
        f"  summarize_logits (NumPy)          {np_cost * 1e3:7.2f} ms  "
        f"({np_cost / forward * 100:.1f}% of the forward)"
    )
    print(
        f"  summarize_tensor_logits (torch)   {t_cost * 1e3:7.2f} ms  "
        f"({t_cost / forward * 100:.1f}%)"
    )
    print(
        f"  torch summary + all three checks  {check * 1e3:7.2f} ms  ({check / forward * 100:.1f}%)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    training(args.repeats, args.steps)
    inference(args.repeats)


if __name__ == "__main__":
    main()
