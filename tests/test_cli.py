"""The ``sentinel`` command against a real server (the ``fleet_server`` fixture)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from sentinel.cli import cli
from sentinel.fleet import AuditQueryFilters, SentinelClient

HOST = "gpu-rack-01-node-3"
GPUS = [
    (
        "GPU-aaaa1111-2222-3333-4444-555566667777",
        0,
        "NVIDIA H100 80GB HBM3",
        "550.54",
        "96.00",
        132,
    ),
    (
        "GPU-bbbb1111-2222-3333-4444-555566667777",
        1,
        "NVIDIA H100 80GB HBM3",
        "550.54",
        "96.00",
        132,
    ),
    ("GPU-cccc1111-2222-3333-4444-555566667777", 2, "NVIDIA A100 40GB", "550.54", "92.00", 108),
]
UNKNOWN = "GPU-ffff1111-2222-3333-4444-555566667777"
Run = Callable[..., Result]


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ENDPOINT", "CA_CERT", "CLIENT_CERT", "CLIENT_KEY", "TOKEN", "TIMEOUT"):
        monkeypatch.delenv(f"SENTINEL_{name}", raising=False)


@pytest.fixture
def server(fleet_server: Any) -> Any:
    fleet_server.engine.register_gpus(HOST, GPUS)
    return fleet_server


@pytest.fixture
def sentinel(server: Any) -> Run:
    """Runs ``sentinel`` against the server; ``operator=True`` adds the operator token."""

    def run(*args: str, operator: bool = False) -> Result:
        options = ["--endpoint", server.address, "--timeout", "10"]
        if operator:
            options += ["--token", server.operator_token]
        return CliRunner().invoke(cli, [*options, *args])

    return run


def _ok(result: Result) -> str:
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def _failed(result: Result, code: int, message: str) -> None:
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_fleet_status_lists_every_gpu(sentinel: Run) -> None:
    out = _ok(sentinel("fleet", "status"))
    assert "GPUs 3" in out
    for uuid, index, model, *_ in GPUS:
        row = next(line for line in out.splitlines() if uuid in line)
        assert HOST in row
        assert model in row
        assert "HEALTHY" in row
        assert f" {index} " in row


def test_fleet_status_filters_and_limits(sentinel: Run) -> None:
    out = _ok(sentinel("fleet", "status", "--model", "NVIDIA A100 40GB"))
    assert GPUS[2][0] in out
    assert GPUS[0][0] not in out
    out = _ok(sentinel("fleet", "status", "--limit", "2"))
    assert sum(uuid in out for uuid, *_ in GPUS) == 2
    assert "2 of 3 GPUs" in out
    out = _ok(sentinel("fleet", "status", "--state", "quarantined"))
    assert not any(uuid in out for uuid, *_ in GPUS)


def test_gpu_show(sentinel: Run) -> None:
    out = _ok(sentinel("gpu", "show", GPUS[0][0]))
    assert GPUS[0][0] in out
    assert "NVIDIA H100 80GB HBM3" in out
    assert "HEALTHY" in out
    assert "No SM has failed a probe (132 tracked" in out
    out = _ok(sentinel("gpu", "show", GPUS[0][0], "--all-sms"))
    assert "SMs" in out


def test_unknown_gpu_exits_3(sentinel: Run) -> None:
    _failed(sentinel("gpu", "show", UNKNOWN), 3, UNKNOWN)


def test_malformed_uuid_is_not_found(sentinel: Run) -> None:
    _failed(sentinel("gpu", "show", "not-a-gpu-uuid"), 3, "GPU-xxxxxxxx-xxxx")


def test_condemning_needs_an_operator(sentinel: Run) -> None:
    result = sentinel("quarantine", GPUS[1][0], "--action", "condemn", "--reason", "test")
    _failed(result, 5, "issuing CONDEMN requires an operator's token")
    assert "--token" in result.stderr


def test_unreachable_server_exits_6(tmp_path: Path) -> None:
    # A port nobody listens on: bound for a moment by this test, then released.
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = CliRunner().invoke(
        cli, ["--endpoint", f"127.0.0.1:{port}", "--timeout", "2", "fleet", "status"]
    )
    _failed(result, 6, f"endpoint 127.0.0.1:{port}")


def test_quarantine_then_history(sentinel: Run) -> None:
    uuid = GPUS[1][0]
    out = _ok(
        sentinel(
            "quarantine",
            uuid,
            "--action",
            "quarantine",
            "--reason",
            "repeated FMA failures on SM 42",
            "--evidence",
            "probe-exec-001",
            "--initiated-by",
            "operator:test",
            operator=True,
        )
    )
    assert out.startswith("accepted: directive ")
    assert "QUARANTINED" in out
    assert "QUARANTINED" in _ok(sentinel("gpu", "show", uuid))

    out = _ok(sentinel("gpu", "history", uuid, "--since", "1h"))
    row = next(line for line in out.splitlines() if "repeated FMA failures" in line)
    assert "HEALTHY" in row
    assert "QUARANTINED" in row
    assert "operator:test" in row


def test_an_illegal_transition_is_rejected_with_exit_1(sentinel: Run) -> None:
    result = sentinel(
        "quarantine", GPUS[2][0], "--action", "reinstate", "--reason", "x", operator=True
    )
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith("rejected: ")
    assert "HEALTHY" in _ok(sentinel("gpu", "show", GPUS[2][0]))


def test_directive_approval(sentinel: Run) -> None:
    uuid = GPUS[0][0]
    out = _ok(
        sentinel(
            "quarantine",
            uuid,
            "--action",
            "quarantine",
            "--reason",
            "needs a second opinion",
            "--requires-approval",
            operator=True,
        )
    )
    directive_id = out.split("directive ", 1)[1].split(",", 1)[0]
    assert f"sentinel directives approve|reject {directive_id}" in out

    pending = _ok(sentinel("directives", "list", "--pending"))
    row = next(line for line in pending.splitlines() if directive_id in line)
    assert uuid in row
    assert "pending" in row

    out = _ok(sentinel("directives", "approve", directive_id, "--comment", "ok", operator=True))
    assert out.startswith(f"accepted: directive {directive_id}")
    assert directive_id not in _ok(sentinel("directives", "list", "--pending"))
    listed = _ok(sentinel("directives", "list"))
    assert "approved by" in next(line for line in listed.splitlines() if directive_id in line)
    assert "QUARANTINED" in _ok(sentinel("gpu", "show", uuid))


def test_directive_rejection_succeeds_and_changes_nothing(sentinel: Run) -> None:
    uuid = GPUS[1][0]
    out = _ok(
        sentinel(
            "quarantine",
            uuid,
            "--action",
            "quarantine",
            "--reason",
            "maybe",
            "--requires-approval",
            operator=True,
        )
    )
    directive_id = out.split("directive ", 1)[1].split(",", 1)[0]
    out = _ok(
        sentinel("directives", "reject", directive_id, "--comment", "false alarm", operator=True)
    )
    assert out.startswith(f"rejected: directive {directive_id}")
    assert "false alarm" in out
    assert "HEALTHY" in _ok(sentinel("gpu", "show", uuid))
    assert directive_id not in _ok(sentinel("directives", "list", "--pending"))


def test_audit_verify(sentinel: Run) -> None:
    out = _ok(sentinel("audit", "verify", operator=True))
    assert out.startswith("VALID: ")
    assert "entries" in out


def test_audit_export_matches_the_ledger(sentinel: Run, server: Any, tmp_path: Path) -> None:
    _ok(sentinel("quarantine", GPUS[2][0], "--action", "condemn", "--reason", "x", operator=True))
    target = tmp_path / "audit.jsonl"
    out = _ok(sentinel("audit", "export", str(target), operator=True))

    records = [json.loads(line) for line in target.read_text().splitlines()]
    with SentinelClient.connect(server.address) as client:
        ledger = client.query_audit_trail(AuditQueryFilters(limit=1000))
    assert len(records) == ledger.total_count == len(ledger.entries) > 0
    for record, entry in zip(records, ledger.entries, strict=True):
        assert record["entry_id"] == entry.entry_id
        assert record["type"] == entry.entry_type.name
        assert record["entry_hash"] == entry.entry_hash.hex()
    for before, after in zip(records, records[1:], strict=False):
        assert after["previous_hash"] == before["entry_hash"]
    assert f"Exported {len(records)} entries" in out
    assert "VALID: " in out
    assert not (tmp_path / "audit.jsonl.partial").exists()

    typed = tmp_path / "quarantines.jsonl"
    _ok(
        sentinel(
            "audit",
            "export",
            str(typed),
            *("--type", "quarantine-action", "--gpu", GPUS[2][0]),
            operator=True,
        )
    )
    lines = [json.loads(line) for line in typed.read_text().splitlines()]
    assert lines
    assert {(line["type"], line["gpu_uuid"]) for line in lines} == {
        ("QUARANTINE_ACTION", GPUS[2][0])
    }


def test_certs_dev(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["certs", "dev", str(tmp_path / "pki")])
    out = _ok(result)
    import socket

    agent_key = f"{socket.gethostname()}-key.pem"  # the agent certificate names this host
    for name in ("ca.pem", "server.pem", "server-key.pem", "operator.pem", agent_key):
        assert (tmp_path / "pki" / name).is_file()
    assert f"export SENTINEL_TLS_CERT={(tmp_path / 'pki' / 'server.pem').resolve()}" in out
    for variable in ("SENTINEL_TLS_CLIENT_CA", "SENTINEL_OPERATOR_SUBJECTS", "SENTINEL_CA_CERT"):
        assert f"export {variable}=" in out
    assert "SENTINEL_CLIENT_KEY" in out


def test_serve_flags_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import sentinel.server.app

    seen: list[Any] = []
    monkeypatch.setattr(sentinel.server.app, "run_server", seen.append)
    monkeypatch.setenv("SENTINEL_GRPC_PORT", "6000")
    monkeypatch.setenv("SENTINEL_HTTP_PORT", "6001")
    result = CliRunner().invoke(cli, ["serve", "--http-port", "0", "--host", "0.0.0.0"])
    _ok(result)
    (settings,) = seen
    assert (settings.grpc_port, settings.http_port, settings.host) == (6000, 0, "0.0.0.0")


def test_serve_reports_bad_settings_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTINEL_GRPC_PORT", "fifty")
    result = CliRunner().invoke(cli, ["serve"])
    assert result.exit_code == 1
    assert "fifty" in result.stderr
    assert "Traceback" not in result.output


def test_client_commands_do_not_load_the_server_stack() -> None:
    heavy = ["sqlalchemy", "fastapi", "sentinel.server.app", "cryptography"]
    code = f"import sys, sentinel.cli; sys.exit(sorted({heavy!r} & sys.modules.keys()) or None)"
    subprocess.run([sys.executable, "-c", code], check=True)
