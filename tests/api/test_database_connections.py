"""PostgreSQL connections that die under the server (a database restart, an administrator's
pg_terminate_backend): a pooled connection that sat idle is checked and replaced before use;
one that dies while it is reused at once fails that one request with 503 and Retry-After,
never 500, and the next request is served."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from teamgate.storage.db import engine
from tests.conftest import PG_ADMIN, postgresql_only
from tests.inprocess import App

pytestmark = postgresql_only
V1 = "/torc-service/v1"


@pytest.fixture
def owner(secured_app: App) -> Iterator[httpx.Client]:
    yield secured_app.client("alice")


def kill_connections(app: App) -> int:
    """Terminate every server connection to the app's database; how many there were."""
    name = make_url(engine.database_url(app.database)).database
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchall()
    return len(rows)


def test_an_idle_connection_that_died_is_replaced_before_use(
    secured_app: App, owner: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    wf = owner.post(f"{V1}/workflows", json={"name": "w", "user": "alice"}).json()["id"]
    assert kill_connections(secured_app) >= 1
    monkeypatch.setattr(engine, "PING_AFTER_IDLE_SECS", 0.0)  # every checkout counts as idle
    for _ in range(3):  # each pooled connection is found dead and replaced, none reaches us
        response = owner.get(f"{V1}/workflows/{wf}")
        assert response.status_code == 200, response.text


def test_a_connection_lost_in_use_is_a_503_to_retry_not_a_500(
    secured_app: App, owner: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    wf = owner.post(f"{V1}/workflows", json={"name": "w", "user": "alice"}).json()["id"]
    monkeypatch.setattr(engine, "PING_AFTER_IDLE_SECS", 3600.0)  # never checked: reused as is
    assert kill_connections(secured_app) >= 1
    statuses = []
    for _ in range(3):
        response = owner.get(f"{V1}/workflows/{wf}")
        statuses.append(response.status_code)
        if response.status_code == 503:
            assert response.headers["Retry-After"] == "1"
            assert response.json()["error"] == "ServiceUnavailable"
    assert 500 not in statuses
    assert statuses[0] == 503  # the dead connection was used, and the caller told to retry
    assert statuses[-1] == 200  # the pool was renewed
