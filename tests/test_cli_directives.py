"""``sentinel directives approve|reject`` of several directives at once, against a real server."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner, Result
from sentinel_testing import issue_pending, register_host

from sentinel.cli import cli


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ENDPOINT", "CA_CERT", "CLIENT_CERT", "CLIENT_KEY", "TOKEN", "TIMEOUT"):
        monkeypatch.delenv(f"SENTINEL_{name}", raising=False)


def _run(server: Any, *args: str) -> Result:
    options = ["--endpoint", server.address, "--timeout", "10", "--token", server.operator_token]
    return CliRunner().invoke(cli, [*options, *args])


def test_approve_several_ids_reports_each_and_exits_1_for_the_missing_one(
    fleet_server: Any,
) -> None:
    uuids = register_host(fleet_server.engine, "node-a", 3)
    ids = [issue_pending(fleet_server.engine, u) for u in uuids]
    result = _run(
        fleet_server,
        "directives",
        "approve",
        ids[0],
        "no-such-directive",
        ids[1],
        "--comment",
        "go",
    )
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert any(line.startswith(f"accepted: directive {ids[0]}") for line in lines)
    assert any(line.startswith(f"accepted: directive {ids[1]}") for line in lines)
    assert any("not reviewed: no-such-directive" in line for line in lines)
    assert lines[-1] == "approved 2 of 3 directives"
    assert list(fleet_server.engine.pending) == [ids[2]]
    assert [fleet_server.engine.state.gpus[u].state for u in uuids] == [3, 3, 1]


def test_all_pending(fleet_server: Any) -> None:
    uuids = register_host(fleet_server.engine, "node-a", 3)
    ids = [issue_pending(fleet_server.engine, u) for u in uuids]
    result = _run(fleet_server, "directives", "reject", "--all-pending", "--comment", "no")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("rejected: directive") == 3
    assert all(i in result.stdout for i in ids)
    assert fleet_server.engine.pending == {}
    assert _run(fleet_server, "directives", "approve", "--all-pending").stdout == (
        "Nothing waits for review.\n"
    )


def test_ids_or_all_pending_must_be_given_not_both(fleet_server: Any) -> None:
    for args in ((), ("some-id", "--all-pending")):
        result = _run(fleet_server, "directives", "approve", *args)
        assert result.exit_code == 2
        assert "--all-pending" in result.output and "Traceback" not in result.output
