"""One answer to a lock conflict, and the teamgate user who holds each lock.

In process (tests/inprocess.py) on the test backend. Access control is off, so bob may try
what alice locked: every refusal here is a lock conflict, nothing else.

- REST under /v1 (lock, state write, restore, unlock): 423 `{"error", "message", "lock",
  "locked_by"}`.
- The Terraform backend: the holder's LockInfo at the top (as sent, which Terraform parses)
  beside `error`, `message` and `locked_by`; 423 for LOCK and UNLOCK, 409 for a write.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from teamgate.services.observers import observing
from teamgate.services.unit_locks import Locked
from teamgate.storage.db.units import Unit
from tests.conftest import AppFactory, execute_sql
from tests.inprocess import App

TERRAFORM_LOCK = {
    "ID": "0b7c1c4e-tf",
    "Operation": "OperationTypeApply",
    "Info": "",
    "Who": "root@vm",
    "Version": "1.0.3",
    "Created": "2026-12-07T02:00:00.000000Z",
    "Path": "",
}
STATE = b'{"version": 4, "serial": 1}'


@pytest.fixture
def app(app_factory: AppFactory) -> App:
    return app_factory(admin_users=("alice",))


def api(app: App, user: str) -> httpx.Client:
    client = app.client(user)
    client.base_url = httpx.URL(f"{app.base_url}/v1/")
    return client


def locked_by_alice(app: App, path: str, *, backend: bool) -> dict[str, Any]:
    """A unit with a state, locked by alice through either API; the lock as answered."""
    with api(app, "alice") as alice:
        assert alice.put(f"/state/{path}", content=STATE).status_code == 200
        if backend:
            taken = alice.request("LOCK", f"/backend/{path}", json=TERRAFORM_LOCK)
        else:
            taken = alice.post(f"/locks/{path}", json={"id": "rest-lock", "who": "taco@vm"})
        assert taken.status_code == 200, taken.text
        return taken.json()  # type: ignore[no-any-return]


REST_CONFLICTS: dict[str, Callable[[httpx.Client, str], httpx.Response]] = {
    "lock": lambda c, p: c.post(f"/locks/{p}", json={"id": "mine"}),
    "write-without-id": lambda c, p: c.put(f"/state/{p}", content=STATE),
    "write-wrong-id": lambda c, p: c.put(f"/state/{p}", params={"lock_id": "x"}, content=STATE),
    "restore": lambda c, p: c.post(f"/restore/{p}", json={"version": 1}),
    "unlock-wrong-id": lambda c, p: c.delete(f"/locks/{p}", params={"lock_id": "x"}),
}


@pytest.mark.parametrize("taken_by", ["rest", "backend"])
@pytest.mark.parametrize("conflict", REST_CONFLICTS)
def test_every_rest_lock_conflict_is_one_423_shape(app: App, conflict: str, taken_by: str) -> None:
    path = f"rest/{conflict}"
    lock = locked_by_alice(app, path, backend=taken_by == "backend")
    with api(app, "bob") as bob:
        response = REST_CONFLICTS[conflict](bob, path)
    assert response.status_code == 423, response.text
    body = response.json()
    assert set(body) == {"error", "message", "lock", "locked_by"}, body
    assert (body["error"], body["lock"], body["locked_by"]) == ("Locked", lock, "alice")
    assert "user 'alice'" in body["message"] and lock["ID"] in body["message"], body


BACKEND_CONFLICTS: dict[str, tuple[int, Callable[[httpx.Client, str], httpx.Response]]] = {
    "lock": (423, lambda c, p: c.request("LOCK", f"/backend/{p}", json={"ID": "mine"})),
    "unlock": (423, lambda c, p: c.request("UNLOCK", f"/backend/{p}", json={"ID": "mine"})),
    "write": (409, lambda c, p: c.post(f"/backend/{p}", params={"ID": "mine"}, content=STATE)),
    "write-no-id": (409, lambda c, p: c.post(f"/backend/{p}", content=STATE)),
}


@pytest.mark.parametrize("conflict", BACKEND_CONFLICTS)
def test_backend_conflicts_answer_the_holders_lock_info(app: App, conflict: str) -> None:
    path = f"backend/{conflict}"
    lock = locked_by_alice(app, path, backend=True)
    assert {k: lock[k] for k in TERRAFORM_LOCK if k != "Path"} == {
        k: v for k, v in TERRAFORM_LOCK.items() if k != "Path"
    }  # kept as Terraform sent it
    status, send = BACKEND_CONFLICTS[conflict]
    with api(app, "bob") as bob:
        response = send(bob, path)
    assert response.status_code == status, response.text
    body = response.json()
    assert {k: body[k] for k in lock} == lock  # what Terraform parses as LockInfo
    assert set(body) - set(lock) == {"error", "message", "locked_by"}
    assert body["locked_by"] == "alice" and "user 'alice'" in body["message"]
    assert body["error"] == "Locked"


def conflicts_counted(app: App) -> float:
    value = app.app.state.metrics.registry.get_sample_value("teamgate_unit_lock_conflicts_total")
    return float(value or 0)


def test_each_conflict_response_is_counted_once_and_raising_counts_nothing(app: App) -> None:
    lock = locked_by_alice(app, "count/me", backend=True)
    before = conflicts_counted(app)
    with api(app, "bob") as bob:
        for conflict in REST_CONFLICTS.values():
            assert conflict(bob, "count/me").status_code == 423
        for status, send in BACKEND_CONFLICTS.values():
            assert send(bob, "count/me").status_code == status
    assert conflicts_counted(app) - before == len(REST_CONFLICTS) + len(BACKEND_CONFLICTS)
    # an exception is only data: made while a request is observed, it counts nothing
    holder = Unit(1, "count/me", "alice", "", "", 1, 1, None, None, lock["ID"], "{}", "alice")
    with observing(app.app.state.metrics):
        Locked("made, never answered", holder)
    assert conflicts_counted(app) - before == len(REST_CONFLICTS) + len(BACKEND_CONFLICTS)


def unit_of(client: httpx.Client, path: str) -> dict[str, Any]:
    found = client.get(f"/units/{path}")
    assert found.status_code == 200, found.text
    listed = client.get("/units", params={"prefix": path}).json()["units"]
    assert [u["locked_by"] for u in listed] == [found.json()["locked_by"]]
    return found.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize("backend", [True, False], ids=["backend", "rest"])
def test_the_holder_is_shown_beside_the_lock_until_it_is_released(app: App, backend: bool) -> None:
    path = f"holder/{backend}"
    lock = locked_by_alice(app, path, backend=backend)
    with api(app, "bob") as bob:
        found = unit_of(bob, path)
        assert (found["locked"], found["lock"], found["locked_by"]) == (True, lock, "alice")
        if backend:
            released = bob.request("UNLOCK", f"/backend/{path}", json={"ID": lock["ID"]})
        else:
            released = bob.delete(f"/locks/{path}", params={"lock_id": lock["ID"]})
        assert released.status_code == 200, released.text
        found = unit_of(bob, path)
        assert (found["locked"], found["lock"], found["locked_by"]) == (False, None, None)
        # the next holder is whoever takes it
        assert bob.request("LOCK", f"/backend/{path}", json={"ID": "b"}).status_code == 200
        assert unit_of(bob, path)["locked_by"] == "bob"


def force_unlock_events(app: App, path: str) -> list[dict[str, Any]]:
    with api(app, "alice") as alice:
        listed = alice.get("/audit", params={"action": "unit.force_unlock"})
        assert listed.status_code == 200, listed.text
    return [e for e in listed.json()["items"] if e["resource"] == f"unit/{path}"]


@pytest.mark.parametrize("via", ["rest", "backend"])
def test_a_forced_unlock_names_the_holder_in_its_answer_and_audit_record(
    app: App, via: str
) -> None:
    path = f"force/{via}"
    lock = locked_by_alice(app, path, backend=True)
    with api(app, "bob") as bob:
        if via == "rest":
            forced = bob.delete(f"/locks/{path}", params={"force": "true"})
            assert forced.status_code == 200, forced.text
            body = forced.json()
            assert (body["lock"], body["locked_by"]) == (lock, "alice")
            assert "removed the lock held by user 'alice'" in body["message"], body
        else:  # terraform force-unlock: an empty UNLOCK body
            forced = bob.request("UNLOCK", f"/backend/{path}")
            assert forced.status_code == 200, forced.text
        assert unit_of(bob, path)["locked"] is False
    [event] = force_unlock_events(app, path)
    assert event["user"] == "bob"
    assert "user 'alice'" in event["detail"] and lock["ID"] in event["detail"], event
    assert "root@vm" in event["detail"]  # and what Terraform said


def test_a_lock_taken_before_holders_were_recorded_has_an_unknown_holder(app: App) -> None:
    lock = locked_by_alice(app, "old/lock", backend=True)
    execute_sql(app, "UPDATE unit SET locked_by = NULL WHERE path = :path", path="old/lock")
    with api(app, "bob") as bob:
        assert unit_of(bob, "old/lock")["locked_by"] is None
        refused = bob.request("LOCK", "/backend/old/lock", json={"ID": "mine"})
        assert refused.status_code == 423, refused.text
        assert refused.json()["locked_by"] is None
        assert "an unknown user" in refused.json()["message"]
        forced = bob.delete("/locks/old/lock", params={"force": "true"})
        assert forced.status_code == 200, forced.text
        assert forced.json()["locked_by"] is None and lock["ID"] in forced.json()["message"]
