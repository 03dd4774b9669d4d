"""The token store on SQLite and PostgreSQL: shown once, stored hashed, revocable."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from sentinel.core.auth import Authorizer, Refused
from sentinel.core.db import make_engine, migrate
from sentinel.core.identity import SCOPES, TokenStore, looks_like_token


@pytest.fixture
def db(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    migrate(engine)
    yield engine
    engine.dispose()


def test_a_token_is_shown_once_and_stored_as_its_hash(db: Engine) -> None:
    store = TokenStore(db)
    record, token = store.create("agent", host="node-7")
    assert token.startswith("snt_agent_") and looks_like_token(token)
    assert (record.name, record.scope, record.host, record.revoked) == (
        "node-7",
        "agent",
        "node-7",
        False,
    )
    with db.connect() as conn:
        row = conn.execute(text("SELECT * FROM sentinel_tokens")).mappings().one()
    assert token not in {str(v) for v in row.values()}
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert store.lookup(token) == record
    assert store.lookup(token + "x") is None
    identity = record.identity()
    assert (identity.kind, identity.host, identity.operator) == ("agent", "node-7", False)
    assert identity.acts_for("node-7") and not identity.acts_for("node-8")


def test_every_scope_and_the_names_it_gets(db: Engine) -> None:
    store = TokenStore(db)
    made = {
        scope: store.create(
            scope,
            host="h" if scope == "agent" else "",
            repos=("acme/shop",) if scope == "capture" else (),
        )
        for scope in SCOPES
    }
    kinds = {scope: record.identity().kind for scope, (record, _) in made.items()}
    assert kinds == {
        "operator": "operator",
        "agent": "agent",
        "runs": "client",
        "capture": "client",
        "llm": "client",
    }
    assert made["runs"][0].name == f"runs-{made['runs'][0].token_id[:8]}"
    assert [r.token_id for r in store.records()] == [r.token_id for r, _ in made.values()]
    assert len({token for _, token in made.values()}) == len(SCOPES)


@pytest.mark.parametrize(
    ("scope", "host", "name", "message"),
    [
        ("root", "", "", "scope must be one of operator, agent, runs, capture, llm"),
        ("agent", "", "", "an agent token is bound to a host: give --host"),
        ("operator", "node-1", "", "only agent tokens are bound to a host"),
        ("agent", "bad host", "", "is not a hostname"),
        ("operator", "", "al ice", "name 'al ice' must be 1-128"),
    ],
)
def test_bad_fields_are_refused_with_how_to_fix(
    db: Engine, scope: str, host: str, name: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        TokenStore(db).create(scope, host=host, name=name)
    assert TokenStore(db).records() == []


def test_capture_tokens_are_bound_to_repositories(db: Engine) -> None:
    store = TokenStore(db)
    record, token = store.create("capture", repos=["acme/shop", "Acme/Billing", "acme/shop"])
    assert record.repos == ("acme/shop", "Acme/Billing")  # duplicates once, as typed
    found = store.lookup(token)
    assert found is not None and found.repos == record.repos
    identity = found.identity()
    assert identity.repos == frozenset({"acme/shop", "acme/billing"})
    assert identity.reports_for("ACME/Shop") and identity.reports_for("acme/billing")
    assert not identity.reports_for("acme/other") and not identity.reports_for("evil/shop")
    operator = store.create("operator")[0].identity()
    assert operator.reports_for("any/repo") and operator.repos == frozenset()


@pytest.mark.parametrize(
    ("scope", "repos", "message"),
    [
        ("capture", (), "a capture token is bound to the repositories"),
        ("runs", ("acme/shop",), "only capture tokens are bound to repositories"),
        ("capture", ("acme",), "'acme' is not of the form owner/repo"),
        ("capture", ("acme/shop/x",), "is not of the form owner/repo"),
        ("capture", ("-acme/shop",), "is not of the form owner/repo"),
    ],
)
def test_bad_repositories_are_refused(
    db: Engine, scope: str, repos: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        TokenStore(db).create(scope, repos=repos)
    assert TokenStore(db).records() == []


def test_tokens_issued_before_repositories_existed_have_none(tmp_path: Path) -> None:
    from alembic import command

    from sentinel.core.db import _alembic_config

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    command.upgrade(_alembic_config(engine), "0004_fleet_reports")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO sentinel_tokens (token_id, name, scope, host, token_hash, created_us)"
                " VALUES ('t1', 'old', 'capture', '', 'h', 1)"
            )
        )
    migrate(engine)
    (record,) = TokenStore(engine).records()
    assert record.repos == () and not record.identity().reports_for("acme/shop")
    engine.dispose()


def test_revocation_is_immediate_here_and_within_a_second_elsewhere(db: Engine) -> None:
    server, cli = TokenStore(db), TokenStore(db)  # the server's store, the CLI's store
    record, token = server.create("operator", name="dave")
    assert server.lookup(token) == record  # cached now
    revoked = cli.revoke(record.token_id)
    assert revoked.revoked and cli.lookup(token) == revoked
    deadline = time.monotonic() + 3
    while not (found := server.lookup(token)) or not found.revoked:
        assert time.monotonic() < deadline, "the revocation did not reach the server's cache"
        time.sleep(0.05)
    with pytest.raises(KeyError, match="no token has id 'nope'"):
        cli.revoke("nope")


def test_http_operators_come_from_the_store_and_the_environment(db: Engine) -> None:
    store = TokenStore(db)
    _, operator = store.create("operator", name="erin")
    _, agent = store.create("agent", host="node-1")
    auth = Authorizer(operator_tokens=["ci:env-token"], store=store)
    assert auth.require_http_operator(f"Bearer {operator}", "approving").name == "erin"
    assert auth.require_http_operator("Bearer env-token", "approving").name == "ci"
    with pytest.raises(Refused) as caught:
        auth.require_http_operator(f"Bearer {agent}", "approving")
    assert caught.value.status == 403 and "the agent of host 'node-1'" in str(caught.value)
    with pytest.raises(Refused) as caught:
        auth.require_http_operator("Bearer snt_operator_" + "A" * 43, "approving")
    assert caught.value.status == 401
    with pytest.raises(Refused) as caught:
        auth.require_http_operator(None, "approving")
    assert caught.value.status == 403
    assert Authorizer(open_mode=True).require_http_operator(None, "approving").operator
