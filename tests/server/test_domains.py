"""The server as a host of domains: composition, isolation, migrations, the home page."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from sentinel_testing import probe, register_host, start_server
from sqlalchemy import text

from sentinel.core.db import make_engine, migrate, schema_revisions
from sentinel.core.domain import DOMAINS, Domain, installed, parse_domains

SRC = Path(__file__).parents[2] / "src" / "sentinel"
FIXTURE_DB = Path(__file__).parents[1] / "data" / "sentinel-0.1.0.db"
"""A SQLite database written by the code before domains (commit 25e4ca5): four GPUs of host
node-a with probe results, a quarantined GPU, a pending directive, an agent and a runs token."""


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_server_names_no_domain_and_no_domain_imports_the_server() -> None:
    for path in (SRC / "server").rglob("*.py"):
        leaked = {m for m in _imports(path) if m.split(".")[:2][-1] in DOMAINS}
        assert not leaked, f"{path} imports {leaked}"
    for name in installed():
        for path in (SRC / name).rglob("*.py"):
            server = {m for m in _imports(path) if m.startswith("sentinel.server")}
            assert not server, f"{path} imports {server}"
    for path in (SRC / "core").rglob("*.py"):
        leaked = {m for m in _imports(path) if m.split(".")[:2][-1] in DOMAINS}
        assert not leaked, f"{path} (core) imports {leaked}"


def test_parse_domains_checks_names_and_keeps_the_order() -> None:
    assert installed()[0] == "fleet"
    assert parse_domains(" fleet ") == ("fleet",)
    with pytest.raises(ValueError, match="unknown domain 'nope'"):
        parse_domains("fleet,nope")
    with pytest.raises(ValueError, match="no domain enabled"):
        parse_domains(" , ")


def test_a_server_hosts_only_the_domains_it_is_given(tmp_path: Path) -> None:
    others = [d for d in installed() if d != "fleet"]
    if not others:
        pytest.fail("only the fleet is installed: the host needs a second domain to test")
    server = start_server(tmp_path, domains=(others[0],))
    try:
        assert list(server.domains) == [others[0]]
        with httpx.Client(base_url=server.http_url, timeout=10) as http:
            assert http.get("/fleet").status_code == 404  # the fleet's pages are not mounted
            health = http.get("/healthz").json()
            assert health["domains"] == {others[0]: "ok"} and "gpus" not in health
            home = http.get("/").text
            assert 'href="/fleet"' not in home
        with pytest.raises(AttributeError, match="engine"):
            _ = server.engine
    finally:
        server.stop()


def test_home_page_summarises_every_domain_and_links_them(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    try:
        uuids = register_host(server.engine, "node-a", 2, 0)
        probe(server.engine, uuids[1], failing_sm=2, n=3)  # quarantined
        with httpx.Client(base_url=server.http_url, timeout=10) as http:
            home = http.get("/")
            assert home.status_code == 200
            for domain in server.domains.values():
                card = domain.card()
                assert card is not None, domain.name
                assert f'data-domain-card="{card.href}"' in home.text
                assert http.get(card.href).status_code == 200
            fleet = server.domains["fleet"].card()
            assert dict(fleet.figures)["quarantined"] == "1" and fleet.status == "bad"
            assert 'class="panel domain-card status-bad"' in home.text
            for entry in (e for d in server.domains.values() for e in d.nav()):
                assert f'href="{entry.href}"' in home.text
    finally:
        server.stop()


class _Broken(Domain):
    name = "broken"
    package = "sentinel.core"

    def related(self, kind: str, key: str) -> Any:
        raise RuntimeError("boom")


def test_one_domain_failing_to_list_related_items_does_not_break_another_page(
    tmp_path: Path,
) -> None:
    server = start_server(tmp_path)
    try:
        uuid = register_host(server.engine, "node-a", 1, 0)[0]
        server.domains["broken"] = _Broken(server.host)
        page = httpx.get(f"{server.http_url}/gpus/{uuid}", timeout=10)
        assert page.status_code == 200 and "node-a" in page.text
    finally:
        server.stop()


def _revisions(url: str) -> tuple[str, ...]:
    db = make_engine(url)
    try:
        return schema_revisions(db)
    finally:
        db.dispose()


def test_a_database_of_the_version_before_domains_upgrades_in_place(tmp_path: Path) -> None:
    """The fixture was written by the code before this change; opening it keeps every row."""
    path = tmp_path / "sentinel.db"
    shutil.copy(FIXTURE_DB, path)
    url = f"sqlite:///{path}"
    assert _revisions(url) == ("0004_fleet_reports",)
    db = make_engine(url)
    with db.connect() as conn:
        before = {
            t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one()
            for t in ("ledger_entries", "fleet_gpus", "fleet_directives", "sentinel_tokens")
        }
    db.dispose()
    assert before["fleet_gpus"] == 4 and before["ledger_entries"] > 0
    server = start_server(tmp_path, url)
    try:
        assert server.engine.state.total() == 4
        health = httpx.get(f"{server.http_url}/healthz", timeout=10).json()
        assert health["status"] == "ok", health  # the ledger verifies after the upgrade
        assert health["ledger_entries"] > before["ledger_entries"]  # old chain + start event
        assert len(server.engine.pending) == 1
        names = {r.name for r in server.tokens.records()}
        assert {"node-a-agent", "ci-runs"} <= names
    finally:
        server.stop()
    heads = _revisions(url)
    assert "0004_fleet_reports" in heads or any(h.startswith("0005") for h in heads)
    assert len(heads) == len(installed_branches()), heads


def installed_branches() -> list[str]:
    """The trunk (core and fleet) plus one branch per later domain that has migrations."""
    return ["trunk"] + [
        d
        for d in DOMAINS
        if d != "fleet" and any((SRC / d / "migrations" / "versions").glob("*.py"))
    ]


def test_every_branch_upgrades_on_postgresql_from_the_trunk_head(db_url: str) -> None:
    """A database at the pre-domain head (built by the same revisions) gets every branch."""
    from alembic import command

    from sentinel.core.db import _alembic_config

    db = make_engine(db_url)
    try:
        command.upgrade(_alembic_config(db), "0004_fleet_reports")
        assert schema_revisions(db) == ("0004_fleet_reports",)
        migrate(db)
        assert len(schema_revisions(db)) == len(installed_branches())
        migrate(db)  # idempotent
    finally:
        db.dispose()


def test_serve_refuses_an_unknown_domain_before_starting(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from sentinel.cli import cli

    result = CliRunner().invoke(
        cli, ["serve", "--domains", "fleet,nope", "--data-dir", str(tmp_path / "d")]
    )
    assert result.exit_code == 1
    assert "unknown domain 'nope'" in result.output
    assert not (tmp_path / "d").exists()
