"""Refused sign-ins against a real server: a flood leaves a bounded number of audit rows, a
huge user name leaves bounded rows and log lines, and credentials the server cannot use are a
401 even where no credentials are needed."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server, start_server
from tests.e2e.test_audit import server_args, stored_rows

REALM = 'Basic realm="Torc"'


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    started = start_server(tmp_path / "server", *server_args(tmp_path))
    yield started
    started.stop()


def basic(user: str, password: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


def failed_logins(server: Server) -> list[dict[str, object]]:
    return [row for row in stored_rows(server) if row["decision"] == "failed-login"]


def test_a_flood_of_bad_credentials_leaves_a_bounded_audit_log(server: Server) -> None:
    bearer = {"Authorization": f"Bearer tg_0123456789abcdef_{'x' * 43}"}
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        for _ in range(300):
            assert client.get("/v1/auth/me", headers=bearer).status_code == 401
        for _ in range(5):  # wrong passwords, below the throttle's limit
            assert client.get("/v1/auth/me", headers=basic("bob", "wrong")).status_code == 401
        for number in range(40):  # a new name each time: the throttle counts the address
            response = client.get("/v1/auth/me", headers=basic(f"guess{number}", "wrong"))
            assert response.status_code == 401, response.text
    rows = failed_logins(server)
    # one row for the tokens, one for bob, and at most 20 per client in all
    assert 2 <= len(rows) <= 20, len(rows)
    assert sum(row["user_name"] is None for row in rows) == 1
    assert sum(row["user_name"] == "bob" for row in rows) == 1


def test_a_huge_user_name_is_cut_in_the_audit_log_and_the_log(server: Server) -> None:
    user = "m" * 100_000
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        assert client.get("/v1/auth/me", headers=basic(user, "wrong")).status_code == 401
    [row] = failed_logins(server)
    assert str(row["user_name"]).endswith("…(100000 bytes)")
    assert len(str(row["user_name"])) < 200
    assert max(map(len, server.log().splitlines())) < 1000


def test_unusable_credentials_are_401_without_require_auth(tmp_path: Path) -> None:
    args = [a for a in server_args(tmp_path) if a != "--require-auth"]
    started = start_server(tmp_path / "server", *args)
    try:
        with httpx.Client(base_url=started.base_url, timeout=30) as client:
            assert client.get("/v1/auth/me").json()["user"] is None  # anonymous is allowed
            for header in ("Digest username=alice", "Negotiate abc", "Token abc"):
                response = client.get("/v1/auth/me", headers={"Authorization": header})
                assert response.status_code == 401, (header, response.text)
                assert response.headers["www-authenticate"] == REALM
                assert "Unsupported authorization scheme" in response.json()["message"]
    finally:
        started.stop()
