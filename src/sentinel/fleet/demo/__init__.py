"""The demo fleet of ``sentinel up --demo``: simulated GPU hosts that play six SDC stories.

Every host runs the real agent on the CPU backend, with simulated telemetry; the faults
are injected into the real probes, so the engine detects, correlates and quarantines
exactly as it would on hardware.

>>> from pathlib import Path
>>> from sentinel.fleet.demo import DemoFleet, DemoSpec, check_capacity, demo_policy
>>> spec = DemoSpec(hosts=4, gpus_per_host=8)
>>> check_capacity(spec)  # doctest: +SKIP
>>> policy_overrides = demo_policy(spec)  # for the server's EnginePolicy
>>> fleet = DemoFleet("localhost:50051", spec, data_dir=Path("demo"))  # doctest: +SKIP
>>> fleet.start()  # doctest: +SKIP
"""

from __future__ import annotations

from sentinel.fleet.demo._capacity import DemoTooLarge, check_capacity
from sentinel.fleet.demo._fleet import DemoFleet
from sentinel.fleet.demo._policy import demo_policy
from sentinel.fleet.demo._scenarios import Scenario
from sentinel.fleet.demo._spec import DemoSpec

__all__ = ["DemoFleet", "DemoSpec", "DemoTooLarge", "Scenario", "check_capacity", "demo_policy"]
