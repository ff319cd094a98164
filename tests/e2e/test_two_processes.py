"""Two real `torc-server` processes on one PostgreSQL database behave as one server.

Both run with authentication and access control on and share the database and the blob
directory, as two replicas behind a load balancer would. Locks taken through either are atomic,
and an access change made through one is enforced by the other within a second.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import PG, Server, password_of, postgresql_only, start_server, write_htpasswd
from tests.units_race import check_one_winner, lock_request, run_together

# The bound the issue sets for a change made through one process to reach the other.
PROPAGATION_SECS = 1.0

pytestmark = postgresql_only  # two processes share a database only on PostgreSQL


@dataclass(frozen=True)
class Pair:
    a: Server
    b: Server

    def client(self, server: Server, user: str, api: str = "/v1") -> httpx.Client:
        return httpx.Client(
            base_url=f"{server.base_url}{api}", auth=(user, password_of(user)), timeout=30
        )


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    root = tmp_path_factory.mktemp("two-processes")
    auth_file = write_htpasswd(root / "htpasswd")
    name = PG.create()
    args = (
        "--database", PG.url(name),
        "--blob-store", str(root / "blobs"),
        "--auth-file", str(auth_file),
        "--require-auth",
        "--enforce-access-control",
        "--admin-user", "alice",
    )  # fmt: skip
    servers: list[Server] = []
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:  # each takes seconds to start
            starting = [pool.submit(start_server, root / label, *args) for label in ("a", "b")]
        servers.extend(f.result() for f in starting if f.exception() is None)
        for future in starting:  # the one that started is stopped below
            future.result()
        with Pair(*servers).client(servers[0], "alice") as alice:
            assert alice.post("/rbac/init").status_code == 200
        yield Pair(*servers)
    finally:
        for server in servers:
            server.stop()
        PG.drop(name)


def unique(prefix: str) -> str:
    return f"{prefix}/{uuid.uuid4().hex[:10]}"


def answered(request: Callable[[], httpx.Response], status: int, *, since: float) -> float:
    """Repeat `request` until it answers `status` (200 or 403, the other one meanwhile); return
    the seconds from `since` to that answer.

    Gives up well after the bound, so that a late change is reported with its time.
    """
    while True:
        response = request()
        elapsed = time.monotonic() - since
        if response.status_code == status:
            return elapsed
        assert response.status_code in (200, 403), response.text
        if elapsed > 10 * PROPAGATION_SECS:
            pytest.fail(f"still {response.status_code} {elapsed:.2f} s after the change")


def test_a_hundred_locks_split_across_both_processes_have_one_winner(pair: Pair) -> None:
    path = unique("two-procs")
    with pair.client(pair.a, "alice") as alice:
        assert alice.post("/units", json={"path": path}).status_code == 201
    both = (pair.a, pair.b)
    responses = run_together(
        100, lock_request("backend", path), lambda i: pair.client(both[i % 2], "alice")
    )
    winner = check_one_winner("backend", responses)  # 99 × 423, each naming the winner's lock
    assert winner["ID"].startswith("lock-")
    assert winner["Who"] == f"runner-{winner['ID'].removeprefix('lock-')}"
    for server in (pair.a, pair.b):
        with pair.client(server, "alice") as alice:
            found = alice.get(f"/units/{path}").json()
        assert found["locked"] is True
        assert found["lock"]["ID"] == winner["ID"]


def test_an_rbac_revoke_through_a_denies_through_b_within_a_second(pair: Pair) -> None:
    unit, role = unique("shared"), f"reader-{uuid.uuid4().hex[:8]}"
    with pair.client(pair.a, "alice") as alice, pair.client(pair.b, "bob") as bob_b:
        assert alice.post("/units", json={"path": unit}).status_code == 201
        assert bob_b.get(f"/units/{unit}").status_code == 403  # not his, no role yet
        permission = {"id": role, "rules": ["allow:unit.read:shared/*"]}
        assert alice.post("/rbac/permissions", json=permission).status_code == 201
        assert alice.post("/rbac/roles", json={"id": role}).status_code == 201
        linked = alice.post(f"/rbac/roles/{role}/permissions", json={"permission_id": role})
        assert linked.status_code == 200, linked.text
        assignment = {"email": "bob", "role_id": role}
        assert alice.post("/rbac/users/assign", json=assignment).status_code == 200
        read = functools.partial(bob_b.get, f"/units/{unit}")
        answered(read, 200, since=time.monotonic())  # B has bob's new rules cached now

        revoked = alice.post("/rbac/users/revoke", json=assignment)
        assert revoked.status_code == 200, revoked.text
        elapsed = answered(read, 403, since=time.monotonic())
    assert elapsed <= PROPAGATION_SECS, f"B allowed bob for {elapsed:.2f} s after the revoke"


def test_removing_a_member_through_a_denies_through_b_within_a_second(pair: Pair) -> None:
    torc = "/torc-service/v1"
    with pair.client(pair.a, "alice", torc) as alice, pair.client(pair.b, "bob", torc) as bob_b:
        group = alice.post("/access_groups", json={"name": f"team-{uuid.uuid4().hex[:8]}"})
        assert group.status_code == 200, group.text
        group_id = group.json()["id"]
        added = alice.post(f"/access_groups/{group_id}/members", json={"user_name": "bob"})
        assert added.status_code == 200, added.text
        workflow = alice.post("/workflows", json={"name": "shared-with-the-team"})
        assert workflow.status_code == 200, workflow.text
        workflow_id = workflow.json()["id"]
        shared = alice.post(f"/workflows/{workflow_id}/access_groups/{group_id}")
        assert shared.status_code == 200, shared.text
        read = functools.partial(bob_b.get, f"/workflows/{workflow_id}")
        answered(read, 200, since=time.monotonic())  # B has seen bob's membership now

        removed = alice.delete(f"/access_groups/{group_id}/members/bob")
        assert removed.status_code == 200, removed.text
        elapsed = answered(read, 403, since=time.monotonic())
    assert elapsed <= PROPAGATION_SECS, f"B allowed bob for {elapsed:.2f} s after the removal"


def test_workflow_list_counts_through_b_follow_each_write_through_a_at_once(pair: Pair) -> None:
    """B keeps each list's `total_count` between requests; every write through A that changes
    it (create, share, unshare, membership, delete) shows in B's very next answer."""
    torc = "/torc-service/v1"
    with (
        pair.client(pair.a, "alice", torc) as alice,
        pair.client(pair.a, "bob", torc) as bob_a,
        pair.client(pair.b, "bob", torc) as bob_b,
    ):

        def total() -> int:
            listed = [bob_b.get("/workflows", params={"limit": 1}) for _ in range(2)]
            assert [r.status_code for r in listed] == [200, 200], listed[-1].text
            counts = {r.json()["total_count"] for r in listed}
            assert len(counts) == 1, counts  # the second answer (from B's cache) agrees
            return counts.pop()

        start = total()
        created = bob_a.post("/workflows", json={"name": "counted"})
        assert created.status_code == 200, created.text
        assert total() == start + 1

        group = alice.post("/access_groups", json={"name": f"count-{uuid.uuid4().hex[:8]}"})
        group_id = group.json()["id"]
        theirs = alice.post("/workflows", json={"name": "alice-shares-this"}).json()["id"]
        assert total() == start + 1  # alice's new workflow is not bob's to see
        assert alice.post(f"/workflows/{theirs}/access_groups/{group_id}").status_code == 200
        assert total() == start + 1  # shared with a group bob is not in
        joined = alice.post(f"/access_groups/{group_id}/members", json={"user_name": "bob"})
        assert joined.status_code == 200, joined.text
        assert total() == start + 2
        assert alice.delete(f"/workflows/{theirs}/access_groups/{group_id}").status_code == 200
        assert total() == start + 1
        assert bob_a.delete(f"/workflows/{created.json()['id']}").status_code == 200
        assert total() == start
