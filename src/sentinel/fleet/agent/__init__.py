"""The probe agent: one daemon per GPU host (``sentinel agent``).

>>> from sentinel.fleet.agent import Agent
>>> from sentinel.fleet.probes import CpuBackend
>>> agent = Agent("localhost:50051", CpuBackend(2, 8), data_dir=tmp)  # doctest: +SKIP
>>> agent.run_forever()  # doctest: +SKIP

It registers the host's GPUs, runs the engine's probe schedule within the overhead
budget, follows directives and config updates, answers TMR canaries, and buffers
results on disk while the engine is away. ``nvml`` samples telemetry on real GPUs.
"""

from sentinel.fleet.agent._config import AgentSettings, ConfigError, ScheduleEntry
from sentinel.fleet.agent.buffer import DiskBuffer, Record
from sentinel.fleet.agent.daemon import Agent, AgentStats, TelemetrySource
from sentinel.fleet.agent.hooks import ActionHook, GpuStateRecord, StateFiles
from sentinel.fleet.agent.nvml import NO_GPU_MESSAGE, NvmlTelemetry, NvmlUnavailable, check_nvml
from sentinel.fleet.agent.scheduler import OverheadBudget, Scheduler

__all__ = [
    "NO_GPU_MESSAGE",
    "ActionHook",
    "Agent",
    "AgentSettings",
    "AgentStats",
    "ConfigError",
    "DiskBuffer",
    "GpuStateRecord",
    "NvmlTelemetry",
    "NvmlUnavailable",
    "OverheadBudget",
    "Record",
    "ScheduleEntry",
    "Scheduler",
    "StateFiles",
    "TelemetrySource",
    "check_nvml",
]
