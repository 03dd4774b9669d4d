"""Agents on the CPU backend against a real server, with a fast schedule."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sentinel_testing import agent_token_at
from sentinel_testing import wait_for as shared_wait_for

from sentinel.fleet.agent import Agent
from sentinel.fleet.probes import CpuBackend

FAST = 0.01
"""schedule_scale of the tests: the default 60 s FMA period becomes 0.6 s."""


@pytest.fixture
def wait_for() -> Callable[..., Any]:
    """``wait_for(condition, what, timeout=15)``: poll until truthy, else fail naming ``what``."""
    return shared_wait_for


@pytest.fixture
def make_agent(tmp_path: Path) -> Iterator[Callable[..., tuple[Agent, CpuBackend]]]:
    """Build and start agents (2 devices x 8 SMs unless told); stops them at the end."""
    agents: list[Agent] = []

    def make(
        address: str,
        *,
        hostname: str = "node-a",
        devices: int = 2,
        backend: CpuBackend | None = None,
        start: bool = True,
        **kwargs: Any,
    ) -> tuple[Agent, CpuBackend]:
        backend = backend or CpuBackend(devices, 8, hostname=hostname)
        kwargs.setdefault("data_dir", tmp_path / f"agent-{hostname}")
        if "token" not in kwargs:
            kwargs["token"] = agent_token_at(address, hostname)
        agent = Agent(address, backend, hostname=hostname, schedule_scale=FAST, **kwargs)
        agents.append(agent)
        if start:
            agent.start()
        return agent, backend

    yield make
    for agent in agents:
        agent.stop()
