"""Correlation: each pattern fires when it should and only then; cooldown; window; bounds."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Mapping

import pytest

from sentinel.fleet.engine.correlation import Correlator, Finding, GpuInfo, Signal
from sentinel.fleet.engine.enums import AnomalyKind, Pattern, Severity
from sentinel.fleet.engine.policy import EnginePolicy

POLICY = EnginePolicy()
_ids = itertools.count()


def fleet(versions: Mapping[str, str] | None = None) -> dict[str, GpuInfo]:
    """Three hosts of four GPUs, g1-g4 on h1, g5-g8 on h2, g9-g12 on h3; firmware "fw1"."""
    versions = versions or {}
    return {
        f"g{i}": GpuInfo(
            f"g{i}", f"h{(i - 1) // 4 + 1}", "H100", "550", versions.get(f"g{i}", "fw1")
        )
        for i in range(1, 13)
    }


def correlator(gpus: dict[str, GpuInfo] | None = None, policy: EnginePolicy = POLICY) -> Correlator:
    gpus = fleet() if gpus is None else gpus

    def counts() -> Counter[tuple[str, str]]:
        return Counter((g.driver_version, g.firmware_version) for g in gpus.values())

    return Correlator(policy, gpus.get, counts)


def fail(gpu: str, ts: float, sm_id: int | None = None) -> Signal:
    return Signal(f"e{next(_ids)}", gpu, ts, "probe_fail", sm_id=sm_id)


def anomaly(
    gpu: str,
    ts: float,
    kind: AnomalyKind = AnomalyKind.LOGIT_DRIFT,
    sm_id: int | None = None,
    severity: Severity = Severity.WARNING,
) -> Signal:
    return Signal(
        f"e{next(_ids)}", gpu, ts, "anomaly", sm_id=sm_id, anomaly_type=kind, severity=severity
    )


def dissent(gpu: str, ts: float) -> Signal:
    return Signal(f"e{next(_ids)}", gpu, ts, "tmr_dissent")


def feed(corr: Correlator, *signals: Signal) -> list[Finding]:
    return [finding for signal in signals for finding in corr.observe(signal)]


def of(findings: list[Finding], pattern: Pattern) -> list[Finding]:
    return [f for f in findings if f.pattern == pattern]


def telemetry(corr: Correlator, gpu: str, ts: float, **changes: object) -> list[Finding]:
    sample: dict[str, object] = {
        "temperature_c": 65.0,
        "power_w": 400.0,
        "throttle_reasons": 0,
        "ecc_single_bit": 0,
        "ecc_double_bit": 0,
        "xid_events": (),
    } | changes
    return corr.observe_telemetry(gpu, ts, event_id=f"t{next(_ids)}", **sample)  # type: ignore[arg-type]


# -- MULTI_SIGNAL -------------------------------------------------------------------------


def test_multi_signal_probe_and_anomaly() -> None:
    first, second = fail("g1", 0.0), anomaly("g1", 60.0)
    findings = feed(correlator(), first, second)
    assert len(findings) == 1
    found = findings[0]
    assert found.pattern == Pattern.MULTI_SIGNAL
    assert (found.gpu_uuid, found.sm_id, found.severity) == ("g1", None, Severity.HIGH)
    assert found.events == (first.event_id, second.event_id)
    assert found.confidence == pytest.approx(0.75)
    assert "LOGIT_DRIFT" in found.description


def test_multi_signal_confidence_grows_with_kinds() -> None:
    corr = correlator(policy=POLICY.with_overrides({"correlation_cooldown_seconds": 0}))
    two = of(
        feed(corr, anomaly("g1", 0.0), anomaly("g1", 1.0, AnomalyKind.LOSS_SPIKE)),
        Pattern.MULTI_SIGNAL,
    )
    three = of(feed(corr, fail("g1", 2.0)), Pattern.MULTI_SIGNAL)
    assert two[0].confidence < three[0].confidence < 1.0


def test_multi_signal_needs_distinct_kinds() -> None:
    corr = correlator()
    assert (
        feed(corr, fail("g1", 0.0), fail("g1", 1.0), anomaly("g5", 0.0), anomaly("g5", 1.0)) == []
    )


def test_multi_signal_takes_worst_severity() -> None:
    findings = feed(correlator(), fail("g1", 0.0), anomaly("g1", 1.0, severity=Severity.CRITICAL))
    assert findings[0].severity == Severity.CRITICAL


# -- SM_LOCALIZED -------------------------------------------------------------------------


def test_sm_localized_repeated_failures() -> None:
    findings = feed(correlator(), fail("g1", 0.0, sm_id=7), fail("g1", 5.0, sm_id=7))
    (found,) = findings
    assert (found.pattern, found.gpu_uuid, found.sm_id) == (Pattern.SM_LOCALIZED, "g1", 7)
    assert "mask SM 7" in found.recommended_action
    assert "quarantine" in found.recommended_action
    assert found.confidence == pytest.approx(0.75)


def test_sm_localized_probe_and_anomaly_share_sm() -> None:
    findings = feed(correlator(), fail("g1", 0.0, sm_id=3), anomaly("g1", 5.0, sm_id=3))
    assert {f.pattern for f in findings} == {Pattern.SM_LOCALIZED, Pattern.MULTI_SIGNAL}
    assert of(findings, Pattern.SM_LOCALIZED)[0].sm_id == 3


def test_sm_localized_not_on_different_sms() -> None:
    findings = feed(correlator(), fail("g1", 0.0, sm_id=3), fail("g1", 5.0, sm_id=4))
    assert findings == []


def test_sm_localized_confidence_drops_when_failures_spread() -> None:
    corr = correlator()
    spread = feed(
        corr, fail("g1", 0.0, 1), fail("g1", 1.0, 2), fail("g1", 2.0, 3), fail("g1", 3.0, 1)
    )
    assert of(spread, Pattern.SM_LOCALIZED)[0].confidence == pytest.approx(0.75 * 2 / 4)


# -- ENVIRONMENTAL ------------------------------------------------------------------------


def test_environmental_hot_gpu_then_error() -> None:
    corr = correlator()
    assert telemetry(corr, "g1", 0.0, temperature_c=91.0) == []
    (found,) = feed(corr, fail("g1", 30.0))
    assert (found.pattern, found.gpu_uuid, found.severity) == (
        Pattern.ENVIRONMENTAL,
        "g1",
        Severity.WARNING,
    )
    assert "temperature 91 °C above the 85 °C limit" in found.description
    assert len(found.events) == 2


def test_environmental_error_then_excursion() -> None:
    corr = correlator()
    feed(corr, anomaly("g1", 0.0))
    findings = telemetry(corr, "g1", 10.0, throttle_reasons=0x40 | 0x1)
    assert [f.pattern for f in findings] == [Pattern.ENVIRONMENTAL]
    assert "HW thermal slowdown" in findings[0].description


@pytest.mark.parametrize(
    ("throttle", "name"),
    [(0x4, "SW power cap"), (0x8, "HW slowdown"), (0x20, "SW thermal slowdown")],
)
def test_throttle_bits_are_excursions(throttle: int, name: str) -> None:
    corr = correlator()
    feed(corr, fail("g1", 0.0))
    (found,) = telemetry(corr, "g1", 1.0, throttle_reasons=throttle)
    assert name in found.description


def test_ecc_increase_and_xid_are_high_severity() -> None:
    corr = correlator()
    assert telemetry(corr, "g1", 0.0, ecc_single_bit=4, ecc_double_bit=2) == []
    feed(corr, fail("g1", 1.0))
    (found,) = telemetry(corr, "g1", 2.0, ecc_single_bit=6, ecc_double_bit=3)
    assert found.severity == Severity.HIGH
    assert "1 new double-bit ECC errors; 2 new single-bit ECC errors" in found.description
    corr2 = correlator()
    feed(corr2, fail("g2", 1.0))
    (xid,) = telemetry(corr2, "g2", 2.0, xid_events=[79])
    assert xid.severity == Severity.HIGH
    assert "Xid 79" in xid.description


def test_no_environmental_for_healthy_telemetry() -> None:
    corr = correlator()
    for ts in range(0, 600, 60):
        assert telemetry(corr, "g1", float(ts), ecc_single_bit=5, throttle_reasons=0x1) == []
    assert feed(corr, fail("g1", 601.0)) == []
    assert telemetry(corr, "g1", 602.0, ecc_single_bit=0) == []  # counter reset, not an error


def test_no_environmental_without_computation_error() -> None:
    corr = correlator()
    telemetry(corr, "g1", 0.0, temperature_c=95.0)
    assert telemetry(corr, "g1", 1.0, temperature_c=96.0) == []
    assert feed(corr, fail("g2", 2.0)) == []


# -- NODE_CORRELATED ----------------------------------------------------------------------


def test_node_correlated() -> None:
    corr = correlator(policy=POLICY.with_overrides({"correlation_cooldown_seconds": 0}))
    a, b = fail("g1", 0.0), anomaly("g2", 10.0)
    (two,) = feed(corr, a, b)
    assert (two.pattern, two.gpu_uuid, two.sm_id) == (Pattern.NODE_CORRELATED, "g2", None)
    assert two.events == (a.event_id, b.event_id)
    assert "h1" in two.recommended_action
    assert "cooling" in two.recommended_action
    assert "PCIe/NVLink" in two.recommended_action
    (three,) = feed(corr, fail("g3", 20.0))
    assert three.confidence > two.confidence
    assert len(three.events) == 3


def test_no_node_correlation_across_hosts() -> None:
    assert feed(correlator(), fail("g1", 0.0), fail("g5", 1.0)) == []


def test_no_node_correlation_for_environment_only() -> None:
    corr = correlator()
    telemetry(corr, "g1", 0.0, temperature_c=99.0)
    assert telemetry(corr, "g2", 0.0, temperature_c=99.0) == []


# -- FIRMWARE_CORRELATED ------------------------------------------------------------------


def test_firmware_correlated() -> None:
    gpus = fleet({"g1": "bad", "g5": "bad", "g9": "bad"})
    signals = [fail("g1", 0.0), fail("g5", 10.0), anomaly("g9", 20.0)]
    findings = feed(correlator(gpus), *signals)
    (found,) = findings
    assert (found.pattern, found.gpu_uuid) == (Pattern.FIRMWARE_CORRELATED, "g9")
    assert found.events == tuple(s.event_id for s in signals)
    assert "3 of 3 GPUs on driver 550 / firmware bad" in found.description
    assert "roll back or upgrade" in found.recommended_action


def test_no_firmware_correlation_on_one_host() -> None:
    gpus = fleet({"g1": "bad", "g2": "bad", "g3": "bad"})
    findings = feed(correlator(gpus), fail("g1", 0.0), fail("g2", 1.0))
    assert of(findings, Pattern.FIRMWARE_CORRELATED) == []
    findings = feed(correlator(gpus), fail("g1", 0.0), fail("g2", 1.0), fail("g3", 2.0))
    assert of(findings, Pattern.FIRMWARE_CORRELATED) == []


def test_no_firmware_correlation_when_rest_of_fleet_fails_alike() -> None:
    gpus = fleet({g: "bad" for g in ("g1", "g2", "g5", "g6", "g9", "g10")})
    corr = correlator(gpus)
    feed(corr, fail("g3", 0.0), fail("g7", 1.0))  # 2 of 6 elsewhere
    findings = feed(corr, fail("g1", 2.0), fail("g5", 3.0), fail("g9", 4.0))  # 3 of 6
    assert of(findings, Pattern.FIRMWARE_CORRELATED) == []


def test_no_firmware_correlation_when_too_few_gpus_elsewhere_to_compare() -> None:
    # 9 GPUs on fw1 and 3 on "other": 3 of 9 fw1 GPUs failing while the 3 others do not
    # is what chance gives ((2/3)**3 = 30 %), not a firmware fault.
    gpus = fleet({"g4": "other", "g8": "other", "g12": "other"})
    findings = feed(correlator(gpus), fail("g1", 0.0), fail("g5", 1.0), fail("g9", 2.0))
    assert of(findings, Pattern.FIRMWARE_CORRELATED) == []


def test_no_firmware_correlation_when_whole_fleet_shares_version() -> None:
    findings = feed(correlator(), fail("g1", 0.0), fail("g5", 1.0), fail("g9", 2.0))
    assert findings == []


# -- TMR_CONFIRMED ------------------------------------------------------------------------


def test_tmr_confirmed() -> None:
    first, second = dissent("g1", 0.0), fail("g1", 100.0)
    (found,) = feed(correlator(), first, second)
    assert (found.pattern, found.severity, found.gpu_uuid) == (
        Pattern.TMR_CONFIRMED,
        Severity.CRITICAL,
        "g1",
    )
    assert found.events == (first.event_id, second.event_id)


def test_no_tmr_confirmation_without_corroboration() -> None:
    corr = correlator()
    assert feed(corr, dissent("g1", 0.0)) == []
    assert feed(corr, fail("g5", 1.0)) == []
    assert telemetry(corr, "g1", 2.0, temperature_c=99.0) == []


# -- cooldown, window, bounds -------------------------------------------------------------


def test_cooldown_dedups_per_key() -> None:
    corr = correlator()
    assert len(feed(corr, fail("g1", 0.0), anomaly("g1", 1.0))) == 1
    assert feed(corr, anomaly("g1", 100.0, AnomalyKind.LOSS_SPIKE)) == []
    assert len(feed(corr, fail("g5", 100.0), anomaly("g5", 101.0))) == 1  # another GPU
    again = feed(corr, fail("g1", 601.0))
    assert [f.pattern for f in again] == [Pattern.MULTI_SIGNAL]


def test_window_expiry() -> None:
    corr = correlator()
    assert feed(corr, fail("g1", 0.0), anomaly("g1", 3600.0)) == []
    corr = correlator()
    assert len(feed(corr, fail("g1", 0.0), anomaly("g1", 3599.0))) == 1


def test_late_and_duplicate_signals_are_ignored() -> None:
    corr = correlator()
    early = fail("g1", 5000.0)
    feed(corr, early)
    assert feed(corr, anomaly("g1", 1000.0)) == []  # older than the window
    assert feed(corr, early) == []  # replay of the same event
    assert feed(corr, Signal(early.event_id, "g1", 5001.0, "probe_fail", sm_id=None)) == []


def test_unregistered_gpu_still_correlates_locally() -> None:
    corr = correlator({})
    assert [f.pattern for f in feed(corr, fail("x", 0.0), anomaly("x", 1.0))] == [
        Pattern.MULTI_SIGNAL
    ]


def test_state_is_pruned_to_the_window() -> None:
    corr = correlator()
    feed(corr, fail("g1", 0.0), fail("g2", 1.0), anomaly("g5", 2.0))
    telemetry(corr, "g6", 3.0, temperature_c=99.0)
    feed(corr, fail("g9", 10_000.0))
    assert set(corr._recent) == {"g9"}
    assert set(corr._failing) == {"g9"}
    assert set(corr._by_host) == {"h3"}
    assert len(corr._emitted) == 0


def test_per_gpu_memory_is_capped() -> None:
    corr = correlator()
    for i in range(2000):
        corr.observe(fail("g1", i / 10))
    assert len(corr._recent["g1"]) <= 256


def test_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown signal kind 'bogus'"):
        correlator().observe(Signal("e", "g1", 0.0, "bogus"))
