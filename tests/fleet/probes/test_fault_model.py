"""The subtle fault model: lanes, registers, operand triggers, ULP errors, per-word rates,
heat, clock and phases, each reproducible under its seed, and the probes that find them."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sentinel.fleet.probes import CpuBackend, FaultSpec, workloads
from sentinel.fleet.probes._chains import Chain
from sentinel.fleet.probes._fused import fma32
from sentinel.fleet.probes.faults import Conditions, Corruption, FaultBook, LiveFault
from sentinel.fleet.types import ProbeResult, ProbeType

SM_COUNT = 8
FMA = frozenset({ProbeType.FMA})


def _backend(**kwargs: object) -> CpuBackend:
    return CpuBackend(1, SM_COUNT, hostname="fault-model", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"lane": 32}, "lane 32 is outside a warp"),
        ({"register": 72}, "register 72 is outside 0..71"),
        ({"word_rate": 0.0}, "word_rate 0.0 is not a probability"),
        ({"word_rate": 1.5}, "word_rate 1.5 is not a probability"),
        ({"operand_mask": 1 << 32}, "32-bit words"),
        ({"operand_mask": 0x0F, "operand_value": 0x10}, "sets bits outside operand_mask"),
        ({"operand_range": (2.0, 1.0)}, "is empty"),
        ({"ulp": 0}, "ulp 0 must be"),
        ({"on_s": 10.0}, "must both be 0"),
        ({"on_s": -1.0, "off_s": 5.0}, "must both be 0"),
    ],
)
def test_bad_fault_fields_are_refused_with_what_was_wrong(fields: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FaultSpec("flip_bit", sm_id=0, **fields)


def test_per_word_and_conditional_say_what_a_fault_needs() -> None:
    assert not FaultSpec("flip_bit", 0).per_word
    assert FaultSpec("flip_bit", 0, lane=3).per_word
    assert FaultSpec("ulp_error", 0).per_word
    assert FaultSpec("flip_bit", 0, word_rate=1e-5).per_word
    assert not FaultSpec("flip_bit", 0, min_temperature_c=80).per_word
    assert FaultSpec("flip_bit", 0, min_temperature_c=80).conditional
    assert FaultSpec("flip_bit", 0, on_s=1, off_s=1).conditional
    assert not FaultSpec("flip_bit", 0, lane=1).conditional


def test_a_lane_fault_is_found_on_its_sm_and_named_by_its_lane() -> None:
    backend = _backend()
    backend.inject(0, FaultSpec("flip_bit", sm_id=5, bit=12, lane=7, probe_types=FMA))
    outcome = backend.run(0, ProbeType.FMA)
    assert outcome.result == ProbeResult.FAIL
    assert [d.sm_id for d in outcome.details] == [5]
    assert "lanes 7" in outcome.details[0].detail
    assert f"{workloads.LANES // 32} of {workloads.LANES} words" in outcome.details[0].detail
    assert backend.run(0, ProbeType.TENSOR_CORE).result == ProbeResult.PASS


def test_a_register_fault_hits_only_that_register_in_every_thread() -> None:
    backend = _backend()
    spec = FaultSpec("stuck_bit", sm_id=2, bit=0, register=9)
    backend.inject(0, spec)
    outcome = backend.run(0, ProbeType.REGISTER_FILE)
    assert outcome.result == ProbeResult.FAIL
    detail = outcome.details[0].detail
    assert "registers 9" in detail and outcome.details[0].sm_id == 2
    assert backend.run(0, ProbeType.FMA).result == ProbeResult.PASS, "no register there"


def test_register_writes_match_a_step_by_step_register_file() -> None:
    spec = FaultSpec("flip_bit", 0, bit=3, register=5, word_rate=0.02, operand_mask=0x8, seed=4)
    expected = workloads.register_expected()
    writes = 40
    got = workloads._register_writes(expected, writes, LiveFault(spec, 1))
    fault = LiveFault(spec, 1)
    scope = np.flatnonzero(fault.in_scope(workloads.REGISTER_LANES, workloads.REGISTER_IDS))
    picked = set(fault.pick(scope.size * writes).tolist())
    want = expected.copy()
    for i, word in enumerate(scope.tolist()):
        value = expected[word : word + 1]
        for write in range(writes):
            result = ~value
            if i * writes + write in picked and fault.triggered(value)[0]:
                result = fault.hit(result, sfu=False)
            value = result
        want[word] = value[0]
    assert not np.array_equal(got, expected), "the fault hit something"
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    "specs",
    [
        [FaultSpec("flip_bit", 0, bit=30, word_rate=0.004, seed=1)],
        [FaultSpec("flip_bit", 0, bit=2, word_rate=0.004, lane=3, seed=2)],
        [FaultSpec("stuck_bit", 0, bit=22, word_rate=0.01, seed=3)],
        [FaultSpec("ulp_error", 0, ulp=3, word_rate=0.004, seed=4)],
        [
            FaultSpec(
                "flip_bit", 0, bit=9, word_rate=0.01, operand_mask=0x3, operand_value=1, seed=5
            )
        ],
        [FaultSpec("flip_bit", 0, bit=31, lane=5, seed=6)],
        [FaultSpec("ulp_error", 0, operand_range=(0.0, 1.0), seed=7)],
        # A rare trigger on chains that another fault has knocked off their healthy path:
        # the picks its healthy operands do not trigger must still be tried there.
        [
            FaultSpec("flip_bit", 0, bit=4, word_rate=0.003, seed=8),
            FaultSpec("stuck_bit", 0, bit=1, word_rate=0.05, operand_mask=0xF, seed=9),
        ],
    ],
)
@pytest.mark.parametrize("kind", ["fma", "fma-fused", "tensor"])
def test_chains_through_faults_match_a_step_by_step_computation(
    specs: list[FaultSpec], kind: str
) -> None:
    """The shortcuts (healthy path kept, jumps between hits, picks that cannot trigger
    dropped) give the exact words, rounding twice as the CPU model or once as the GPU."""
    steps = 300
    if kind == "tensor":
        chain = workloads.tensor_chain(steps, seed=3)
    else:
        inputs = workloads.fma_inputs(11)
        x0, a, b = inputs.x0[:64], inputs.a[:64], inputs.b[:64]
        chain = Chain(x0, a, b, steps, np.arange(64) % 32, fused=kind == "fma-fused")
    got = chain.run([LiveFault(spec, 1) for spec in specs])
    x = chain.at(0, np.arange(chain.lanes.size)).copy()
    hits = []
    for spec in specs:
        fault = LiveFault(spec, 1)
        scope = np.flatnonzero(fault.in_scope(chain.lanes, None))
        if spec.word_rate is None:
            found = {(s, int(c)) for s in range(steps) for c in scope}
        else:
            picked = fault.pick(steps * scope.size)
            found = set(
                zip(
                    (picked // scope.size).tolist(),
                    scope[picked % scope.size].tolist(),
                    strict=True,
                )
            )
        hits.append((fault, found))
    with np.errstate(invalid="ignore", over="ignore"):
        for step in range(steps):
            if chain.fused:
                nx = fma32(x, chain.a, chain.b)
            else:
                nx = np.add(np.multiply(x, chain.a), chain.b)
            words = nx.view(np.uint32)
            for fault, found in hits:
                for c in [c for s, c in found if s == step]:
                    if fault.triggered(x.view(np.uint32)[c : c + 1])[0]:
                        words[c] = fault.hit(words[c : c + 1], sfu=False)[0]
            x = nx
    assert not np.array_equal(got, chain.golden), "the fault changed something"
    np.testing.assert_array_equal(got, x.view(np.uint32))


def test_an_operand_range_no_operand_reaches_is_never_seen_and_one_they_reach_is() -> None:
    backend = _backend()
    backend.inject(0, FaultSpec("ulp_error", 1, operand_range=(2.0**127, math.inf)))
    assert all(backend.run(0, ProbeType.FMA).result == ProbeResult.PASS for _ in range(5))
    backend.clear_faults(0)
    backend.inject(0, FaultSpec("ulp_error", 1, operand_range=(2.0**120, 2.0**127)))
    assert backend.run(0, ProbeType.FMA).result == ProbeResult.FAIL


def test_a_bit_flipped_at_every_step_shows_after_the_odd_step_count() -> None:
    """A flip on every step of a chain at its fixed point toggles the value back and forth:
    after an even number of steps it would leave no trace, so the FMA probe's count is odd."""
    inputs = workloads.fma_inputs(1)
    spec = FaultSpec("flip_bit", 0, bit=3, lane=0)
    for steps, changed in ((4096, False), (4095, True)):
        chain = Chain(inputs.x0, inputs.a, inputs.b, steps, np.arange(workloads.LANES) % 32)
        words = chain.run([LiveFault(spec, 1)])
        assert (not np.array_equal(words, chain.golden)) == changed, steps
    backend = _backend()
    backend.inject(0, FaultSpec("flip_bit", 1, bit=3, lane=0, probe_types=FMA))
    assert backend.run(0, ProbeType.FMA).result == ProbeResult.FAIL


def test_operands_are_drawn_anew_every_run_so_a_rare_pattern_is_met() -> None:
    """A fault on one low byte of the operand: the operands of one run rarely hold it, the
    operands of successive runs do, because the CPU backend reseeds them every run."""
    probes = [workloads.fma_inputs(seed).x0.view(np.uint32) & 0xFFFF for seed in range(1, 30)]
    seen = set().union(*(set(p.tolist()) for p in probes))
    assert len(seen) > 10 * len(set(probes[0].tolist())), "each run brings new operands"
    backend = _backend()
    backend.inject(
        0, FaultSpec("flip_bit", 4, bit=5, operand_mask=0xFFFF, operand_value=0xBEEF, seed=1)
    )
    results = [backend.run(0, ProbeType.FMA).result for _ in range(400)]
    assert 0 < results.count(ProbeResult.FAIL) < 400 * 0.1


def test_a_one_ulp_error_fails_a_probe_whose_golden_is_exact() -> None:
    backend = _backend()
    backend.inject(0, FaultSpec("ulp_error", 6, probe_types=frozenset({ProbeType.TRANSCENDENTAL})))
    outcome = backend.run(0, ProbeType.TRANSCENDENTAL)
    assert outcome.result == ProbeResult.FAIL
    assert "words differ from the golden, bits 0x" in outcome.details[0].detail


def test_a_per_word_rate_hits_runs_at_the_rate_its_words_predict() -> None:
    ops = workloads.LANES * workloads.FMA_STEPS[0]  # one FMA run's operations on one SM
    rate = 1 / ops  # one hit per run on average: a run fails with 1 - 1/e
    backend = _backend()
    backend.inject(0, FaultSpec("flip_bit", 3, bit=20, word_rate=rate, probe_types=FMA, seed=9))
    fails = sum(backend.run(0, ProbeType.FMA).result == ProbeResult.FAIL for _ in range(300))
    assert abs(fails / 300 - (1 - math.exp(-1))) < 0.09


def test_every_kind_is_reproducible_under_its_seed() -> None:
    def outcomes(seed: int) -> list[str]:
        backend = _backend(clock=iter(range(0, 10**6, 7)).__next__)
        backend.set_conditions(0, temperature_c=90.0, sm_clock_mhz=1980.0)
        for kind in ("flip_bit", "stuck_bit", "ulp_error"):
            backend.inject(
                0,
                FaultSpec(
                    kind,  # type: ignore[arg-type]
                    seed % SM_COUNT,
                    bit=seed % 32,
                    word_rate=2e-7,
                    rate=0.7,
                    on_s=20,
                    off_s=20,
                    min_temperature_c=85.0,
                    seed=seed,
                ),
            )
        runs = [backend.run(0, p) for _ in range(20) for p in (1, 2, 3, 6)]
        return [f"{o.result}:{[d.detail for d in o.details]}" for o in runs]

    first = outcomes(5)
    assert any("2:" in o for o in first), "some runs failed"
    assert outcomes(5) == first
    assert outcomes(6) != first


def test_heat_and_clock_wake_a_fault_and_unknown_telemetry_does_not() -> None:
    backend = _backend()
    backend.inject(0, FaultSpec("flip_bit", 0, min_temperature_c=80, min_sm_clock_mhz=1900))
    assert backend.run(0, ProbeType.FMA).result == ProbeResult.PASS, "no telemetry yet"
    for temperature, clock, result in [
        (79.9, 1980.0, ProbeResult.PASS),
        (80.0, 1899.0, ProbeResult.PASS),
        (80.0, 1900.0, ProbeResult.FAIL),
        (55.0, 1980.0, ProbeResult.PASS),
    ]:
        backend.set_conditions(0, temperature_c=temperature, sm_clock_mhz=clock)
        assert backend.run(0, ProbeType.FMA).result == result, (temperature, clock)


def test_phases_follow_the_clock_from_a_seeded_offset() -> None:
    now = [0.0]
    backend = _backend(clock=lambda: now[0])
    spec = FaultSpec("flip_bit", 2, on_s=10.0, off_s=30.0, probe_types=FMA, seed=3)
    backend.inject(0, spec)
    awake = []
    for t in range(0, 400, 2):
        now[0] = float(t)
        awake.append(backend.run(0, ProbeType.FMA).result == ProbeResult.FAIL)
    assert sum(awake) / len(awake) == pytest.approx(0.25, abs=0.03)
    changes = sum(a != b for a, b in zip(awake, awake[1:], strict=False))
    assert changes <= 2 * 400 // 40 + 1, "whole phases, not scattered runs"
    book = FaultBook()
    book.inject(0, spec)
    again = [
        bool(book.draw(0, ProbeType.FMA, SM_COUNT, Conditions(float(t))).xor_mask.any())
        for t in range(0, 400, 2)
    ]
    assert again == awake, "the same seed gives the same phase"


def test_words_are_hit_where_the_operand_matches_and_nowhere_else() -> None:
    spec = FaultSpec("flip_bit", 1, bit=0, operand_mask=0xF0, operand_value=0x30)
    corruption = Corruption.none(2)
    corruption.per_word[1] = [LiveFault(spec, 1)]
    words = np.zeros((2, 256), np.uint32)
    operands = np.arange(256, dtype=np.uint32)
    out = corruption.apply(words, np.array([0, 1]), operands=operands)
    assert not out[0].any(), "SM 0 is healthy"
    np.testing.assert_array_equal(np.flatnonzero(out[1]), np.arange(0x30, 0x40))


def test_healthy_runs_with_new_operands_every_run_never_fail() -> None:
    backend = CpuBackend(2, SM_COUNT, hostname="healthy")
    bad = [
        backend.run(i % 2, p, sm_coverage=0.5 if i % 3 else 1.0)
        for i in range(30)
        for p in list(ProbeType)[1:]
    ]
    assert [o.detail for o in bad if o.result != ProbeResult.PASS] == []


def test_the_readme_example_finds_the_lane_fault() -> None:
    readme = (Path(__file__).parents[3] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### What the probes catch: subtle faults", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    scope: dict[str, Any] = {}
    exec(code, scope)
    outcome = scope["outcome"]
    assert outcome.result == ProbeResult.FAIL
    assert [d.sm_id for d in outcome.details] == [17]
    assert "lanes 5" in outcome.details[0].detail
