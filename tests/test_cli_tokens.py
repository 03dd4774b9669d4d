"""``sentinel tokens create|list|revoke`` on a running server's database, and ``--token``
before or after the subcommand."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sentinel_testing import register_host, start_server

from sentinel.cli import cli
from sentinel.fleet import AuthenticationError, QuarantineAction, SentinelClient

_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Any]:
    s = start_server(tmp_path)
    register_host(s.engine, "node-1", 2)
    yield s
    s.stop()


def _tokens(server: Any, *args: str) -> Result:
    data_dir = str(server.settings.data_dir)
    return CliRunner().invoke(cli, ["tokens", *args, "--data-dir", data_dir])


def test_create_list_revoke_against_a_running_server(server: Any) -> None:
    made = _tokens(server, "create", "--scope", "operator", "--name", "frank")
    assert made.exit_code == 0, made.output
    token = made.stdout.strip()
    assert token.startswith("snt_operator_")
    assert "only time it is shown" in made.stderr
    gpu = next(iter(server.engine.state.gpus))
    with SentinelClient.connect(server.address, token=token) as client:
        done = client.issue_quarantine(gpu, QuarantineAction.QUARANTINE, "cli token")
        assert done.accepted
        now = datetime.now(timezone.utc)
        history = client.get_gpu_history(gpu, now - timedelta(hours=1), now + timedelta(hours=1))
        assert history.state_transitions[-1].initiated_by == "frank"

    listed = _tokens(server, "list")
    assert listed.exit_code == 0 and token not in listed.output
    row = next(line for line in listed.stdout.splitlines() if "frank" in line)
    token_id = _ID.search(row)[0]  # type: ignore[index]
    assert "operator" in row and len(_TIME.findall(row)) == 1

    revoked = _tokens(server, "revoke", token_id)
    assert revoked.exit_code == 0 and f"Revoked operator token {token_id} (frank)" in revoked.output
    row = next(line for line in _tokens(server, "list").stdout.splitlines() if "frank" in line)
    assert len(_TIME.findall(row)) == 2  # created and revoked

    def refusal(client: SentinelClient) -> str | None:
        try:
            client.query_gpu_health(gpu)
        except AuthenticationError as exc:
            return str(exc)
        return None

    deadline = time.monotonic() + 3
    with SentinelClient.connect(server.address, token=token) as client:
        while (error := refusal(client)) is None:
            assert time.monotonic() < deadline, "the server still accepts a revoked token"
            time.sleep(0.05)
    assert "was revoked" in error


def test_agent_tokens_need_a_host_and_unknown_ids_say_where_to_look(server: Any) -> None:
    result = _tokens(server, "create", "--scope", "agent")
    assert result.exit_code == 2 and "give --host" in result.output
    made = _tokens(server, "create", "--scope", "agent", "--host", "node-1")
    assert made.exit_code == 0 and made.stdout.startswith("snt_agent_")
    assert "for host node-1" in made.stderr
    missing = _tokens(server, "revoke", "no-such-id")
    assert missing.exit_code == 1 and "sentinel tokens list" in missing.output
    empty = CliRunner().invoke(cli, ["tokens", "list", "--data-dir", str(server.settings.data_dir)])
    assert "node-1" in empty.stdout


def test_capture_tokens_name_their_repositories(server: Any) -> None:
    missing = _tokens(server, "create", "--scope", "capture")
    assert missing.exit_code == 2 and "--repo owner/repo" in missing.output
    wrong = _tokens(server, "create", "--scope", "runs", "--repo", "acme/shop")
    assert wrong.exit_code == 2 and "only capture tokens are bound to repositories" in wrong.output
    made = _tokens(
        server, "create", "--scope", "capture", "--repo", "acme/shop", "--repo", "acme/billing"
    )
    assert made.exit_code == 0, made.output
    token = made.stdout.strip()
    assert token.startswith("snt_capture_") and "for acme/shop, acme/billing" in made.stderr
    identity = server.tokens.lookup(token).identity()
    assert identity.reports_for("acme/billing") and not identity.reports_for("acme/other")
    listed = _tokens(server, "list")
    assert listed.exit_code == 0 and token not in listed.stdout
    assert "acme/shop" in listed.stdout and "acme/billing" in listed.stdout


@pytest.mark.parametrize("where", ["before", "after", "after="])
def test_token_works_before_and_after_the_subcommand(server: Any, where: str) -> None:
    gpu = next(iter(server.engine.state.gpus))
    command = ["quarantine", gpu, "--action", "quarantine", "--reason", "placement"]
    token = server.tokens.create("operator", name="gina")[1]
    base = ["--endpoint", server.address]
    args = {
        "before": [*base, "--token", token, *command],
        "after": [*base, *command, "--token", token],
        "after=": [*base, *command, f"--token={token}"],
    }[where]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert server.engine.state.gpus[gpu].state.name == "QUARANTINED"
