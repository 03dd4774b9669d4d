"""Schemathesis over every operation of the HTTP API of a real server.

Each operation gets generated requests, valid and invalid, with the operator's token;
every response must be no server error, have a status code the OpenAPI schema
documents, and a body of the documented content type and schema. Cases are run with
``@given`` over each operation's strategy (the Python API): schemathesis's pytest plugin
(``@schema.parametrize``) does not run under pytest 9.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sentinel_testing import OPERATOR_TOKEN, issue_pending, probe, register_host, start_server

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
_OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
MAX_EXAMPLES = 25
"""Per operation and generation mode: the run stays well under a minute on two cores."""
# An endless event stream: no response ever completes (test_api covers it).
_ENDLESS = {"/api/v1/events"}


@pytest.fixture(scope="module")
def fleet_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A server with a small fleet: failures, a quarantine and directives waiting."""
    server = start_server(Path(tmp_path_factory.mktemp("schemathesis")))
    try:
        uuids = register_host(server.engine, "node-a", 4, 0)
        for u in uuids:
            probe(server.engine, u, n=2)
        probe(server.engine, uuids[1], failing_sm=2, n=3)
        for u in uuids[2:]:
            issue_pending(server.engine, u)
        yield server
    finally:
        server.stop()


def _fuzz(operation: Any, mode: GenerationMode) -> int:
    """Run ``operation`` with generated cases of ``mode``; returns how many were sent."""
    sent = 0

    @given(case=operation.as_strategy(generation_mode=mode, headers=_OPERATOR))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        nonlocal sent
        sent += 1
        case.call_and_validate(headers=_OPERATOR, checks=CHECKS)

    run()
    return sent


def test_the_api_answers_as_its_schema_says(fleet_server: Any) -> None:
    schema = schemathesis.openapi.from_url(f"{fleet_server.http_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = {op.label for op in operations}
    assert "POST /api/v1/directives/review" in labels and len(labels) >= 15, labels
    failures: list[str] = []
    sent = 0
    for operation in operations:
        if operation.path in _ENDLESS:
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                sent += _fuzz(operation, mode)
            except Unsatisfiable:
                # No constrained input (no parameters, or a free-form string): there is
                # no invalid request to make.
                assert mode is GenerationMode.NEGATIVE, operation.label
            except Exception as exc:  # every operation runs; all failures are reported
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert not failures, "\n\n".join(failures)
    assert sent >= len(operations) * 10
