"""Pairwise trust between GPUs from triple-modular-redundancy (TMR) comparisons."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Edge:
    """Comparison history of one unordered pair of GPUs; ``gpu_a < gpu_b``."""

    gpu_a: str
    gpu_b: str
    agreement_count: int
    disagreement_count: int
    last_comparison: float
    trust_score: float
    """``agreement / (agreement + disagreement)``."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Trust among a set of GPUs.

    ``min_trust_score`` and ``mean_trust_score`` are 0.0 when no pair has been compared: no
    evidence is reported as no trust, never as perfect trust.
    """

    edges: tuple[Edge, ...]
    coverage_pct: float
    """Compared pairs as a percentage of all ``n * (n - 1) / 2`` pairs; 0 when ``n < 2``."""
    total_gpus: int
    min_trust_score: float
    mean_trust_score: float


@dataclass(slots=True)
class _Tally:
    agreed: int = 0
    disagreed: int = 0
    last: float = 0.0


def _key(gpu_a: str, gpu_b: str) -> tuple[str, str]:
    return (gpu_a, gpu_b) if gpu_a < gpu_b else (gpu_b, gpu_a)


class TrustGraph:
    """Agreement counts per GPU pair, and the choice of which GPUs to compare next."""

    def __init__(self) -> None:
        self._tallies: dict[tuple[str, str], _Tally] = {}
        self._peers: dict[str, set[str]] = {}

    def record(self, gpu_a: str, gpu_b: str, agreed: bool, ts: float) -> None:
        """Count one comparison of two distinct GPUs, in either order."""
        if gpu_a == gpu_b:
            raise ValueError(f"a GPU cannot be compared with itself: {gpu_a!r}")
        key = _key(gpu_a, gpu_b)
        tally = self._tallies.get(key)
        if tally is None:
            tally = self._tallies[key] = _Tally()
            self._peers.setdefault(gpu_a, set()).add(gpu_b)
            self._peers.setdefault(gpu_b, set()).add(gpu_a)
        if agreed:
            tally.agreed += 1
        else:
            tally.disagreed += 1
        tally.last = max(tally.last, ts)

    def load(self, edges: Iterable[Edge]) -> None:
        """Replace all state with stored ``edges``; trust scores are recomputed from counts."""
        self._tallies.clear()
        self._peers.clear()
        for edge in edges:
            if edge.agreement_count + edge.disagreement_count == 0:
                continue
            key = _key(edge.gpu_a, edge.gpu_b)
            self._tallies[key] = _Tally(
                edge.agreement_count, edge.disagreement_count, edge.last_comparison
            )
            self._peers.setdefault(key[0], set()).add(key[1])
            self._peers.setdefault(key[1], set()).add(key[0])

    def edges(self) -> list[Edge]:
        """Every compared pair, sorted by GPU uuid."""
        return [_edge(key, tally) for key, tally in sorted(self._tallies.items())]

    def edge(self, gpu_a: str, gpu_b: str) -> Edge | None:
        """The edge of one pair (either order), or None if they were never compared."""
        key = _key(gpu_a, gpu_b)
        tally = self._tallies.get(key)
        return None if tally is None else _edge(key, tally)

    def snapshot(self, gpu_uuids: Collection[str]) -> Snapshot:
        """Trust among ``gpu_uuids`` only, so retired GPUs do not skew the figures.

        Pass a set or a dict's keys: membership is tested once per edge.
        """
        members = gpu_uuids
        edges = tuple(
            _edge(key, tally)
            for key, tally in sorted(self._tallies.items())
            if key[0] in members and key[1] in members
        )
        n = len(members)
        pairs = n * (n - 1) // 2
        scores = [edge.trust_score for edge in edges]
        return Snapshot(
            edges=edges,
            coverage_pct=100.0 * len(edges) / pairs if pairs else 0.0,
            total_gpus=n,
            min_trust_score=min(scores, default=0.0),
            mean_trust_score=sum(scores) / len(scores) if scores else 0.0,
        )

    def pick_triple(
        self, candidates: Sequence[str], rng: random.Random
    ) -> tuple[str, str, str] | None:
        """Three distinct GPUs for the next TMR round; None with fewer than three candidates.

        Prefers GPUs compared with the fewest other candidates, and always includes a pair never
        compared when one exists, so coverage of the trust graph keeps growing.
        """
        pool = list(dict.fromkeys(candidates))
        if len(pool) < 3:
            return None
        members = set(pool)
        known = {gpu: self._peers.get(gpu, set()) & members for gpu in pool}
        unexplored = [gpu for gpu in pool if len(known[gpu]) < len(pool) - 1]
        first = _least_known(unexplored or pool, known, rng)
        rest = [gpu for gpu in pool if gpu != first]
        fresh = [gpu for gpu in rest if gpu not in known[first]]
        second = _least_known(fresh or rest, known, rng)
        rest.remove(second)
        new_pairs = {gpu: (gpu not in known[first]) + (gpu not in known[second]) for gpu in rest}
        best = max(new_pairs.values())
        third = _least_known([gpu for gpu in rest if new_pairs[gpu] == best], known, rng)
        return first, second, third


def _least_known(pool: list[str], known: Mapping[str, set[str]], rng: random.Random) -> str:
    fewest = min(len(known[gpu]) for gpu in pool)
    return rng.choice([gpu for gpu in pool if len(known[gpu]) == fewest])


def _edge(key: tuple[str, str], tally: _Tally) -> Edge:
    return Edge(
        gpu_a=key[0],
        gpu_b=key[1],
        agreement_count=tally.agreed,
        disagreement_count=tally.disagreed,
        last_comparison=tally.last,
        trust_score=tally.agreed / (tally.agreed + tally.disagreed),
    )


def tmr_vote(digests: Mapping[str, bytes], quorum: int = 2) -> tuple[bytes | None, list[str]]:
    """Majority vote over result digests keyed by GPU uuid.

    Returns:
        The digest that at least ``quorum`` GPUs produced and no other digest matched as often,
        with the GPUs that produced something else; ``(None, [])`` when no digest wins, since
        without a majority nobody can be called the dissenter.
    """
    if quorum < 1:
        raise ValueError(f"quorum must be >= 1, got {quorum}")
    ranked = Counter(digests.values()).most_common(2)
    if not ranked or ranked[0][1] < quorum or len(ranked) == 2 and ranked[1][1] == ranked[0][1]:
        return None, []
    winner = ranked[0][0]
    return winner, [gpu for gpu, digest in digests.items() if digest != winner]
