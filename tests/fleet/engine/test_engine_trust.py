"""Trust graph: edges, snapshots, triple choice, storage round trip, TMR vote."""

from __future__ import annotations

import itertools
import random

import pytest

from sentinel.fleet.engine.trust import Edge, TrustGraph, tmr_vote


def test_record_keys_unordered_pairs() -> None:
    graph = TrustGraph()
    graph.record("b", "a", True, 10.0)
    graph.record("a", "b", True, 30.0)
    graph.record("a", "b", False, 20.0)
    (edge,) = graph.edges()
    assert edge == Edge("a", "b", 2, 1, 30.0, edge.trust_score)
    assert edge.trust_score == pytest.approx(2 / 3)


def test_record_rejects_self_comparison() -> None:
    with pytest.raises(ValueError, match="compared with itself"):
        TrustGraph().record("a", "a", True, 0.0)


def test_snapshot() -> None:
    graph = TrustGraph()
    graph.record("a", "b", True, 1.0)
    graph.record("a", "c", False, 1.0)
    graph.record("a", "retired", True, 1.0)
    snap = graph.snapshot(["a", "b", "c", "d"])
    assert [(e.gpu_a, e.gpu_b) for e in snap.edges] == [("a", "b"), ("a", "c")]
    assert snap.total_gpus == 4
    assert snap.coverage_pct == pytest.approx(100 * 2 / 6)
    assert snap.min_trust_score == 0.0
    assert snap.mean_trust_score == pytest.approx(0.5)


def test_snapshot_without_edges() -> None:
    snap = TrustGraph().snapshot(["a"])
    assert (snap.edges, snap.coverage_pct, snap.total_gpus) == ((), 0.0, 1)
    assert (snap.min_trust_score, snap.mean_trust_score) == (0.0, 0.0)


def test_load_round_trip() -> None:
    graph = TrustGraph()
    graph.record("x", "y", True, 5.0)
    graph.record("y", "z", False, 6.0)
    restored = TrustGraph()
    restored.load([*graph.edges(), Edge("p", "q", 0, 0, 0.0, 0.0)])
    assert restored.edges() == graph.edges()
    restored.record("x", "y", False, 7.0)
    assert restored.edges()[0] == Edge("x", "y", 1, 1, 7.0, 0.5)


def test_pick_triple_needs_three_distinct() -> None:
    rng = random.Random(0)
    assert TrustGraph().pick_triple(["a", "b", "b"], rng) is None
    triple = TrustGraph().pick_triple(["a", "b", "b", "c"], rng)
    assert triple is not None
    assert sorted(triple) == ["a", "b", "c"]


def test_pick_triple_includes_an_uncompared_pair() -> None:
    gpus = [f"g{i}" for i in range(6)]
    graph = TrustGraph()
    pairs = list(itertools.combinations(gpus, 2))
    missing = ("g2", "g4")
    for a, b in pairs:
        if (a, b) != missing:
            graph.record(a, b, True, 0.0)
    for seed in range(20):
        triple = graph.pick_triple(gpus, random.Random(seed))
        assert triple is not None
        assert set(missing) <= set(triple)


def test_pick_triple_grows_coverage_to_full() -> None:
    gpus = [f"g{i}" for i in range(7)]
    graph = TrustGraph()
    rng = random.Random(1)
    rounds = 0
    while graph.snapshot(gpus).coverage_pct < 100.0:
        triple = graph.pick_triple(gpus, rng)
        assert triple is not None
        assert len(set(triple)) == 3
        for a, b in itertools.combinations(triple, 2):
            graph.record(a, b, True, float(rounds))
        rounds += 1
        assert rounds <= 21  # 21 pairs: every round must add at least one
    assert graph.snapshot(gpus).min_trust_score == 1.0


def test_pick_triple_prefers_least_covered_gpus() -> None:
    graph = TrustGraph()
    for a, b in itertools.combinations(["a", "b", "c", "d"], 2):
        graph.record(a, b, True, 0.0)
    for seed in range(10):
        triple = graph.pick_triple(["a", "b", "c", "d", "new1", "new2"], random.Random(seed))
        assert triple is not None
        assert {"new1", "new2"} <= set(triple)


def test_tmr_vote_majority_and_dissenter() -> None:
    assert tmr_vote({"a": b"x", "b": b"y", "c": b"x"}) == (b"x", ["b"])
    assert tmr_vote({"a": b"x", "b": b"x", "c": b"x"}) == (b"x", [])


def test_tmr_vote_without_quorum() -> None:
    assert tmr_vote({"a": b"x", "b": b"y", "c": b"z"}) == (None, [])
    assert tmr_vote({"a": b"x", "b": b"x", "c": b"y"}, quorum=3) == (None, [])
    assert tmr_vote({"a": b"x", "b": b"x", "c": b"y", "d": b"y"}) == (None, [])
    assert tmr_vote({}) == (None, [])


def test_tmr_vote_rejects_bad_quorum() -> None:
    with pytest.raises(ValueError, match="quorum must be >= 1"):
        tmr_vote({"a": b"x"}, quorum=0)
