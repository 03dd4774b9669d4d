"""The probe schedule and budget every agent starts with: the engine's first config, and
what an agent runs when it has never reached the engine."""

from __future__ import annotations

from sentinel.v1 import agent_pb2, types_pb2


def default_config() -> agent_pb2.AgentConfig:
    """The probe schedule and budget agents get before anyone changes them."""
    # Every compute unit is probed over every SM each minute: on an H100 that is about 0.0005 %
    # of the GPU's time, and a fault on one SM is seen in the first period, not the fourth.
    sched = [
        (types_pb2.PROBE_TYPE_FMA, 60, 1.0, 1, 5000),
        (types_pb2.PROBE_TYPE_TENSOR_CORE, 60, 1.0, 2, 10000),
        (types_pb2.PROBE_TYPE_TRANSCENDENTAL, 60, 1.0, 2, 5000),
        (types_pb2.PROBE_TYPE_REGISTER_FILE, 60, 1.0, 2, 5000),
        (types_pb2.PROBE_TYPE_AES, 300, 1.0, 3, 5000),
        (types_pb2.PROBE_TYPE_SHARED_MEMORY, 300, 1.0, 3, 5000),
        (types_pb2.PROBE_TYPE_MEMORY, 900, 0.05, 4, 30000),
    ]
    return agent_pb2.AgentConfig(
        config_version=1,
        probe_schedule=[
            types_pb2.ProbeScheduleEntry(
                type=t, period_seconds=p, sm_coverage=c, priority=pr, enabled=True, timeout_ms=to
            )
            for t, p, c, pr, to in sched
        ],
        overhead_budget_pct=2.0,
        sampling_rates={"inference_monitor": 1.0, "training_monitor": 1.0},
    )
