"""Monitors follow sampling-rate and threshold updates pushed by a real engine."""

from __future__ import annotations

import time
from typing import Any

from sentinel_testing import OPERATOR_TOKEN

from sentinel.fleet import SentinelClient
from sentinel.fleet.monitors import (
    ConfigFollower,
    InferenceMonitor,
    InvariantChecker,
    TrainingMonitor,
    apply_config,
)
from sentinel.fleet.types import ConfigUpdate, SamplingRateUpdate, ThresholdUpdate
from sentinel.v1 import agent_pb2

GPU = "GPU-00000001-2222-3333-4444-555566667777"


class Sink:
    def report(self, anomaly: Any) -> None:
        pass


def _until(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_follower_applies_engine_updates(fleet_server: Any) -> None:
    inference = InferenceMonitor(GPU, Sink())
    training = TrainingMonitor(GPU, Sink())
    follower = ConfigFollower(fleet_server.address, [inference, training])
    try:
        with SentinelClient.connect(fleet_server.address, token=OPERATOR_TOKEN) as client:
            client.update_config(
                ConfigUpdate(
                    sampling_rate=SamplingRateUpdate(component="inference_monitor", rate=0.25)
                )
            )
            client.update_config(
                ConfigUpdate(
                    threshold=ThresholdUpdate(
                        component="training_monitor", parameter="loss_spike_threshold", value=9.5
                    )
                )
            )
        _until(lambda: follower.config_version == 3)
        assert inference.sampling_rate == 0.25
        assert training.thresholds["loss_spike_threshold"] == 9.5
        assert training.sampling_rate == 1.0
    finally:
        follower.close()


def test_follower_catches_up_on_connect(fleet_server: Any) -> None:
    with SentinelClient.connect(fleet_server.address, token=OPERATOR_TOKEN) as client:
        client.update_config(
            ConfigUpdate(sampling_rate=SamplingRateUpdate(component="invariant_checker", rate=0.5))
        )
    checker = InvariantChecker(GPU, Sink())
    follower = ConfigFollower(fleet_server.address, [checker])
    try:
        _until(lambda: checker.sampling_rate == 0.5)
    finally:
        follower.close()


def test_unknown_thresholds_are_named_and_the_rest_applies() -> None:
    monitor = InferenceMonitor(GPU, Sink())
    config = agent_pb2.AgentConfig(
        config_version=7,
        thresholds={
            "inference_monitor.kl_divergence_threshold": 0.05,
            "inference_monitor.no_such_knob": 1.0,
            "engine.suspect_below": 0.9,
        },
    )
    problems = apply_config([monitor], config)
    assert problems == [
        "inference_monitor.no_such_knob: inference_monitor has no parameter 'no_such_knob'"
    ]
    assert monitor.thresholds["kl_divergence_threshold"] == 0.05
