"""Keeps monitors in a user process in step with the fleet configuration.

The engine pushes sampling rates (``SamplingRateUpdate``) and thresholds
(``ThresholdUpdate``) in the agent configuration. A ``ConfigFollower`` subscribes to it
as a config-only listener (no agent registration) and applies each version to the
monitors it was given: ``sampling_rates[component]`` and every
``thresholds["component.parameter"]`` the monitor knows.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Sequence

import grpc

from sentinel.fleet._base import BaseClient
from sentinel.fleet.config import ClientConfig, TlsConfig
from sentinel.fleet.monitors._types import Configurable
from sentinel.v1 import agent_pb2, agent_pb2_grpc

log = logging.getLogger("sentinel.fleet.monitors")

_MAX_BACKOFF_S = 30.0


def apply_config(monitors: Sequence[Configurable], config: agent_pb2.AgentConfig) -> list[str]:
    """Apply ``config`` to each monitor; returns the problems (also logged), if any.

    Thresholds a monitor does not know are skipped and named, so one stale parameter
    does not keep the others from applying.
    """
    problems = []
    for m in monitors:
        prefix = f"{m.component}."
        rate = config.sampling_rates[m.component] if m.component in config.sampling_rates else None
        known = getattr(m, "thresholds", {})
        thresholds = {}
        for key, value in config.thresholds.items():
            if not key.startswith(prefix):
                continue
            name = key.removeprefix(prefix)
            if name in known:
                thresholds[name] = value
            else:
                problems.append(f"{key}: {m.component} has no parameter {name!r}")
        try:
            m.configure(sampling_rate=rate, thresholds=thresholds)
        except ValueError as exc:
            problems.append(f"{m.component}: {exc}")
    for problem in problems:
        log.warning("config version %d: %s", config.config_version, problem)
    return problems


class ConfigFollower:
    """Applies every configuration version the engine publishes to ``monitors``.

    Runs a daemon thread that reconnects with backoff when the engine goes away.

    Args:
        endpoint: ``host:port`` of the gRPC gateway.
        monitors: What to configure (each has a ``component`` name and ``configure``).
        tls_config: TLS credentials; ``None`` opens an insecure channel.
    """

    def __init__(
        self,
        endpoint: str,
        monitors: Sequence[Configurable],
        *,
        tls_config: TlsConfig | None = None,
    ) -> None:
        self._channel = BaseClient(ClientConfig(endpoint, tls_config=tls_config)).channel()
        self._stub = agent_pb2_grpc.AgentServiceStub(self._channel)
        self._monitors = list(monitors)
        self._stop = threading.Event()
        self._call: grpc.Future | None = None
        self.config_version = 0
        self._thread = threading.Thread(target=self._run, name="sentinel-config", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                call = self._stub.Subscribe(
                    agent_pb2.SubscribeRequest(config_version=self.config_version)
                )
                self._call = call
                for command in call:
                    if command.HasField("config"):
                        apply_config(self._monitors, command.config)
                        self.config_version = command.config.config_version
                        backoff = 0.5
            except grpc.RpcError as exc:
                if self._stop.is_set():
                    return
                log.info("config stream interrupted (%s); reconnecting", exc.code())
            self._stop.wait(backoff * (0.5 + random.random()))
            backoff = min(backoff * 2, _MAX_BACKOFF_S)

    def close(self) -> None:
        """Stop following and close the channel."""
        self._stop.set()
        if self._call is not None:
            self._call.cancel()
        self._channel.close()
        self._thread.join(timeout=5)
