"""Dependent chains ``x <- x * a + b``, one per lane: the FMA and tensor probes on the CPU model.

Every healthy SM computes the same chains, so they are computed once per input seed and kept.
Only an SM with per-word faults is recomputed, from its first hit and through every later
operation, until its chains are back on the healthy path or settle on a value they keep. The
result is bit for bit what a step-by-step computation gives (the model rounds the multiply and
the add separately; ``fused`` chains round once, as the GPU does) at a fraction of its cost,
which is what lets a detection curve over many thousands of runs use the GPU's sizes: 65,535
steps of 1,024 lanes per FMA run.
"""

from __future__ import annotations

import numpy as np

from sentinel.fleet.probes._fused import fma32
from sentinel.fleet.probes.faults import LiveFault

_U32 = np.uint32
_CHUNK = 64
"""Steps between two checks of whether the chains have settled or rejoined the healthy path."""


def _same(x: np.ndarray, y: np.ndarray) -> bool:
    """Bit-for-bit equality, so -0.0, +0.0 and NaNs are told apart."""
    return bool(np.array_equal(x.view(_U32), y.view(_U32)))


def pick_operations(
    fault: LiveFault, lanes: np.ndarray, steps: int
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None] | None:
    """The operations ``fault`` picks in one run of ``steps`` steps of chains on ``lanes``:
    ``(scope, steps, chains)``, or ``(scope, None, None)`` when it hits every operation of
    its scope; ``None`` when no chain is in its scope. The GPU backend draws the same picks
    for its kernels as the CPU model, from the same stream."""
    scope = np.flatnonzero(fault.in_scope(lanes, None))
    if scope.size == 0:
        return None
    if fault.spec.word_rate is None:
        return scope, None, None
    picked = fault.pick(steps * scope.size)  # sorted, so grouped by step
    return scope, picked // scope.size, scope[picked % scope.size]


class Chain:
    """``steps`` dependent steps of per-lane ``x * a + b`` (float32), healthy path kept.

    Args:
        x0, a, b: Per-chain float32 start values and coefficients.
        steps: Operations per chain.
        lanes: Warp lane (0..31) that computes each chain, for lane faults.
        fused: Round ``x * a + b`` once, as the GPU's ``fma.rn.f32`` does (what a GPU run
            through the same faults must give), rather than twice like the CPU model.
    """

    def __init__(
        self,
        x0: np.ndarray,
        a: np.ndarray,
        b: np.ndarray,
        steps: int,
        lanes: np.ndarray,
        *,
        fused: bool = False,
    ) -> None:
        self.a, self.b, self.steps, self.lanes, self.fused = a, b, steps, lanes, fused
        path = [x0]
        for _ in range(steps):
            nx = self._fma(path[-1], a, b)
            # Every chain has settled or alternates between two values: from the row before
            # last on, the path repeats with period 2, and ``at`` reads it so.
            if len(path) > 1 and _same(nx, path[-2]):
                break
            path.append(nx)
        self._path = np.stack(path)
        self.golden = self.at(steps, np.arange(len(lanes))).view(_U32).copy()
        """Healthy final words, one per chain."""

    def at(self, step: int | np.ndarray, chains: np.ndarray) -> np.ndarray:
        """The healthy values that operation ``step`` (one, or one per chain) of ``chains``
        reads."""
        last = len(self._path) - 1
        step = np.asarray(step)
        if last > 0:
            step = np.where(step >= last, last - 1 + (step - last + 1) % 2, step)
        return self._path[np.minimum(step, last), chains]

    def run(self, faults: list[LiveFault]) -> np.ndarray:
        """Final words of one SM whose per-word faults in this run are ``faults``."""
        persistent: list[tuple[LiveFault, np.ndarray]] = []
        picks: list[tuple[LiveFault, np.ndarray, np.ndarray]] = []
        for fault in faults:
            if (picked := pick_operations(fault, self.lanes, self.steps)) is None:
                continue
            scope, steps, chains = picked
            if steps is None or chains is None:
                persistent.append((fault, scope))
            elif steps.size:
                picks.append((fault, steps, chains))
        picks = self._effective(picks, persistent)
        if not persistent and not picks:
            return self.golden.copy()
        touched = np.unique(np.concatenate([s for _, s in persistent] + [c for *_, c in picks]))
        final = self._simulate(touched, persistent, _Events(picks, touched))
        out = self.golden.copy()
        out[touched] = final.view(_U32)
        return out

    def _effective(
        self,
        picks: list[tuple[LiveFault, np.ndarray, np.ndarray]],
        persistent: list[tuple[LiveFault, np.ndarray]],
    ) -> list[tuple[LiveFault, np.ndarray, np.ndarray]]:
        """The picks that can change a word: an operand-triggered pick on a chain still on the
        healthy path reads the healthy operand, so one that operand does not trigger is dropped
        (a rare pattern would otherwise have every picked step simulated for nothing)."""
        first = np.full(len(self.lanes), self.steps, np.int64)  # first step that may go astray
        for _, scope in persistent:
            first[scope] = 0
        fires = []
        for fault, steps, chains in picks:
            fired = fault.triggered(self.at(steps, chains).view(_U32))
            fires.append(fired)
            np.minimum.at(first, chains[fired], steps[fired])
        kept = []
        for (fault, steps, chains), fired in zip(picks, fires, strict=True):
            keep = fired | (steps > first[chains])
            if keep.any():
                kept.append((fault, steps[keep], chains[keep]))
        return kept

    def _simulate(
        self,
        touched: np.ndarray,
        persistent: list[tuple[LiveFault, np.ndarray]],
        events: _Events,
    ) -> np.ndarray:
        """Final values of the ``touched`` chains, computed through every hit."""
        a, b = self.a[touched], self.b[touched]
        always = [(f, np.searchsorted(touched, s)) for f, s in persistent]
        pending = events.steps
        k = 0  # the next event
        step = 0 if always else pending[0]
        x = self.at(step, touched).copy()
        previous: np.ndarray | None = None
        with np.errstate(invalid="ignore", over="ignore"):
            while step < self.steps:
                due = k < len(pending) and pending[k] == step
                if always or due:
                    nx = self._step(x, a, b, always + events.at(k) if due else always)
                    k += due
                    step += 1
                    if always and k == len(pending):  # stop once the chains settle or alternate
                        if _same(nx, x):
                            return nx
                        if previous is not None and _same(nx, previous):
                            return nx if (self.steps - step) % 2 == 0 else x
                    previous, x = x, nx
                    continue
                stop = pending[k] if k < len(pending) else self.steps
                step = self._free_run(x, a, b, step, stop, touched)
                if step < 0:  # back on the healthy path
                    if k == len(pending):
                        return self.at(self.steps, touched)
                    step = pending[k]
                    x = self.at(step, touched).copy()
        return x

    def _fma(self, x: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return fma32(x, a, b) if self.fused else np.add(np.multiply(x, a), b)

    def _advance(self, x: np.ndarray, a: np.ndarray, b: np.ndarray, n: int) -> None:
        """``n`` steps of ``x`` in place, with no hit."""
        for _ in range(n):
            if self.fused:
                x[:] = fma32(x, a, b)
            else:
                np.multiply(x, a, out=x)
                np.add(x, b, out=x)

    def _step(
        self,
        x: np.ndarray,
        a: np.ndarray,
        b: np.ndarray,
        hits: list[tuple[LiveFault, np.ndarray]],
    ) -> np.ndarray:
        """One step of every chain, the hits applied to the results their operands trigger."""
        nx = self._fma(x, a, b)
        words, operands = nx.view(_U32), x.view(_U32)
        for fault, idx in hits:
            chosen = idx[fault.triggered(operands[idx])] if fault.triggers else idx
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
            self._advance(x, a, b, stop - step)
            return stop
        while step < stop:
            n = min(_CHUNK, stop - step)
            self._advance(x, a, b, n)
            step += n
            if _same(x, self.at(step, touched)):
                return -1
            nx = self._fma(x, a, b)
            if _same(nx, x):
                return stop
        return step


class _Events:
    """Picked operations merged over faults and grouped by step, chains as ``touched`` indices."""

    def __init__(
        self, picks: list[tuple[LiveFault, np.ndarray, np.ndarray]], touched: np.ndarray
    ) -> None:
        self._faults = [fault for fault, *_ in picks]
        steps = np.concatenate([s for _, s, _ in picks] + [np.zeros(0, np.int64)])
        which = np.concatenate([np.full(len(s), i) for i, (_, s, _) in enumerate(picks)] + [[]])
        where = np.concatenate([np.searchsorted(touched, c) for *_, c in picks] + [[]])
        order = np.argsort(steps, kind="stable")
        steps, self._which, self._where = steps[order], which[order].astype(int), where[order]
        starts = np.flatnonzero(np.diff(steps, prepend=-1))
        self.steps: list[int] = steps[starts].tolist()
        """Steps with at least one hit, ascending."""
        self._bounds = np.append(starts, len(steps)).tolist()

    def at(self, k: int) -> list[tuple[LiveFault, np.ndarray]]:
        """The hits of the ``k``-th step in ``steps``, by fault."""
        lo, hi = self._bounds[k], self._bounds[k + 1]
        where = self._where[lo:hi].astype(np.intp)
        if len(self._faults) == 1:
            return [(self._faults[0], where)]
        which = self._which[lo:hi]
        return [(f, where[which == i]) for i, f in enumerate(self._faults) if (which == i).any()]
