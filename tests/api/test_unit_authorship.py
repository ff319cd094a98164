"""Who wrote what: each state version's writer and token, the audit events of state writes,
restores and locks, and the teamgate user shown beside a lock's `Who`.

In process (tests/inprocess.py) on the test backend. One module application: auth on, access
control off (so bob may write and restore alice's units), alice a system administrator (she
reads the audit log). Each test uses units of its own.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest

from tests.conftest import execute_sql, start_app
from tests.inprocess import App

# What Terraform 1.0.3 sends as lock information (statemgr.LockInfo), and all it parses back.
TERRAFORM_LOCK_FIELDS = ("ID", "Operation", "Info", "Who", "Version", "Created", "Path")
TERRAFORM_LOCK = {
    "ID": "6c7a1f0e-0b1d-4a5f-9f00-terraform",
    "Operation": "OperationTypeApply",
    "Info": "",
    "Who": "root@ci-runner-3",
    "Version": "1.0.3",
    "Created": "2026-12-07T02:00:00.000000Z",
    "Path": "",
}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    with ExitStack() as stack:
        yield start_app(stack, tmp_path_factory.mktemp("authorship"), admin_users=("alice",))


def api(app: App, user: str, *, token: str | None = None) -> httpx.Client:
    """A /v1 client for `user`: with their password, or with `token` as a Bearer token."""
    if token is None:
        return app.client(user, base_url=f"{app.base_url}/v1")
    bearer = {"Authorization": f"Bearer {token}"}
    return app.client(None, base_url=f"{app.base_url}/v1", headers=bearer)


def token_of(app: App, user: str) -> tuple[str, int]:
    """A new API token of `user`: its secret and its id."""
    with api(app, user) as client:
        issued = ok(client.post("/auth/token"), 201)
    return str(issued["token"]), int(issued["id"])


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def unique(prefix: str) -> str:
    return f"{prefix}/{uuid.uuid4().hex[:10]}"


def state(serial: int, *, padding: int = 0) -> bytes:
    return json.dumps({"version": 4, "serial": serial, "pad": "x" * padding}).encode()


def versions(app: App, path: str) -> list[dict[str, Any]]:
    with api(app, "alice") as alice:
        return list(ok(alice.get(f"/versions/{path}"))["versions"])


def unit(app: App, path: str) -> dict[str, Any]:
    with api(app, "alice") as alice:
        return dict(ok(alice.get(f"/units/{path}")))


def events(app: App, path: str, action: str = "unit.") -> list[dict[str, Any]]:
    """The audit events on unit `path` whose action starts with `action`, oldest first."""
    with api(app, "alice") as alice:
        page = ok(alice.get("/audit", params={"resource": f"unit/{path}", "action": action}))
    assert page["next_cursor"] is None
    return list(reversed(page["items"]))


def push(client: httpx.Client, path: str, body: bytes, *, via: str) -> httpx.Response:
    """A state write: `taco unit push` (PUT /v1/state) or Terraform's backend POST."""
    if via == "push":
        return client.put(f"/state/{path}", content=body)
    return client.post(f"/backend/{path}", content=body)


WAYS = ["push", "backend"]


@pytest.mark.parametrize("via", WAYS)
def test_each_version_records_who_wrote_it_and_with_which_token(app: App, via: str) -> None:
    path = unique(via)
    secret, token_id = token_of(app, "bob")
    with api(app, "alice") as alice, api(app, "bob", token=secret) as bob:
        ok(push(alice, path, state(1), via=via))
        first = unit(app, path)
        assert (first["written_by"], first["token_id"]) == ("alice", None)
        ok(push(bob, path, state(2), via=via))
        second = unit(app, path)
        assert (second["written_by"], second["token_id"]) == ("bob", token_id)
        ok(push(alice, path, state(3), via=via))

    listed = versions(app, path)
    assert [(v["version"], v["written_by"], v["token_id"]) for v in listed] == [
        (2, "bob", token_id),
        (1, "alice", None),
    ]
    # a version is dated when it was written: as the unit was while it was current
    assert [v["created_at"] for v in listed] == [second["updated_at"], first["updated_at"]]
    assert set(listed[0]) == {"version", "created_at", "written_by", "token_id", "size", "sha256"}
    current = unit(app, path)
    assert (current["version"], current["written_by"], current["token_id"]) == (3, "alice", None)


def test_a_restore_is_a_new_version_written_by_the_restorer(app: App) -> None:
    path = unique("restore")
    secret, token_id = token_of(app, "bob")
    with api(app, "alice") as alice, api(app, "bob", token=secret) as bob:
        for serial in (1, 2):
            ok(alice.put(f"/state/{path}", content=state(serial)))
        restored = ok(bob.post(f"/restore/{path}", json={"version": 1}))
        assert (restored["version"], restored["written_by"], restored["token_id"]) == (
            3,
            "bob",
            token_id,
        )
        assert alice.get(f"/state/{path}").content == state(1)
        ok(alice.put(f"/state/{path}", content=state(4)))

    assert [(v["version"], v["written_by"]) for v in versions(app, path)] == [
        (3, "bob"),
        (2, "alice"),
        (1, "alice"),
    ]
    written = [(e["user"], e["action"], e["detail"]) for e in events(app, path, "unit.re")]
    detail = f"version 3 from version 1, {len(state(1))} bytes, token {token_id}"
    assert written == [("bob", "unit.restore", detail)]  # and no unit.write for it
    assert [e["detail"][:10] for e in events(app, path, "unit.write")] == [
        "version 1,",
        "version 2,",
        "version 4,",
    ]


def test_exactly_one_audit_event_per_version_written(app: App) -> None:
    """Not per chunk or batch of a large state, and none for a write that stored nothing."""
    path = unique("audit")
    large = state(2, padding=3 * 1024 * 1024)  # three of the server's 1 MiB write batches
    chunks = [large[i : i + 65536] for i in range(0, len(large), 65536)]
    with api(app, "alice") as alice, api(app, "bob") as bob:
        ok(alice.put(f"/state/{path}", content=state(1)))
        ok(bob.post(f"/backend/{path}", content=iter(chunks)))  # sent chunked
        # refused writes: not JSON, empty, and under someone else's lock
        assert alice.put(f"/state/{path}", content=b"{not json").status_code == 400
        assert alice.post(f"/backend/{path}", content=b"").status_code == 400
        ok(bob.post(f"/locks/{path}", json={"id": "bobs-lock"}))
        assert alice.put(f"/state/{path}", content=state(3)).status_code == 423
        assert alice.post(f"/backend/{path}", content=state(3)).status_code == 409
        ok(bob.put(f"/state/{path}", params={"lock_id": "bobs-lock"}, content=state(3)))
        ok(bob.delete(f"/locks/{path}", params={"lock_id": "bobs-lock"}))

    current = unit(app, path)
    assert current["version"] == 3
    written = events(app, path, "unit.write")
    assert [(e["user"], e["action"], e["resource"]) for e in written] == [
        ("alice", "unit.write", f"unit/{path}"),
        ("bob", "unit.write", f"unit/{path}"),
        ("bob", "unit.write", f"unit/{path}"),
    ]
    details = [e["detail"] for e in written]
    assert details[1] == f"version 2, {len(large)} bytes, sha256 {versions(app, path)[0]['sha256']}"
    assert details[2] == f"version 3, {len(state(3))} bytes, sha256 {current['sha256']}"
    assert details[0].startswith("version 1, ")
    assert all(e["reason"] for e in written)  # what allowed it


def test_lock_unlock_and_force_unlock_are_audited_with_the_teamgate_user(app: App) -> None:
    path = unique("locks")
    with api(app, "alice") as alice, api(app, "bob") as bob, api(app, "carol") as carol:
        ok(bob.request("LOCK", f"/backend/{path}", json=TERRAFORM_LOCK))  # creates the unit
        refused = carol.request("LOCK", f"/backend/{path}", json={"ID": "carols"})
        assert refused.status_code == 423  # a refused lock is not recorded as one
        ok(bob.request("UNLOCK", f"/backend/{path}", json={"ID": TERRAFORM_LOCK["ID"]}))
        ok(carol.post(f"/locks/{path}", json={"id": "carols", "who": "taco@laptop"}))
        ok(alice.delete(f"/locks/{path}", params={"force": "true"}))
        ok(bob.post(f"/locks/{path}", json={"id": "bobs"}))
        ok(bob.delete(f"/locks/{path}", params={"lock_id": "bobs"}))

    recorded = [(e["user"], e["action"]) for e in events(app, path)]
    assert recorded == [
        ("bob", "unit.lock"),
        ("bob", "unit.unlock"),
        ("carol", "unit.lock"),
        ("alice", "unit.force_unlock"),
        ("bob", "unit.lock"),
        ("bob", "unit.unlock"),
    ]
    details = [e["detail"] for e in events(app, path)]
    lock_id = TERRAFORM_LOCK["ID"]
    assert details[0] == (f"lock {lock_id}, Who 'root@ci-runner-3', Operation 'OperationTypeApply'")
    assert details[1] == f"lock {lock_id}"
    assert details[2] == "lock carols, Who 'taco@laptop'"
    assert details[3] == "lock held by user 'carol' (lock carols, taco@laptop)"


def test_the_lock_holder_is_shown_beside_terraforms_who(app: App) -> None:
    path = unique("holder")
    with api(app, "bob") as bob, api(app, "carol") as carol:
        taken = ok(bob.request("LOCK", f"/backend/{path}", json=TERRAFORM_LOCK))
        # the lock info answered stays Terraform's own
        assert set(taken) <= set(TERRAFORM_LOCK_FIELDS)
        refused = carol.request("LOCK", f"/backend/{path}", json={"ID": "carols"})
        found = ok(carol.get(f"/units/{path}"))

    assert refused.status_code == 423
    body = refused.json()
    # Terraform 1.0.3 reads the holder's LockInfo from the body, ignoring fields it does not
    # know: every field it knows is as bob's Terraform sent it, our own are beside them
    assert {name: body[name] for name in TERRAFORM_LOCK_FIELDS if name != "Path"} == {
        name: value for name, value in TERRAFORM_LOCK.items() if name != "Path"
    }
    assert body["Path"] == path
    assert set(body) - set(TERRAFORM_LOCK_FIELDS) == {"error", "message", "locked_by"}
    assert body["locked_by"] == "bob" and "user 'bob'" in body["message"]
    assert (found["locked_by"], found["lock"]["Who"]) == ("bob", TERRAFORM_LOCK["Who"])


def test_versions_written_before_writers_were_recorded_show_none(app: App) -> None:
    path = unique("old")
    with api(app, "alice") as alice:
        for serial in (1, 2, 3):
            ok(alice.put(f"/state/{path}", content=state(serial)))
    # as a server before migrations 0011 and 0012 left them
    execute_sql(
        app,
        "UPDATE unit_version SET written_by = NULL, token_id = NULL WHERE unit_id = "
        "(SELECT id FROM unit WHERE path = :path)",
        path=path,
    )
    execute_sql(app, "UPDATE unit SET written_by = NULL WHERE path = :path", path=path)
    assert [(v["written_by"], v["token_id"]) for v in versions(app, path)] == [(None, None)] * 2
    assert unit(app, path)["written_by"] is None
    with api(app, "bob") as bob:
        ok(bob.put(f"/state/{path}", content=state(4)))
    # the state that was current keeps its unknown writer as it becomes a version
    assert [v["written_by"] for v in versions(app, path)] == [None, None, None]
    assert unit(app, path)["written_by"] == "bob"
