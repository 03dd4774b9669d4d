"""Client of the runs ingestion API: register a run, refresh its upload credentials, finish it.

Standard library only and Python 3.10+, so that a tracker or a CI job can call it without
the server stack. Signatures, defaults and the wire format are those of the published
``resource_tracker.sentinel_api`` client, so either client talks to either server:
``POST /runs``, ``POST /runs/{id}/refresh-credentials`` and ``POST /runs/{id}/finish`` at
the root of ``SENTINEL_API_URL``, a flat JSON body, and a gzipped body for inline finishes.
"""

from __future__ import annotations

import gzip
import json
import os
import shlex
from enum import Enum
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urljoin
from urllib.request import Request, urlopen

DEFAULT_API_URL = "http://127.0.0.1:8000"
"""Where ``SENTINEL_API_URL`` points when unset: a server started by ``sentinel up``."""
DEFAULT_TIMEOUT = 30.0
"""Seconds one request may take."""


class RunStatus(Enum):
    """How a run ended."""

    finished = "finished"
    failed = "failed"


class DataSource(Enum):
    """Where the run's CSV data is: uploaded objects (``s3``) or the finish request itself."""

    s3 = "s3"
    inline = "inline"


class SentinelAPIError(Exception):
    """The API answered with a non-2xx status.

    Attributes:
        status_code: The HTTP status code.
        body: The response body as text (the server's is JSON ``{"error": "..."}``).
    """

    def __init__(self, status_code: int, body: str) -> None:
        self.status_code = status_code
        self.body = body
        super().__init__(f"Sentinel API error {status_code}: {body}")


def api_url() -> str:
    """The API's base URL: ``SENTINEL_API_URL``, else the local server of ``sentinel up``."""
    return os.environ.get("SENTINEL_API_URL") or DEFAULT_API_URL


def _token(token: str | None) -> str:
    found = token or os.environ.get("SENTINEL_API_TOKEN", "")
    if not found:
        raise ValueError(
            "no API token: pass token= or set SENTINEL_API_TOKEN "
            "(an operator creates one with `sentinel tokens create --scope runs`)"
        )
    return found


def _request(
    path: str, token: str | None, payload: dict[str, Any] | None = None, *, compress: bool = False
) -> dict[str, Any]:
    body = json.dumps(payload).encode() if payload is not None else None
    if compress and body is not None:
        body = gzip.compress(body, compresslevel=6)
    request = Request(urljoin(api_url(), path), data=body, method="POST")
    request.add_header("Authorization", f"Bearer {_token(token)}")
    request.add_header("Content-Type", "application/json")
    request.add_header("Accept", "application/json")
    if compress and body is not None:
        request.add_header("Content-Encoding", "gzip")
    try:
        with urlopen(request, timeout=DEFAULT_TIMEOUT) as response:
            text = response.read().decode()
    except HTTPError as exc:
        raise SentinelAPIError(exc.code, exc.read().decode(errors="replace")) from exc
    answer: dict[str, Any] = json.loads(text) if text else {}
    return answer


def register_run(
    token: str | None = None,
    metadata: dict[str, Any] | None = None,
    *,
    host_info: dict[str, Any] | None = None,
    cloud_info: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Register the start of a run.

    Args:
        token: Bearer token of scope ``runs``; default ``SENTINEL_API_TOKEN``.
        metadata: ``project_name``, ``job_name``, ``stage_name``, ``task_name``,
            ``external_run_id``, ``pid``, ``container_image``, ``command`` (a list of
            arguments or a shell string; sent as a JSON-array string), ``env``,
            ``language``, ``orchestrator``, ``executor``, ``team`` and ``tags`` (a dict).
        host_info: ``host_*`` fields (``host_vcpus``, ``host_memory_mib``,
            ``host_gpu_uuids``...).
        cloud_info: ``cloud_*`` fields (``cloud_vendor_id``, ``cloud_region_id``...).

    Returns:
        ``run_id``, ``upload_uri_prefix`` and ``upload_credentials`` (``access_key``,
        ``secret_key``, ``session_token``, ``expiration``, ``region``).

    Raises:
        SentinelAPIError: The server refused (401 token, 413 too large, 422 bad field).
    """
    payload = {k: v for k, v in (metadata or {}).items() if v is not None}
    for extra in (host_info, cloud_info):
        payload.update({k: v for k, v in (extra or {}).items() if v is not None})
    if "command" in payload:
        command = payload["command"]
        payload["command"] = json.dumps(
            shlex.split(command) if isinstance(command, str) else list(command)
        )
    return _request("/runs", token, payload)


def refresh_credentials(token: str | None, run_id: str) -> dict[str, Any]:
    """New temporary upload credentials for a running run (``upload_credentials``).

    Raises:
        SentinelAPIError: 404 for a run this token does not own, 409 once it finished.
    """
    return _request(f"/runs/{run_id}/refresh-credentials", token)


def finish_run(
    token: str | None,
    run_id: str,
    *,
    exit_code: int = 0,
    run_status: RunStatus = RunStatus.finished,
    data_source: DataSource = DataSource.s3,
    data_uris: list[str] | None = None,
    data_csv: str | None = None,
) -> dict[str, Any]:
    """Mark a run finished and hand over its data; returns the statistics the server computed.

    Finishing twice returns the same statistics.

    Args:
        token: Bearer token of scope ``runs``; ``None``: ``SENTINEL_API_TOKEN``.
        run_id: The ``run_id`` of :func:`register_run`.
        exit_code: Exit code of the tracked process.
        run_status: ``finished`` or ``failed``.
        data_source: ``s3`` for uploaded objects (``data_uris``, each under the run's
            ``upload_uri_prefix``), ``inline`` for a CSV sent in this request (gzipped).
        data_uris: URIs of the uploaded gzipped CSV objects, in order.
        data_csv: The CSV text, with its header line.

    Raises:
        ValueError: The data the chosen ``data_source`` needs is missing.
        SentinelAPIError: The server refused (404, 413, 422 with the field or CSV column).
    """
    source = DataSource(data_source)
    payload: dict[str, Any] = {
        "exit_code": exit_code,
        "run_status": RunStatus(run_status).value,
        "data_source": source.value,
    }
    if source is DataSource.s3:
        if not data_uris:
            raise ValueError("data_source='s3' needs data_uris (the uploaded objects' URIs)")
        payload["data_uris"] = list(data_uris)
    else:
        if data_csv is None:
            raise ValueError("data_source='inline' needs data_csv (the CSV text)")
        payload["data_csv"] = data_csv
    return _request(f"/runs/{run_id}/finish", token, payload, compress=source is DataSource.inline)
