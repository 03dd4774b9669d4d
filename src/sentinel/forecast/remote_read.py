"""Prometheus's remote-read protocol, served from Sentinel's predicted series.

A Prometheus with a ``remote_read`` entry pointing at ``/api/v1/read`` (and
``read_recent: true``, or it never asks about the present and future) POSTs a
snappy-compressed protobuf ``ReadRequest``; Sentinel answers a ``ReadResponse`` of samples
(the ``SAMPLES`` response type every remote-read client accepts). PromQL over predicted
series then runs in that Prometheus's own engine, future timestamps included.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import cramjam
import numpy as np
from google.protobuf.message import DecodeError

from sentinel.forecast.prompb import remote_pb2
from sentinel.forecast.stored import Matcher, predicted_series

if TYPE_CHECKING:
    from sentinel.forecast.engine import Sentinel

MAX_BODY = 4 * 1024 * 1024
_OPS = {0: "=", 1: "!=", 2: "=~", 3: "!~"}
_HEADERS = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
}


def _refuse(status: int, message: str) -> tuple[int, bytes, dict[str, str]]:
    return status, message.encode() + b"\n", {"Content-Type": "text/plain; charset=utf-8"}


def decode_request(body: bytes) -> remote_pb2.ReadRequest:
    """The ``ReadRequest`` in a snappy block; raises ``ValueError`` saying what is wrong."""
    try:
        raw = bytes(cramjam.snappy.decompress_raw(body))
    except Exception as exc:
        raise ValueError(f"the body is not snappy block-compressed: {exc}") from None
    request = remote_pb2.ReadRequest()
    try:
        request.ParseFromString(raw)
    except DecodeError as exc:
        raise ValueError(f"the body is not a remote-read ReadRequest: {exc}") from None
    return request


def read(sentinel: Sentinel, request: remote_pb2.ReadRequest) -> remote_pb2.ReadResponse:
    """One ``QueryResult`` per query: the stored predicted series its matchers select, cut
    to its time range."""
    response = remote_pb2.ReadResponse()
    for query in request.queries:
        matchers = [Matcher(m.name, _OPS[m.type], m.value) for m in query.matchers]
        result = response.results.add()
        lo, hi = query.start_timestamp_ms, query.end_timestamp_ms
        for s in predicted_series(sentinel, matchers):
            ms = np.round(s.timestamps * 1000).astype(np.int64)
            keep = (ms >= lo) & (ms <= hi)
            if not keep.any():
                continue
            ts = result.timeseries.add()
            for name in sorted(s.labels):
                ts.labels.add(name=name, value=s.labels[name])
            for t, v in zip(ms[keep].tolist(), s.values[keep].tolist(), strict=True):
                ts.samples.add(timestamp=t, value=v)
    return response


def answer(
    sentinel: Sentinel, body: bytes, headers: Mapping[str, str]
) -> tuple[int, bytes, dict[str, str]]:
    """Status, body and headers for a ``POST /api/v1/read``."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if len(body) > MAX_BODY:
        return _refuse(413, f"a remote-read request may carry at most {MAX_BODY} bytes")
    if lowered.get("content-encoding", "snappy").lower() != "snappy":
        return _refuse(
            415, "remote-read requests are snappy-encoded protobuf (Content-Encoding: snappy)"
        )
    try:
        request = decode_request(body)
        for query in request.queries:
            for m in query.matchers:
                if m.type in (2, 3):
                    import re

                    re.compile(m.value)
    except ValueError as exc:
        return _refuse(400, str(exc))
    except Exception as exc:
        return _refuse(400, f"bad matcher: {exc}")
    payload = read(sentinel, request).SerializeToString()
    return 200, bytes(cramjam.snappy.compress_raw(payload)), dict(_HEADERS)
