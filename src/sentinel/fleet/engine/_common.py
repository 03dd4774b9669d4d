"""Helpers every engine operation shares: input checks, identifiers, timestamps, system events."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from sentinel.core.ledger import EntryType
from sentinel.fleet.engine._tx import Batch
from sentinel.fleet.engine.state import GPU_UUID_FORMAT, GPU_UUID_RE, Gpu
from sentinel.fleet.limits import EARLIEST_REPORT, FUTURE_SLACK_SECONDS, MAX_INT64
from sentinel.v1 import types_pb2

if TYPE_CHECKING:
    from sentinel.fleet.engine.engine import FleetEngine


ENGINE = "sentinel-engine"
"""Initiator of what the engine does on its own."""


def check_gpu_uuid(value: str) -> None:
    """Refuse anything that is not an NVIDIA GPU UUID, naming the expected format."""
    if not GPU_UUID_RE.match(value):
        from sentinel.fleet.engine.engine import EngineValidationError

        raise EngineValidationError(f"malformed GPU UUID {value!r}: expected {GPU_UUID_FORMAT}")


def known_gpu(eng: FleetEngine, gpu_uuid: str) -> Gpu:
    from sentinel.fleet.engine.engine import EngineNotFound

    check_gpu_uuid(gpu_uuid)
    gpu = eng.state.gpus.get(gpu_uuid)
    if gpu is None:
        raise EngineNotFound(f"GPU {gpu_uuid} not found")
    return gpu


def queried_gpu(eng: FleetEngine, gpu_uuid: str) -> Gpu:
    """The GPU a query names. Any id that names no GPU, malformed or not, is not found:
    a query answers with what exists; writes refuse malformed ids (``known_gpu``)."""
    from sentinel.fleet.engine.engine import EngineNotFound

    gpu = eng.state.gpus.get(gpu_uuid)
    if gpu is None:
        hint = "" if GPU_UUID_RE.match(gpu_uuid) else f" (a GPU UUID looks like {GPU_UUID_FORMAT})"
        raise EngineNotFound(f"GPU {gpu_uuid} not found{hint}")
    return gpu


def invalid(msg: str) -> Exception:
    from sentinel.fleet.engine.engine import EngineValidationError

    return EngineValidationError(msg)


def report_time(stamp: Any, now: float) -> float:
    """A report's timestamp in epoch seconds: unset means now, a little ahead means now.

    Raises:
        EngineValidationError: a time before 2000-01-01 or more than a day ahead, which
            no clock that made a real report shows (and the ledger could not store).
    """
    if stamp.seconds == 0 and stamp.nanos == 0:
        return now
    ts = stamp.seconds + stamp.nanos / 1e9
    if not EARLIEST_REPORT <= ts <= now + FUTURE_SLACK_SECONDS:
        raise invalid(
            f"timestamp {stamp.seconds} s is outside 2000-01-01 .. now + 1 day; send the "
            "time the report was made, or leave it unset for now"
        )
    return min(ts, now)


def check_text(name: str, value: str) -> None:
    """Refuse NUL characters, which PostgreSQL text cannot hold."""
    if "\x00" in value:
        raise invalid(f"{name} contains a NUL character (\\x00); remove it")


def check_int(name: str, value: int, limit: int = MAX_INT64) -> None:
    """Refuse an unsigned value the database's signed column cannot hold."""
    if value > limit:
        raise invalid(f"{name} is {value}, above the largest value stored ({limit})")


def check_finite(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise invalid(f"{name} must be a finite number, got {value}")


def identifier(g: Gpu) -> types_pb2.GpuIdentifier:
    return types_pb2.GpuIdentifier(
        uuid=g.uuid,
        hostname=g.hostname,
        device_index=g.device_index,
        model=g.model,
        driver_version=g.driver_version,
        firmware_version=g.firmware_version,
    )


def stamp(ts: float) -> Any:
    from google.protobuf.timestamp_pb2 import Timestamp

    t = Timestamp()
    t.FromMicroseconds(int(ts * 1e6))
    return t


def system_event(eng: FleetEngine, b: Batch, kind: str, detail: str, by: str = ENGINE) -> None:
    ev = types_pb2.SystemEvent(kind=kind, detail=detail, initiated_by=by, timestamp=stamp(b.now))
    b.audit(EntryType.SYSTEM_EVENT, None, ev.SerializeToString())
