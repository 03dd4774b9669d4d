"""What the runs API accepts: request bodies checked field by field, gzip read within limits.

Every check collects all the problems of a body, so one 422 names every bad field.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass
from typing import Any

from sentinel.core.auth import Refused

TEXT_FIELDS = (
    "project_name",
    "job_name",
    "stage_name",
    "task_name",
    "external_run_id",
    "container_image",
    "env",
    "language",
    "orchestrator",
    "executor",
    "team",
)
_SHORT = {"project_name", "job_name"}
"""Text fields with a column of their own (255 characters)."""
_MAX_TEXT = 4096
_MAX_KEYS = 256
_MAX_TAGS = 128
_MAX_GPUS = 64
_MAX_URIS = 100_000
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,127}")
_GPU = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
_INT32 = 2**31


class RunsError(Refused):
    """A request the runs API refuses, with the HTTP status to answer."""


def _fail(problems: list[str], what: str) -> None:
    if problems:
        raise RunsError(422, f"invalid {what}: " + "; ".join(problems))


def gunzip(data: bytes, limit: int, what: str) -> bytes:
    """``data`` decompressed (several gzip members are read in turn), at most ``limit`` bytes.

    Raises:
        RunsError: 400 when ``data`` is not complete gzip, 413 past ``limit``.
    """
    out = bytearray()
    rest = data
    while rest:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        chunk = rest
        try:
            while chunk:
                out += d.decompress(chunk, limit + 1 - len(out))
                if len(out) > limit:
                    raise RunsError(
                        413, f"{what} decompresses to more than the {limit:,} bytes allowed"
                    )
                chunk = d.unconsumed_tail
            out += d.flush()
        except zlib.error as exc:
            raise RunsError(400, f"{what} is not valid gzip: {exc}") from None
        if not d.eof:
            raise RunsError(400, f"{what} is not valid gzip: the stream is truncated")
        if len(out) > limit:
            raise RunsError(413, f"{what} decompresses to more than the {limit:,} bytes allowed")
        rest = d.unused_data
    return bytes(out)


def json_object(body: bytes, what: str) -> dict[str, Any]:
    """``body`` parsed as a JSON object (an empty body is an empty object)."""
    if not body.strip():
        return {}
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunsError(400, f"{what} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise RunsError(422, f"{what} must be a JSON object, got {type(value).__name__}")
    return value


def _scalar(v: Any) -> bool:
    if isinstance(v, str):
        return len(v) <= _MAX_TEXT
    return v is None or isinstance(v, (bool, int, float))


def _command(value: Any) -> list[str] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    if isinstance(value, list) and all(isinstance(a, str) for a in value):
        return value
    return None


def _gpu_uuids(value: Any) -> list[str] | None:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or len(items) > _MAX_GPUS:
        return None
    found: list[str] = []
    for item in items:
        if not (isinstance(item, str) and _GPU.fullmatch(item.strip())):
            return None
        if item.strip() not in found:
            found.append(item.strip())
    return found


def run_metadata(body: dict[str, Any]) -> dict[str, Any]:
    """The register body checked and normalised (``command`` as a list, GPU UUIDs a list).

    Raises:
        RunsError: 422 naming every malformed field.
    """
    problems: list[str] = []
    if len(body) > _MAX_KEYS:
        problems.append(f"at most {_MAX_KEYS} fields, got {len(body)}")
    out: dict[str, Any] = {}
    for key, value in body.items():
        if value is None:
            continue
        if key in TEXT_FIELDS:
            most = 255 if key in _SHORT else _MAX_TEXT
            if not isinstance(value, str) or len(value) > most:
                problems.append(f"{key}: must be a string of at most {most} characters")
                continue
        elif key == "pid":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                problems.append("pid: must be a non-negative integer")
                continue
        elif key == "command":
            command = _command(value)
            if command is None:
                problems.append(
                    'command: must be a JSON array of strings (as a string, e.g. \'["python", '
                    '"train.py"]\')'
                )
                continue
            value = command
        elif key == "tags":
            if not isinstance(value, dict) or len(value) > _MAX_TAGS:
                problems.append(f"tags: must be an object of at most {_MAX_TAGS} entries")
                continue
            bad = [k for k, v in value.items() if len(k) > 128 or not _scalar(v)]
            if bad:
                problems.append(
                    f"tags: {', '.join(map(repr, bad[:5]))}: keys of at most 128 characters "
                    "with a string, number, boolean or null value"
                )
                continue
        elif key == "host_gpu_uuids":
            gpus = _gpu_uuids(value)
            if gpus is None:
                problems.append(
                    f"host_gpu_uuids: must be a list of at most {_MAX_GPUS} GPU UUIDs "
                    "(e.g. 'GPU-8a1f...')"
                )
                continue
            value = gpus
        elif not _KEY.fullmatch(key):
            problems.append(f"{key[:64]!r}: not a field name (letters, digits, '_', '.', '-')")
            continue
        elif not (_scalar(value) or (isinstance(value, list) and all(map(_scalar, value)))):
            problems.append(f"{key}: must be a string, number, boolean or a list of them")
            continue
        out[key] = value
    _fail(problems, "run metadata")
    return out


@dataclass(frozen=True)
class Finish:
    """A checked finish request."""

    exit_code: int
    run_status: str
    data_source: str
    data_uris: tuple[str, ...] = ()
    data_csv: str = ""


def finish_request(body: dict[str, Any]) -> Finish:
    """The finish body checked.

    Raises:
        RunsError: 422 naming every missing or malformed field.
    """
    problems: list[str] = []
    exit_code = body.get("exit_code")
    if exit_code is None:
        problems.append("exit_code: missing")
    elif isinstance(exit_code, bool) or not isinstance(exit_code, int):
        problems.append("exit_code: must be an integer")
    elif not -_INT32 <= exit_code < _INT32:
        problems.append("exit_code: out of the 32-bit range")
    status = body.get("run_status")
    if status not in ("finished", "failed"):
        problems.append(
            "run_status: missing"
            if status is None
            else "run_status: must be 'finished' or 'failed'"
        )
    source = body.get("data_source")
    uris: tuple[str, ...] = ()
    csv = ""
    if source == "s3":
        raw = body.get("data_uris")
        if raw is None:
            problems.append("data_uris: missing (data_source 's3' needs the uploaded objects)")
        elif (
            not isinstance(raw, list)
            or not raw
            or len(raw) > _MAX_URIS
            or not all(isinstance(u, str) for u in raw)
        ):
            problems.append(f"data_uris: must be a list of 1 to {_MAX_URIS:,} URI strings")
        else:
            uris = tuple(raw)
    elif source == "inline":
        raw = body.get("data_csv")
        if raw is None:
            problems.append("data_csv: missing (data_source 'inline' needs the CSV text)")
        elif not isinstance(raw, str) or not raw.strip():
            problems.append("data_csv: must be the CSV text with its header line")
        else:
            csv = raw
    else:
        problems.append(
            "data_source: missing" if source is None else "data_source: must be 's3' or 'inline'"
        )
    _fail(problems, "finish request")
    return Finish(int(exit_code or 0), str(status), str(source), uris, csv)
