"""Choosing a backend by name, so configuration can say ``cpu`` or ``gpu``."""

from __future__ import annotations

from typing import Any, Literal

from sentinel.fleet.probes._types import ProbeBackend


def open_backend(kind: Literal["cpu", "gpu"], **kwargs: Any) -> ProbeBackend:
    """A ``CpuBackend`` or ``GpuBackend`` built with ``kwargs``; the GPU one is imported lazily.

    Raises:
        ValueError: ``kind`` is neither ``cpu`` nor ``gpu``.
    """
    if kind == "cpu":
        from sentinel.fleet.probes.cpu import CpuBackend

        return CpuBackend(**kwargs)
    if kind == "gpu":
        from sentinel.fleet.probes.gpu import GpuBackend

        return GpuBackend(**kwargs)
    raise ValueError(f"unknown probe backend {kind!r}; use 'cpu' or 'gpu'")
