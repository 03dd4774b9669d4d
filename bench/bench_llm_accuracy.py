"""Precision and recall of the LLM detectors, per anomaly type, on a labelled day.

A day of synthetic traffic (3 services x 2 models, 0.5 requests/s each, with daily
variation of nothing but noise) with three injected 10-minute windows of every anomaly
type at random places, plus three GPUs whose outputs go wrong alone, runs through the
detector with the default settings (LSTM autoencoder on when torch is installed).

An anomaly is a true positive when an injection of its type on its (service, model) (and
its GPU, for GPU-attributed drift) overlaps it, with 5 minutes' grace after the injection
ends; recall counts injections found by an anomaly of their type.

    .venv/bin/python bench/bench_llm_accuracy.py [--hours 24]
"""

from __future__ import annotations

import argparse
import platform
import random
import time
from collections import defaultdict

from sentinel.llm._traffic import Injection, generate, gpu_of
from sentinel.llm.detector import Detector
from sentinel.llm.settings import LlmSettings
from sentinel.llm.types import AnomalyType

KEYS = [(s, m) for s in ("chat", "search", "support") for m in ("gpt-4o", "llama-3-70b")]
START = 1_750_032_000  # a midnight, UTC
GRACE = 300


def plan(hours: float, per_type: int, seed: int) -> list[Injection]:
    rng = random.Random(seed)
    slot = 40 * 60
    first = START + 3 * 3600
    slots = [
        (k, first + i * slot) for k in KEYS for i in range(int((hours * 3600 - 3 * 3600) // slot))
    ]
    rng.shuffle(slots)
    out = []
    kinds: list[AnomalyType | str] = [k for k in AnomalyType for _ in range(per_type)]
    kinds += ["gpu"] * per_type
    for kind, ((service, model), at) in zip(kinds, slots, strict=False):
        if kind == "gpu":
            gpu = gpu_of(service, model, rng.randrange(4))
            out.append(Injection(AnomalyType.OUTPUT_DRIFT, service, model, at, at + 600, gpu))
        else:
            out.append(Injection(AnomalyType(kind), service, model, at, at + 600))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--per-type", type=int, default=3)
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args()
    injections = plan(args.hours, args.per_type, args.seed)
    events = list(generate(START, args.hours, KEYS, injections, rate_per_s=0.5, seed=args.seed))
    settings = LlmSettings()
    detector = Detector(settings)
    t0 = time.perf_counter()
    for i in range(0, len(events), 2000):
        found = detector.process(events[i : i + 2000])
        if i == 0:
            anomalies = dict(found.anomalies)
        else:
            anomalies.update(found.anomalies)
    elapsed = time.perf_counter() - t0

    def label(kind: AnomalyType, gpu: str) -> str:
        return f"{kind.value} (one GPU)" if gpu else kind.value

    def overlaps(a, inj) -> bool:  # type: ignore[no-untyped-def]
        return (
            (a.service, a.model, a.type, a.gpu_uuid) == (inj.service, inj.model, inj.type, inj.gpu)
            and a.window_start < inj.end + GRACE
            and a.window_end > inj.start
        )

    stats: dict[str, list[int]] = defaultdict(
        lambda: [0, 0, 0, 0]
    )  # injected, found, reported, true
    for inj in injections:
        s = stats[label(inj.type, inj.gpu)]
        s[0] += 1
        s[1] += any(overlaps(a, inj) for a in anomalies.values())
    for a in anomalies.values():
        s = stats[label(a.type, a.gpu_uuid)]
        s[2] += 1
        s[3] += any(overlaps(a, inj) for inj in injections)
    print(
        f"machine: {platform.processor() or platform.machine()}, {time.strftime('%Y-%m-%d')}; "
        f"{args.hours:g} h, {len(KEYS)} (service, model) pairs, {len(events):,} events, "
        f"LSTM autoencoder {'on' if detector.lstm else 'off'}"
    )
    print(f"detection: {len(events) / elapsed:,.0f} events/s on one thread")
    print(
        f"{'type':<32} {'injected':>8} {'found':>6} {'recall':>7} {'reported':>9} {'precision':>9}"
    )
    tp = fp = 0
    for name in [label(k, "") for k in AnomalyType] + [label(AnomalyType.OUTPUT_DRIFT, "x")]:
        n_inj, hit, rep, true = stats[name]
        tp, fp = tp + true, fp + rep - true
        recall = f"{hit / n_inj:.2f}" if n_inj else "-"
        precision = f"{true / rep:.2f}" if rep else "-"
        print(f"{name:<32} {n_inj:>8} {hit:>6} {recall:>7} {rep:>9} {precision:>9}")
    false: dict[str, int] = defaultdict(int)
    for a in anomalies.values():
        if not any(overlaps(a, inj) for inj in injections):
            false[f"{a.type.value}/{a.method.value}"] += 1
    print(
        f"all anomalies: {tp + fp}, false: {fp}; "
        f"false by type/method: {dict(sorted(false.items()))}"
    )


if __name__ == "__main__":
    main()
