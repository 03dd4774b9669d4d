"""The public names of sentinel.fleet.monitors, and that importing it leaves torch alone."""

from __future__ import annotations

import subprocess
import sys

import sentinel.fleet.monitors as monitors
from sentinel.fleet.monitors import (
    Configurable,
    EngineReporter,
    InferenceMonitor,
    InvariantChecker,
    TrainingMonitor,
)


def test_exported_names() -> None:
    assert sorted(monitors.__all__) == [
        "Anomaly",
        "AnomalySink",
        "ConfigFollower",
        "Configurable",
        "EngineReporter",
        "InferenceMonitor",
        "InvariantChecker",
        "LogitSummary",
        "TorchInferenceMonitor",
        "TorchInvariantHooks",
        "TorchTrainingMonitor",
        "TrainingMonitor",
        "apply_config",
        "check_tensor_invariants",
        "resolve_gpu_uuid",
        "state_digest",
        "summarize_logits",
        "summarize_tensor_logits",
        "tensor_digest",
    ]


def test_monitors_are_configurable_sinks_are_sinks() -> None:
    sink = monitors.AnomalySink
    for cls, component in (
        (InferenceMonitor, "inference_monitor"),
        (TrainingMonitor, "training_monitor"),
        (InvariantChecker, "invariant_checker"),
    ):
        mon = cls("GPU-x", [].append)  # type: ignore[arg-type]
        assert isinstance(mon, Configurable) and mon.component == component
    assert hasattr(EngineReporter, "report") and hasattr(sink, "report")


def test_import_does_not_load_torch() -> None:
    code = "import sys, sentinel.fleet.monitors; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
