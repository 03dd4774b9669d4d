"""The CPU backend: real computations, injected faults detected and attributed to their SM."""

from __future__ import annotations

import numpy as np
import pytest

from sentinel.fleet.probes import CpuBackend, FaultSpec, aes, workloads
from sentinel.fleet.probes.faults import Corruption
from sentinel.fleet.types import ProbeResult, ProbeType

PROBES = list(ProbeType)[1:]
BIT_EXACT = [p for p in PROBES if p != ProbeType.TRANSCENDENTAL]
SM_COUNT = 8


@pytest.fixture
def backend() -> CpuBackend:
    return CpuBackend(2, SM_COUNT, hostname="test-host", memory_bytes=1 << 16)


@pytest.mark.parametrize("deep", [False, True])
@pytest.mark.parametrize("probe", PROBES)
def test_healthy_device_passes_every_time(
    backend: CpuBackend, probe: ProbeType, deep: bool
) -> None:
    for _ in range(3):
        outcome = backend.run(1, probe, deep=deep)
        assert outcome.result == ProbeResult.PASS, outcome.detail
        assert outcome.sm_outcomes == bytes([ProbeResult.PASS]) * SM_COUNT
        assert outcome.details == ()
        assert outcome.probe_type == probe
        assert outcome.duration_us > 0


@pytest.mark.parametrize("bit", [0, 13, 23, 30, 31])
@pytest.mark.parametrize("kind", ["stuck_bit", "flip_bit"])
@pytest.mark.parametrize("probe", PROBES)
def test_bit_fault_is_found_on_its_sm(backend: CpuBackend, probe: ProbeType, kind, bit) -> None:
    backend.inject(0, FaultSpec(kind, sm_id=5, bit=bit))
    outcome = backend.run(0, probe)
    assert outcome.result == ProbeResult.FAIL
    assert [d.sm_id for d in outcome.details] == [5]
    assert outcome.details[0].result == ProbeResult.FAIL
    assert outcome.sm_outcomes[5] == ProbeResult.FAIL
    assert outcome.sm_outcomes.count(ProbeResult.PASS) == SM_COUNT - 1
    assert backend.run(1, probe).result == ProbeResult.PASS


def test_bad_transcendental_unit_breaks_only_transcendentals(backend: CpuBackend) -> None:
    backend.inject(0, FaultSpec("bad_transcendental", sm_id=2))
    outcome = backend.run(0, ProbeType.TRANSCENDENTAL, deep=True)
    assert [d.sm_id for d in outcome.details] == [2]
    assert "ULP (bound 1)" in outcome.details[0].detail
    assert all(backend.run(0, p).result == ProbeResult.PASS for p in BIT_EXACT)


def test_fault_limited_to_probe_types(backend: CpuBackend) -> None:
    backend.inject(0, FaultSpec("flip_bit", sm_id=1, probe_types=frozenset({ProbeType.AES})))
    assert backend.run(0, ProbeType.AES).result == ProbeResult.FAIL
    assert backend.run(0, ProbeType.FMA).result == ProbeResult.PASS
    backend.clear_faults(0)
    assert backend.run(0, ProbeType.AES).result == ProbeResult.PASS


@pytest.mark.parametrize("seed", [0, 1, 977])
@pytest.mark.parametrize("probe", BIT_EXACT)
def test_every_result_bit_is_zero_somewhere(
    backend: CpuBackend, probe: ProbeType, seed: int
) -> None:
    """A stuck-at-1 bit can only show where the healthy result has a 0 there."""
    sms = np.arange(1)
    words = backend._compute(0, probe, sms, False, Corruption.none(1), seed)
    for bit in range(32):
        assert (words & np.uint32(1 << bit) == 0).any(), f"bit {bit} is 1 in every word"


def test_intermittent_fault_fires_at_its_rate_reproducibly() -> None:
    def hits(seed: int) -> list[bool]:
        backend = CpuBackend(1, 4, hostname="h")
        backend.inject(0, FaultSpec("flip_bit", sm_id=3, rate=0.25, seed=seed))
        return [
            backend.run(0, ProbeType.REGISTER_FILE).result == ProbeResult.FAIL for _ in range(400)
        ]

    first = hits(7)
    assert 0.18 < sum(first) / len(first) < 0.32
    assert hits(7) == first
    assert hits(8) != first


def test_partial_coverage_rotates_over_every_sm(backend: CpuBackend) -> None:
    seen: list[int] = []
    for _ in range(4):
        outcome = backend.run(0, ProbeType.FMA, sm_coverage=0.25)
        covered = [sm for sm, r in enumerate(outcome.sm_outcomes) if r]
        assert len(covered) == 2
        assert outcome.result == ProbeResult.PASS
        seen += covered
    assert sorted(seen) == list(range(SM_COUNT))
    assert 0 not in backend.run(0, ProbeType.FMA, sm_coverage=0.25, deep=True).sm_outcomes


def test_fault_on_uncovered_sm_is_not_blamed_elsewhere(backend: CpuBackend) -> None:
    backend.inject(0, FaultSpec("stuck_bit", sm_id=7))
    results = [backend.run(0, ProbeType.FMA, sm_coverage=0.5) for _ in range(2)]
    assert [r.result for r in results] == [ProbeResult.PASS, ProbeResult.FAIL]
    assert results[0].sm_outcomes[7] == 0
    assert [d.sm_id for d in results[1].details] == [7]


def test_exception_inside_probe_is_error(backend: CpuBackend, monkeypatch) -> None:
    def boom(*args: object) -> None:
        raise FloatingPointError("unit exploded")

    monkeypatch.setattr(backend, "_compute", boom)
    outcome = backend.run(0, ProbeType.AES)
    assert outcome.result == ProbeResult.ERROR
    assert outcome.detail == "FloatingPointError: unit exploded"
    assert outcome.sm_outcomes == bytes([ProbeResult.ERROR]) * SM_COUNT
    assert outcome.details == ()


def test_tiny_timeout_is_timeout_not_pass(backend: CpuBackend) -> None:
    outcome = backend.run(0, ProbeType.MEMORY, timeout_ms=0)
    assert outcome.result == ProbeResult.TIMEOUT
    assert "timeout" in outcome.detail
    assert outcome.sm_outcomes == bytes([ProbeResult.TIMEOUT]) * SM_COUNT


@pytest.mark.parametrize(
    ("device", "probe", "coverage"), [(9, 1, 1.0), (0, 0, 1.0), (0, 8, 1.0), (0, 1, 0.0)]
)
def test_bad_arguments_are_error_outcomes(backend: CpuBackend, device, probe, coverage) -> None:
    outcome = backend.run(device, probe, sm_coverage=coverage)
    assert outcome.result == ProbeResult.ERROR
    assert outcome.detail


def test_tmr_digest_agrees_on_healthy_devices_and_dissents_on_fault() -> None:
    backend = CpuBackend(3, SM_COUNT, hostname="h")
    digests = {backend.tmr_digest(i, seed=42) for i in range(3)}
    assert len(digests) == 1
    assert len(next(iter(digests))) == 32
    assert backend.tmr_digest(0, seed=43) not in digests
    backend.inject(2, FaultSpec("stuck_bit", sm_id=6, bit=3))
    assert backend.tmr_digest(2, seed=42) not in digests
    assert backend.tmr_digest(1, seed=42) in digests


def test_aes_known_answer() -> None:
    plaintext = np.frombuffer(aes.FIPS197_PLAINTEXT, np.uint8).reshape(1, 16)
    ciphertext = aes.encrypt(plaintext, aes.expand_key(aes.FIPS197_KEY))
    assert ciphertext.tobytes().hex() == "69c4e0d86a7b0430d8cdb78070b4c55a"
    words = workloads.aes_encrypt(np.arange(2), 4, Corruption.none(2))
    assert words[1, :4].tobytes() == aes.FIPS197_CIPHERTEXT


@pytest.mark.parametrize("seed", [0, 1, 2, 5000])
def test_transcendental_unit_within_cuda_bounds(seed: int) -> None:
    words = workloads.transcendental_golden(1024, seed)
    errors = workloads.ulp_errors(words, 1024, seed)
    assert all(errors[name] <= bound for name, bound in workloads.ULP_BOUNDS.items()), errors
