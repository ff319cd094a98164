"""The units races of tests/api/test_units_api.py across two real `torc-server` processes on one
PostgreSQL database: a lock has one winner and no locked push is lost, whichever process each
caller reaches."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import PG, Server, password_of, postgresql_only, start_server, write_htpasswd
from tests.units_race import (
    check_one_winner,
    check_pushes_with_the_lock_lose_no_write,
    lock_request,
    run_together,
)

pytestmark = postgresql_only  # two processes share a database only on PostgreSQL


def client(server: Server, user: str = "alice") -> httpx.Client:
    return httpx.Client(
        base_url=f"{server.base_url}/v1", auth=(user, password_of(user)), timeout=60
    )


@pytest.fixture(scope="module")
def two_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Server]]:
    """Two servers on one fresh database (auth on, access control off, 50 versions kept),
    dropped at the end. Each test uses unit paths of its own."""
    tmp_path = tmp_path_factory.mktemp("two-servers")
    write_htpasswd(tmp_path / "htpasswd")
    name = PG.create()
    servers: list[Server] = []
    try:
        for label in ("a", "b"):
            args = (
                "--database", PG.url(name),
                "--blob-store", str(tmp_path / "blobs"),
                "--auth-file", str(tmp_path / "htpasswd"),
                "--max-versions", "50",
            )  # fmt: skip
            servers.append(start_server(tmp_path / label, *args))
        yield servers
    finally:
        for server in servers:
            server.stop()
        PG.drop(name)


def unique(prefix: str) -> str:
    return f"{prefix}/{uuid.uuid4().hex[:10]}"


@pytest.mark.parametrize("existing", [True, False], ids=["existing-unit", "new-unit"])
def test_locks_are_atomic_across_two_servers(two_servers: list[Server], existing: bool) -> None:
    with client(two_servers[0]) as alice:
        for _ in range(5):  # several rounds: a race that is lost only sometimes still shows
            path = unique("pg")
            if existing:
                assert alice.post("/units", json={"path": path}).status_code == 201
            responses = run_together(
                50, lock_request("backend", path), lambda i: client(two_servers[i % 2])
            )
            winner = check_one_winner("backend", responses)
            assert alice.get(f"/units/{path}").json()["lock"]["ID"] == winner["ID"]


def test_concurrent_pushes_with_the_lock_lose_no_write_across_two_servers(
    two_servers: list[Server],
) -> None:
    with client(two_servers[0]) as alice:
        check_pushes_with_the_lock_lose_no_write(
            alice, lambda i: client(two_servers[i % 2]), unique("push"), 50
        )
