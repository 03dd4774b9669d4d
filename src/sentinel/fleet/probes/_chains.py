"""Dependent chains ``x <- x * a + b``, one per lane: the FMA and tensor probes on the CPU model.

Every healthy SM computes the same chains, so they are computed once per input seed and kept.
Only an SM with per-word faults is recomputed, from its first hit and through every later
operation, until its chains are back on the healthy path or settle on a value they keep. The
result is bit for bit what a step-by-step computation gives (the model rounds the multiply and
the add separately) at a fraction of its cost, which is what lets a detection curve over many
thousands of runs use the GPU's sizes: 4,095 steps of 1,024 lanes per FMA run.
"""

from __future__ import annotations

import numpy as np

from sentinel.fleet.probes.faults import LiveFault

_U32 = np.uint32
_CHUNK = 64
"""Steps between two checks of whether the chains have settled or rejoined the healthy path."""


def _same(x: np.ndarray, y: np.ndarray) -> bool:
    """Bit-for-bit equality, so -0.0, +0.0 and NaNs are told apart."""
    return bool(np.array_equal(x.view(_U32), y.view(_U32)))


class Chain:
    """``steps`` dependent steps of per-lane ``x * a + b`` (float32), healthy path kept.

    Args:
        x0, a, b: Per-chain float32 start values and coefficients.
        steps: Operations per chain.
        lanes: Warp lane (0..31) that computes each chain, for lane faults.
    """

    def __init__(
        self, x0: np.ndarray, a: np.ndarray, b: np.ndarray, steps: int, lanes: np.ndarray
    ) -> None:
        self.a, self.b, self.steps, self.lanes = a, b, steps, lanes
        path = [x0]
        x = x0
        for _ in range(steps):
            nx = np.add(np.multiply(x, a), b)
            if _same(nx, x):  # every chain has settled: the rest of the path is this row
                break
            path.append(nx)
            x = nx
        self._path = np.stack(path)
        self.golden = x.view(_U32).copy()
        """Healthy final words, one per chain."""

    def at(self, step: int, chains: np.ndarray) -> np.ndarray:
        """The healthy values that operation ``step`` of ``chains`` reads."""
        return self._path[min(step, len(self._path) - 1), chains]

    def run(self, faults: list[LiveFault]) -> np.ndarray:
        """Final words of one SM whose per-word faults in this run are ``faults``."""
        persistent: list[tuple[LiveFault, np.ndarray]] = []
        events: dict[int, list[tuple[LiveFault, np.ndarray]]] = {}
        for fault in faults:
            scope = np.flatnonzero(fault.in_scope(self.lanes, None))
            if scope.size == 0:
                continue
            if fault.spec.word_rate is None:
                persistent.append((fault, scope))
                continue
            picked = fault.pick(self.steps * scope.size)  # sorted, so grouped by step
            if picked.size == 0:
                continue
            steps, chains = picked // scope.size, scope[picked % scope.size]
            firsts = np.flatnonzero(np.diff(steps, prepend=-1))
            for step, group in zip(
                steps[firsts].tolist(), np.split(chains, firsts[1:]), strict=True
            ):
                events.setdefault(step, []).append((fault, group))
        if not persistent and not events:
            return self.golden.copy()
        touched = np.unique(
            np.concatenate([s for _, s in persistent] + [c for e in events.values() for _, c in e])
        )
        final = self._simulate(touched, persistent, events)
        out = self.golden.copy()
        out[touched] = final.view(_U32)
        return out

    def _simulate(
        self,
        touched: np.ndarray,
        persistent: list[tuple[LiveFault, np.ndarray]],
        events: dict[int, list[tuple[LiveFault, np.ndarray]]],
    ) -> np.ndarray:
        """Final values of the ``touched`` chains, computed through every hit."""
        a, b = self.a[touched], self.b[touched]
        always = [(f, np.searchsorted(touched, s)) for f, s in persistent]
        hits = {
            step: [(f, np.searchsorted(touched, cs)) for f, cs in found]
            for step, found in events.items()
        }
        pending = sorted(hits)
        step = 0 if always else pending[0]
        x = self.at(step, touched).copy()
        previous: np.ndarray | None = None
        with np.errstate(invalid="ignore", over="ignore"):
            while step < self.steps:
                if always or (pending and pending[0] == step):
                    now = always + hits.get(step, [])
                    if pending and pending[0] == step:
                        pending.pop(0)
                    nx = self._step(x, a, b, now)
                    step += 1
                    if always and not pending:  # stop once the chains settle or alternate
                        if _same(nx, x):
                            return nx
                        if previous is not None and _same(nx, previous):
                            return nx if (self.steps - step) % 2 == 0 else x
                    previous, x = x, nx
                    continue
                stop = pending[0] if pending else self.steps
                step = self._free_run(x, a, b, step, stop, touched)
                if step < 0:  # back on the healthy path
                    if not pending:
                        return self.at(self.steps, touched)
                    step = pending[0]
                    x = self.at(step, touched).copy()
        return x

    @staticmethod
    def _step(
        x: np.ndarray, a: np.ndarray, b: np.ndarray, hits: list[tuple[LiveFault, np.ndarray]]
    ) -> np.ndarray:
        """One step of every chain, the hits applied to the results their operands trigger."""
        nx = np.add(np.multiply(x, a), b)
        words, operands = nx.view(_U32), x.view(_U32)
        for fault, idx in hits:
            chosen = idx[fault.triggered(operands[idx])]
            words[chosen] = fault.hit(words[chosen], sfu=False)
        return nx

    def _free_run(
        self,
        x: np.ndarray,
        a: np.ndarray,
        b: np.ndarray,
        step: int,
        stop: int,
        touched: np.ndarray,
    ) -> int:
        """Step ``x`` in place up to ``stop`` with no hit; where it got to (``stop`` once it has
        settled), or -1 once every chain is back on the healthy path."""
        if stop - step < _CHUNK:  # the next hit is close: no point checking
            for _ in range(stop - step):
                np.multiply(x, a, out=x)
                np.add(x, b, out=x)
            return stop
        while step < stop:
            for _ in range(min(_CHUNK, stop - step)):
                np.multiply(x, a, out=x)
                np.add(x, b, out=x)
                step += 1
            if _same(x, self.at(step, touched)):
                return -1
            nx = np.add(np.multiply(x, a), b)
            if _same(nx, x):
                return stop
        return step
