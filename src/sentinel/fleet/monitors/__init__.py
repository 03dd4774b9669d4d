"""Monitors that run inside training and inference processes and report to the engine.

NumPy does the statistics; the PyTorch adapters (``TorchInferenceMonitor``,
``TorchTrainingMonitor``, ``TorchInvariantHooks``, ``check_tensor_invariants``,
``resolve_gpu_uuid``) load ``torch`` only when first used and need the ``torch`` extra.

>>> from sentinel.fleet.monitors import EngineReporter, TrainingMonitor
>>> reporter = EngineReporter("localhost:50051")  # doctest: +SKIP
>>> monitor = TrainingMonitor("GPU-8f2c...", reporter)  # doctest: +SKIP
>>> monitor.observe_step(loss=2.31, grad_norm=0.87, lr=3e-4)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from sentinel.fleet.monitors._types import Anomaly, AnomalySink, Configurable
from sentinel.fleet.monitors.follow import ConfigFollower, apply_config
from sentinel.fleet.monitors.inference import InferenceMonitor, LogitSummary, summarize_logits
from sentinel.fleet.monitors.invariants import InvariantChecker
from sentinel.fleet.monitors.reporter import EngineReporter
from sentinel.fleet.monitors.training import TrainingMonitor, state_digest, tensor_digest

_TORCH = (
    "TorchInferenceMonitor",
    "TorchInvariantHooks",
    "TorchTrainingMonitor",
    "check_tensor_invariants",
    "resolve_gpu_uuid",
    "summarize_tensor_logits",
)

__all__ = [
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


def __getattr__(name: str) -> Any:
    if name in _TORCH:
        from sentinel.fleet.monitors import torch as adapters

        return getattr(adapters, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
