"""Validation of every fleet API request before the engine sees it.

One field the database cannot store (an unsigned value of 2^63 or more in a BIGINT
column, a NUL byte in a PostgreSQL text column, a timestamp near -1e18 s) used to fail
the write batch it shared with every other client. ``validate`` refuses such a request
at the edge, naming the first bad field by its path, e.g.
``reports[3].ecc_double_bit: 18446744073709551615 is out of range (0 .. 2^63-1)``.

A request with one bad field is refused whole (INVALID_ARGUMENT) and nothing of it is
applied, with one exception: a bad report in a report batch is refused alone
(``screen_batch``), listed in ``ReportAck.rejected`` with its field path, and the others
are applied, as the engine does for reports it refuses. An agent keeps a batch until it
is acknowledged, so refusing the whole batch would have it resent forever. The checks do
not depend on the fleet's state:

* integers: uint64 below 2^63 and uint32 below 2^31 (the signed BIGINT and INTEGER
  columns that store them), enum values the proto defines;
* strings: no NUL byte, at most the length of the column that stores them;
* doubles: finite (an anomaly's ``score`` and ``threshold`` may be infinite, which the
  monitors use for "a value was NaN or infinite", but not NaN);
* Timestamps: nanos in 0..999,999,999; a report's time (probe, anomaly, TMR,
  telemetry, heartbeat) between 2000-01-01 and now + 1 day, or unset for "now"; query
  bounds anywhere in years 1..9999;
* bytes, repeated fields: bounded sizes (``sm_outcomes`` 4096 bytes, batches 10,000).

What depends on the fleet's state stays with the engine: an unknown or malformed GPU
UUID, a directive or agent it does not know, a ``limit`` or config value outside its
policy. The engine also refuses single reports, not their batch, when a report names a
GPU it does not know or a probe, result, anomaly type, source or severity it does not
know; such values may come from an agent newer than the server.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from sentinel.fleet.limits import EARLIEST_REPORT, FUTURE_SLACK_SECONDS, MAX_INT32, MAX_INT64
from sentinel.v1 import agent_pb2, fleet_pb2

__all__ = ["BATCH_ITEMS", "InvalidRequest", "request_types", "screen_batch", "validate"]

_MIN_SECONDS = -62_135_596_800  # 0001-01-01T00:00:00Z, the Timestamp's own range
_MAX_SECONDS = 253_402_300_799  # 9999-12-31T23:59:59Z

_TEXT_DEFAULT = 4096
_TEXT = {
    # The column that stores the field (sentinel.fleet.engine.store) where one does.
    "hostname": 255,
    "hostname_prefix": 255,
    "hostname_filter": 255,
    "component_id": 255,
    "initiated_by": 255,
    "model": 128,
    "model_filter": 128,
    "agent_version": 64,
    "driver_version": 64,
    "firmware_version": 64,
    "uuid": 64,
    "gpu_uuid": 64,
    "agent_id": 64,
    "update_id": 64,
    "directive_id": 64,
    "canary_id": 64,
    "report_id": 128,
    "evidence": 256,
}
_BYTES = {"sm_outcomes": 4096, "digest": 64}
_ITEMS_DEFAULT = 10_000
_ITEMS = {
    "gpus": 1024,
    "sm_details": 4096,
    "xid_events": 1024,
    "evidence": 100,
    "state_filter": 64,
    "entries": 64,
}
_UINT32_MAX = {"SmProbeOutcome.sm_id": 4095}
_NAN_ONLY = frozenset({"AnomalyReport.score", "AnomalyReport.threshold"})
BATCH_ITEMS = {
    "sentinel.v1.ProbeReportBatch": "reports",
    "sentinel.v1.AnomalyReportBatch": "reports",
    "sentinel.v1.TmrReportBatch": "reports",
    "sentinel.v1.TelemetryBatch": "samples",
}
"""The report batches, by full message name, and the field that holds their reports."""
_REPORT_TIMES = frozenset(
    {
        "ProbeReport.timestamp",
        "AnomalyReport.timestamp",
        "TmrReport.timestamp",
        "GpuTelemetry.timestamp",
        "HeartbeatRequest.timestamp",
    }
)
# Left to the engine, which refuses the one report, not its batch (see above).
_ENGINE_ENUMS = frozenset(
    {
        "ProbeReport.probe_type",
        "ProbeReport.result",
        "AnomalyReport.anomaly_type",
        "AnomalyReport.source",
        "AnomalyReport.severity",
    }
)


class InvalidRequest(ValueError):
    """A request field is out of what the API accepts; the message names its path."""


class _Bad(Exception):
    """A field's problem on its way up: each enclosing field prepends its name to ``path``."""

    def __init__(self, problem: str, path: str = "") -> None:
        self.problem = problem
        self.path = path


_Check = Callable[[Any, float], None]
"""Checks one set field's value, given the time now; raises ``_Bad``."""


def validate(request: Message, now: float | None = None) -> None:
    """Check every field of a fleet API request, nested messages included.

    Args:
        request: A request message of ``sentinel.v1.FleetService`` or ``AgentService``.
        now: Epoch seconds that bound report timestamps; the current time when omitted.

    Raises:
        InvalidRequest: A field is invalid; the message starts with the field's path.
    """
    try:
        _check_fields(_fields_of(request.DESCRIPTOR), request, time.time() if now is None else now)
    except _Bad as bad:
        raise InvalidRequest(f"{bad.path}: {bad.problem}") from None


def screen_batch(batch: Message, now: float | None = None) -> list[str]:
    """Check a report batch; remove its invalid reports from it, with one line for each.

    A batch is not refused for one bad report: the agent that sent it keeps a batch until
    it is acknowledged, so a refused batch would be sent again forever. The lines have
    the form of ``ReportAck.rejected``: ``<report_id>: <path>: <problem>``.

    Args:
        batch: A ``ProbeReportBatch``, ``AnomalyReportBatch``, ``TmrReportBatch`` or
            ``TelemetryBatch``; changed in place.
        now: Epoch seconds that bound report timestamps; the current time when omitted.

    Raises:
        InvalidRequest: The batch itself is invalid: its ``agent_id``, or more than
            10,000 reports.
    """
    now = time.time() if now is None else now
    name = BATCH_ITEMS[batch.DESCRIPTOR.full_name]
    items = getattr(batch, name)
    envelope = [f for f in _fields_of(batch.DESCRIPTOR) if f[0] != name]
    try:
        _check_fields(envelope, batch, now)
    except _Bad as bad:
        raise InvalidRequest(f"{bad.path}: {bad.problem}") from None
    if len(items) > _ITEMS_DEFAULT:
        raise InvalidRequest(f"{name}: {len(items)} items is too many (at most {_ITEMS_DEFAULT})")
    fields = _fields_of(batch.DESCRIPTOR.fields_by_name[name].message_type)
    lines: list[str] = []
    keep = []
    for i, item in enumerate(items):
        try:
            _check_fields(fields, item, now)
        except _Bad as bad:
            rid = getattr(item, "report_id", "")
            who = f"{rid}: " if rid and len(rid) <= _TEXT["report_id"] and "\x00" not in rid else ""
            lines.append(f"{who}{name}[{i}].{bad.path}: {bad.problem}")
        else:
            keep.append(item)
    if lines:
        del items[:]
        items.extend(keep)
    return lines


def request_types() -> dict[str, type[Message]]:
    """The request message class of every fleet gRPC method, by full method path."""
    out: dict[str, type[Message]] = {}
    for module, service in ((fleet_pb2, "FleetService"), (agent_pb2, "AgentService")):
        desc = module.DESCRIPTOR.services_by_name[service]
        for method in desc.methods:
            out[f"/{desc.full_name}/{method.name}"] = _class_of(method.input_type)
    return out


def _class_of(desc: Descriptor) -> type[Message]:
    from google.protobuf import message_factory

    return message_factory.GetMessageClass(desc)


_Field = tuple[str, _Check, bool]
"""A field's name, its check, and whether it is a singular message (set or not)."""
_compiled: dict[str, list[_Field]] = {}


def _fields_of(desc: Descriptor) -> list[_Field]:
    found = _compiled.get(desc.full_name)
    if found is None:
        found = []
        for field in desc.fields:
            one = _field_checker(desc.name, field)
            if one is not _accept:
                singular_message = field.message_type is not None and not field.is_repeated
                found.append((field.name, one, singular_message))
        _compiled[desc.full_name] = found
    return found


def _check_fields(fields: list[_Field], msg: Any, now: float) -> None:
    # getattr per field is twice as fast as ListFields; a default value (0, "", an empty
    # list) passes every check, so it is skipped.
    for name, one, singular_message in fields:
        if singular_message:
            if not msg.HasField(name):
                continue
            value = getattr(msg, name)
        else:
            value = getattr(msg, name)
            if not value:
                continue
        try:
            one(value, now)
        except _Bad as bad:
            bad.path = name + bad.path
            raise


def _message_checker(desc: Descriptor) -> _Check:
    fields = _fields_of(desc)
    return lambda msg, now: _check_fields(fields, msg, now)


def _field_checker(owner: str, field: FieldDescriptor) -> _Check:
    key = f"{owner}.{field.name}"
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        raise TypeError(f"{key}: map fields need a size rule before they may be requests")
    one = _scalar_checker(key, field)
    if not field.is_repeated:
        return one
    limit = _ITEMS.get(field.name, _ITEMS_DEFAULT)

    def check(values: Any, now: float) -> None:
        if len(values) > limit:
            raise _Bad(f"{len(values)} items is too many (at most {limit})")
        for i, v in enumerate(values):
            try:
                one(v, now)
            except _Bad as bad:
                bad.path = f"[{i}]{bad.path}"
                raise

    return check


def _scalar_checker(key: str, field: FieldDescriptor) -> _Check:
    t = field.type
    if t == FieldDescriptor.TYPE_MESSAGE:
        if field.message_type.full_name == "google.protobuf.Timestamp":
            return _timestamp_checker(key in _REPORT_TIMES)
        inner = _message_checker(field.message_type)

        def nested(value: Any, now: float) -> None:
            try:
                inner(value, now)
            except _Bad as bad:
                bad.path = "." + bad.path
                raise

        return nested
    if t == FieldDescriptor.TYPE_UINT64:
        return _range_checker(MAX_INT64, "2^63-1")
    if t == FieldDescriptor.TYPE_UINT32:
        top = _UINT32_MAX.get(key, MAX_INT32)
        return _range_checker(top, "2^31-1" if top == MAX_INT32 else str(top))
    if t == FieldDescriptor.TYPE_ENUM:
        return _enum_checker(field) if key not in _ENGINE_ENUMS else _accept
    if t == FieldDescriptor.TYPE_STRING:
        return _text_checker(_TEXT.get(field.name, _TEXT_DEFAULT))
    if t == FieldDescriptor.TYPE_BYTES:
        return _bytes_checker(_BYTES.get(field.name, _TEXT_DEFAULT))
    if t == FieldDescriptor.TYPE_DOUBLE:
        return _not_nan if key in _NAN_ONLY else _finite
    if t == FieldDescriptor.TYPE_BOOL:
        return _accept
    raise TypeError(f"{key}: no rule for protobuf field type {t}; add one to validation.py")


def _accept(value: Any, now: float) -> None:
    return None


def _range_checker(top: int, shown: str) -> _Check:
    def check(value: int, now: float) -> None:
        if value > top:
            raise _Bad(f"{value} is out of range (0 .. {shown})")

    return check


def _enum_checker(field: FieldDescriptor) -> _Check:
    enum = field.enum_type
    known = frozenset(v.number for v in enum.values)
    shown = ", ".join(f"{v.number} {v.name}" for v in enum.values)

    def check(value: int, now: float) -> None:
        if value not in known:
            raise _Bad(f"{value} is not a {enum.name} (one of {shown})")

    return check


def _text_checker(limit: int) -> _Check:
    def check(value: str, now: float) -> None:
        if len(value) > limit:
            raise _Bad(f"{len(value)} characters is too long (at most {limit})")
        if "\x00" in value:
            raise _Bad("contains a NUL character (\\x00), which text may not")

    return check


def _bytes_checker(limit: int) -> _Check:
    def check(value: bytes, now: float) -> None:
        if len(value) > limit:
            raise _Bad(f"{len(value)} bytes is too long (at most {limit})")

    return check


def _finite(value: float, now: float) -> None:
    if not math.isfinite(value):
        raise _Bad(f"{value} is not a finite number")


def _not_nan(value: float, now: float) -> None:
    if math.isnan(value):
        raise _Bad("nan is not a number (an infinite score is allowed)")


def _timestamp_checker(report_time: bool) -> _Check:
    def check(stamp: Any, now: float) -> None:
        seconds, nanos = stamp.seconds, stamp.nanos
        if not 0 <= nanos <= 999_999_999:
            raise _Bad(f"{nanos} is out of range (0 .. 999999999)", ".nanos")
        if report_time:
            if seconds == 0 and nanos == 0:
                return  # unset: the engine takes the time of arrival
            lo, hi = EARLIEST_REPORT, int(now) + FUTURE_SLACK_SECONDS
            window = "2000-01-01T00:00:00Z .. now + 1 day"
        else:
            lo, hi = _MIN_SECONDS, _MAX_SECONDS
            window = "0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z"
        if not lo <= seconds <= hi:
            raise _Bad(f"{seconds} is outside the accepted time window ({window})", ".seconds")

    return check
