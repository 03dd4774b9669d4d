"""Memory per tracked (service, model) baseline of the LLM detector.

Warms up ``--keys`` baselines (30 windows of 30 events each, embeddings of 16 numbers) and
reports the process's resident memory growth per baseline (numpy arrays, scikit-learn
models and, with the LSTM autoencoder on, torch weights), Python's own allocations per
baseline (tracemalloc), and the size of each baseline's persisted JSON state.

    .venv/bin/python bench/bench_llm_memory.py [--keys 200] [--lstm off]
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import time
import tracemalloc

from sentinel.llm._traffic import generate
from sentinel.llm.detector import Detector
from sentinel.llm.settings import LlmSettings

START = 1_750_032_000


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keys", type=int, default=200)
    parser.add_argument("--lstm", default="off", choices=("on", "off"))
    args = parser.parse_args()
    keys = [(f"service-{i}", "model") for i in range(args.keys)]
    settings = LlmSettings(lstm=args.lstm, lstm_train_windows=20, warmup_windows=20)
    detector = Detector(settings)
    # Every library loaded and every model class built once before measuring.
    detector.process(list(generate(START, 0.6, [("warm", "up")], rate_per_s=0.5)))
    stream = list(generate(START, 0.5 + settings.window_s * 10 / 3600, keys, rate_per_s=0.5))
    gc.collect()
    before = rss()
    tracemalloc.start()
    detector.process(stream)
    gc.collect()
    py_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    grown = rss() - before
    states = detector.take_dirty()
    state_bytes = sum(len(json.dumps(s)) for _, _, s, _ in states) / len(states)
    warm = sum(1 for k in detector.keys() if detector.baseline(*k).warm) - 1
    print(
        f"machine: {platform.processor() or platform.machine()}, {time.strftime('%Y-%m-%d')}; "
        f"{args.keys} baselines ({warm} past warm-up), LSTM autoencoder {args.lstm}"
    )
    print(f"resident memory per baseline:  {grown / args.keys / 1024:8.1f} KiB")
    print(f"Python allocations per baseline: {py_bytes / args.keys / 1024:6.1f} KiB (tracemalloc)")
    print(f"persisted state per baseline:  {state_bytes / 1024:8.1f} KiB of JSON")


if __name__ == "__main__":
    main()
