"""Issue 13, O1: what one token request costs the database, counted, not timed.

SQL statements (SQLAlchemy's ``before_cursor_execute``), commits and ephemeral-store round
trips of one ``POST /token`` for each grant, on SQLite with the SQL store (whose statements
on the ``ephemeral`` table are its round trips). Only the request's own thread counts (the
audit sealer runs after the commit, off it). The numbers are exact: a statement more is a
change someone must mean (update the number and say why in the commit).

A refresh: the claim (one ``UPDATE … RETURNING``), the family read (with user and
contract), the new refresh token, the audit event and, with the SQL store, the access token
(the store's write on the grant's transaction): one commit. No read of the client (cached)
nor of the contract's lines (an internet session).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field

import pytest
from flask import has_request_context
from flask import request
from sqlalchemy import event

from tests.conftest import PASSWORD
from tests.helpers import Browser
from tests.helpers import RelyingParty
from tests.helpers import redirect_params
from tests.test_client_credentials import service_client
from tests.test_line_authentication import contract_with_line
from tests.test_line_authentication import line_sign_in
from tests.test_line_authentication import node  # noqa: F401  (its fixture: a line gateway)


@dataclass
class Counted:
    statements: list[str] = field(default_factory=list)
    store: list[str] = field(default_factory=list)
    commits: int = 0


@contextmanager
def counted(provider) -> Iterator[Counted]:
    """Statements and commits of ``POST /token`` requests while inside."""
    from idp.models import db

    result = Counted()

    def is_token_request() -> bool:
        return has_request_context() and request.path == "/token"

    def on_execute(conn, cursor, statement, parameters, context, executemany) -> None:
        if not is_token_request():
            return
        text = " ".join(statement.split())
        (result.store if " ephemeral " in f" {text} " else result.statements).append(text)

    def on_commit(conn) -> None:
        if is_token_request():
            result.commits += 1

    provider.app.extensions["idp.audit_sealer"].wait_idle()
    with provider.app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", on_execute)
    event.listen(engine, "commit", on_commit)
    try:
        yield result
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
        event.remove(engine, "commit", on_commit)


def verbs(statements: list[str]) -> list[str]:
    return [" ".join(s.split()[:3]) for s in statements]


@pytest.fixture()
def sqlite_provider(provider):
    if provider.backend != "sqlite+sqlstore":
        pytest.skip("counted on SQLite with the SQL store")
    return provider


def _tokens(provider, rp: RelyingParty, user) -> dict:
    _user_id, email = user
    return rp.login_tokens(Browser(provider.url), email, PASSWORD)


@pytest.mark.covers("O1")
def test_O1_refresh_is_four_statements_and_one_store_write_in_one_commit(sqlite_provider, rp, user):
    tokens = _tokens(sqlite_provider, rp, user)
    with counted(sqlite_provider) as seen:
        refreshed = rp.refresh(tokens["refresh_token"])
    assert refreshed["_status"] == 200, refreshed
    assert verbs(seen.statements) == [
        "UPDATE refresh_tokens SET",  # the claim, RETURNING the token's row
        "SELECT token_families.client_id, token_families.scope,",  # family + user + contract
        "INSERT INTO refresh_tokens",
        "INSERT INTO audit_events",
    ], seen.statements
    assert "RETURNING" in seen.statements[0]
    # One transaction for the grant, the access token's store write included (SQL store).
    assert seen.commits == 1
    assert verbs(seen.store) == ["INSERT INTO ephemeral"]


@pytest.mark.covers("O1")
def test_O1_client_credentials_is_one_statement_and_one_store_write_in_one_commit(sqlite_provider):
    client = service_client(sqlite_provider, sqlite_provider.new_contract(), scope="admin:read")
    grant = {"grant_type": "client_credentials"}
    assert client.token_request(grant)["_status"] == 200  # reads the registration once
    with counted(sqlite_provider) as seen:
        answer = client.token_request(grant)
    assert answer["_status"] == 200, answer
    # C3: the contract is live -- read with the cached registration (idp/oidc/client_cache.py).
    assert verbs(seen.statements) == ["INSERT INTO audit_events"], seen.statements
    assert seen.commits == 1  # the access token commits with the audit event
    assert verbs(seen.store) == ["INSERT INTO ephemeral"]


@pytest.mark.covers("O1")
def test_O1_code_exchange_reads_the_family_once(sqlite_provider, rp, user):
    _user_id, email = user
    callback = rp.sign_in(Browser(sqlite_provider.url), email, PASSWORD)
    with counted(sqlite_provider) as seen:
        tokens = rp.exchange(callback["code"])
    assert tokens["_status"] == 200 and tokens["id_token"], tokens
    assert verbs(seen.statements) == [
        "SELECT token_families.client_id, token_families.scope,",  # once, not three times
        "INSERT INTO refresh_tokens",
        "INSERT INTO audit_events",
    ], seen.statements
    # The store: the code taken (marked used in the same statement), the access token.
    assert verbs(seen.store) == [
        "UPDATE ephemeral SET",
        "INSERT INTO ephemeral",
    ]
    # One: the code's take is a statement of the grant's transaction on the SQL store (it
    # had a commit of its own: the take, then the grant's), which commits the access token too.
    assert seen.commits == 1


@pytest.mark.covers("O1", "X5")
def test_O1_X5_only_a_line_session_reads_the_contracts_lines_at_refresh(node):  # noqa: F811
    """X5 re-checks a line session's line at every refresh: that refresh reads the lines
    (one statement more); an internet session of the same contract does not. (This node is
    PostgreSQL: the claim reads the family in the same statement, ``UPDATE … FROM``.)"""
    contract_id, line = contract_with_line(node)
    _user_id, email = node.new_user(contract_id)
    rp = node.new_client()
    via_line = rp.exchange(
        redirect_params(line_sign_in(node, Browser(node.url), rp, email, line))["code"]
    )
    internet = rp.login_tokens(Browser(node.url), email, PASSWORD)
    with counted(node) as seen:
        assert rp.refresh(via_line["refresh_token"])["_status"] == 200
    assert verbs(seen.statements) == [
        "UPDATE refresh_tokens SET",  # with the family, user and contract (RETURNING)
        "SELECT line_numbers.number, line_numbers.notification",
        "INSERT INTO refresh_tokens",
        "INSERT INTO audit_events",
    ], seen.statements
    with counted(node) as seen:
        assert rp.refresh(internet["refresh_token"])["_status"] == 200
    assert len(seen.statements) == 3 and not any("line_numbers" in s for s in seen.statements)
