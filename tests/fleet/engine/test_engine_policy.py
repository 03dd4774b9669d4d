"""Engine policy: defaults, overrides, and validation messages; enums against the protocol."""

from __future__ import annotations

import dataclasses
from enum import IntEnum

import pytest

from sentinel.fleet.engine import enums
from sentinel.fleet.engine.enums import Severity
from sentinel.fleet.engine.policy import EnginePolicy
from sentinel.v1 import types_pb2


@pytest.mark.parametrize(
    ("ours", "proto", "prefix"),
    [
        (enums.GpuState, types_pb2.GpuHealthState, "GPU_HEALTH_STATE_"),
        (enums.Action, types_pb2.QuarantineAction, "QUARANTINE_ACTION_"),
        (enums.Pattern, types_pb2.PatternType, "PATTERN_TYPE_"),
        (enums.Severity, types_pb2.Severity, "SEVERITY_"),
        (enums.ProbeOutcome, types_pb2.ProbeResult, "PROBE_RESULT_"),
        (enums.ProbeKind, types_pb2.ProbeType, "PROBE_TYPE_"),
        (enums.AnomalyKind, types_pb2.AnomalyType, "ANOMALY_TYPE_"),
        (enums.AnomalyOrigin, types_pb2.AnomalySource, "ANOMALY_SOURCE_"),
    ],
)
def test_enums_match_protocol(ours: type[IntEnum], proto: object, prefix: str) -> None:
    wire = {
        name.removeprefix(prefix): value
        for name, value in proto.items()  # type: ignore[attr-defined]
        if not name.endswith("UNSPECIFIED")
    }
    assert {m.name: m.value for m in ours} == wire


def test_defaults() -> None:
    policy = EnginePolicy()
    assert (policy.prior_alpha, policy.prior_beta, policy.anomaly_weight) == (100.0, 1.0, 0.3)
    assert dict(policy.severity_weights) == {1: 0.25, 2: 0.5, 3: 1.0, 4: 2.0}
    assert policy.fail_quarantine_count == 3
    assert policy.tmr_quorum == 2
    assert policy.auto_deep_test is True


def test_with_overrides_parses_strings_and_numbers() -> None:
    policy = EnginePolicy().with_overrides(
        {
            "HALF_LIFE_HOURS": "24",
            "fail_quarantine_count": 5.0,
            "condemn_requires_approval": "off",
            "severity_weights": "critical=4, HIGH=1.5",
        }
    )
    assert policy.half_life_hours == 24.0
    assert policy.fail_quarantine_count == 5
    assert isinstance(policy.fail_quarantine_count, int)
    assert policy.condemn_requires_approval is False
    assert dict(policy.severity_weights) == {1: 0.25, 2: 0.5, 3: 1.5, 4: 4.0}
    assert EnginePolicy().severity_weights[Severity.CRITICAL] == 2.0


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"nope": 1}, "unknown engine parameter 'nope'"),
        ({"prior_alpha": "0"}, "prior_alpha: expected a number > 0"),
        ({"quarantine_below": "abc"}, r"quarantine_below: expected a number in \[0, 1\]"),
        ({"tmr_quorum": "2.5"}, r"tmr_quorum: expected an integer in \[2, 3\]"),
        ({"reinstate_min_passes": True}, "reinstate_min_passes: expected an integer >= 0"),
        ({"auto_deep_test": "maybe"}, "auto_deep_test: expected a boolean"),
        ({"half_life_hours": "inf"}, "half_life_hours: expected a number > 0"),
        ({"severity_weights": "LOUD=3"}, "severity_weights: expected comma-separated"),
        ({"severity_weights": "HIGH=-1"}, "severity_weights: expected weights >= 0"),
        ({"quarantine_below": 0.96}, "must not exceed suspect_below"),
        ({"suspect_below": 0.98}, "suspect_recover_score .* must be at least suspect_below"),
    ],
)
def test_with_overrides_rejects(values: dict[str, str | float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EnginePolicy().with_overrides(values)


def test_constructor_validates() -> None:
    with pytest.raises(ValueError, match="rate_window_seconds"):
        EnginePolicy(rate_window_seconds=-1)
    with pytest.raises(ValueError, match="missing a weight for INFO"):
        EnginePolicy(severity_weights={2: 0.5, 3: 1.0, 4: 2.0})
    assert EnginePolicy(rate_window_seconds=60).rate_window_seconds == 60


def test_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        EnginePolicy().prior_alpha = 1.0  # type: ignore[misc]
