"""Console RBAC section, in process: what a manager sees and changes is what the API lists;
others are refused, forged changes too; rejected input is a message, never a 500."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import App
from tests.console.helpers import Viewer, sign_in

HOSTILE = "<img src=x onerror=alert(1)>"


def ok(response: httpx.Response) -> Any:
    assert response.is_success, (response.request.url, response.status_code, response.text)
    return response.json() if response.content else None


def api(app: App, method: str, path: str, **kwargs: Any) -> Any:
    with app.client("alice") as alice:
        return ok(alice.request(method, f"/v1/rbac{path}", **kwargs))


@pytest.fixture
def initialised(secured_app: App) -> App:
    api(secured_app, "POST", "/init")
    return secured_app


def test_before_init_an_administrator_is_offered_the_button(secured_app: App) -> None:
    alice = sign_in(secured_app, "alice")
    page = alice.get("/ui/rbac")
    assert page.status_code == 200
    assert 'action="/ui/rbac/init"' in page.text
    done = alice.post("/ui/rbac/init")
    assert done.status_code == 303
    after = alice.get(done.headers["location"])
    assert "RBAC initialised: you hold role &#39;admin&#39;." in after.text
    assert 'action="/ui/rbac/init"' not in after.text
    assert api(secured_app, "GET", "/me")["roles"] == ["admin"]
    again = alice.post("/ui/rbac/init")
    assert again.status_code == 409
    assert "already initialised" in again.text


def test_a_manager_sees_permissions_roles_and_assignments(initialised: App) -> None:
    api(initialised, "POST", "/users/assign", json={"email": "bob", "role_id": "default"})
    with initialised.client("alice") as alice:
        ok(alice.post("/torc-service/v1/access_groups", json={"name": "crew"}))
    api(initialised, "POST", "/groups/assign", json={"group": "crew", "role_id": "default"})
    page = sign_in(initialised, "alice").get("/ui/rbac")
    assert page.status_code == 200
    assert '<tr data-permission="admin">' in page.text and "allow:*:*" in page.text
    assert '<tr data-role="default">' in page.text
    assert '<tr data-user="bob">' in page.text
    assert '<tr data-group="crew" data-role="default">' in page.text
    assert 'id="create-role"' in page.text and 'id="create-permission"' in page.text


def test_creating_a_role_and_a_permission_through_the_forms(initialised: App) -> None:
    alice = sign_in(initialised, "alice")
    rules = "allow:unit.read:dev/*\n\n  deny:unit.delete:dev/*  \n"
    made = alice.post("/ui/rbac/permissions", {"id": "dev", "name": "Dev", "rules": rules})
    assert made.status_code == 303, made.text
    made = alice.post("/ui/rbac/roles", {"id": "developer", "name": "Developer"})
    assert made.status_code == 303, made.text
    assert "Role &#39;developer&#39; created." in alice.get(made.headers["location"]).text
    given = {"role_id": "developer", "permission_id": "dev"}
    assert alice.post("/ui/rbac/roles/permissions/assign", given).status_code == 303
    assigned = {"user": "bob", "role_id": "developer"}
    assert alice.post("/ui/rbac/users/assign", assigned).status_code == 303
    roles = {r["id"]: r for r in api(initialised, "GET", "/roles")}
    assert roles["developer"]["name"] == "Developer"
    assert roles["developer"]["permissions"] == ["dev"]
    permissions = {p["id"]: p["rules"] for p in api(initialised, "GET", "/permissions")}
    assert permissions["dev"] == ["allow:unit.read:dev/*", "deny:unit.delete:dev/*"]
    users = {u["email"]: u["roles"] for u in api(initialised, "GET", "/users")}
    assert users["bob"] == ["developer"]
    # and away again
    assert alice.post("/ui/rbac/users/revoke", assigned).status_code == 303
    assert alice.post("/ui/rbac/roles/permissions/revoke", given).status_code == 303
    assert alice.post("/ui/rbac/roles/delete", {"id": "developer"}).status_code == 303
    assert alice.post("/ui/rbac/permissions/delete", {"id": "dev"}).status_code == 303
    assert "developer" not in {r["id"] for r in api(initialised, "GET", "/roles")}
    assert "dev" not in {p["id"] for p in api(initialised, "GET", "/permissions")}


def test_a_group_role_through_the_form(initialised: App) -> None:
    with initialised.client("alice") as client:
        ok(client.post("/torc-service/v1/access_groups", json={"name": "crew"}))
    alice = sign_in(initialised, "alice")
    body = {"group": "crew", "role_id": "default"}
    assert alice.post("/ui/rbac/groups/assign", body).status_code == 303
    held = api(initialised, "GET", "/groups")["items"]
    assert [(g["group"], g["role_id"]) for g in held] == [("crew", "default")]
    assert alice.post("/ui/rbac/groups/revoke", body).status_code == 303
    assert api(initialised, "GET", "/groups")["items"] == []


@pytest.mark.parametrize(
    ("path", "form", "status", "message"),
    [
        ("/ui/rbac/roles", {"id": HOSTILE}, 400, "invalid role id"),
        ("/ui/rbac/roles", {"id": "admin"}, 409, "admin"),
        ("/ui/rbac/permissions", {"id": "p", "rules": "allow:unit.explode:*"}, 400, "unknown"),
        ("/ui/rbac/permissions", {"id": "p", "rules": " \n "}, 400, "at least one rule"),
        ("/ui/rbac/roles/delete", {"id": "nope"}, 404, "nope"),
        ("/ui/rbac/users/assign", {"user": "bob", "role_id": "nope"}, 404, "nope"),
        ("/ui/rbac/groups/assign", {"group": "nope", "role_id": "default"}, 404, "nope"),
        ("/ui/rbac/users/revoke", {"user": "alice", "role_id": "admin"}, 409, "rbac.manage"),
    ],
)
def test_rejected_changes_show_why(
    initialised: App, path: str, form: dict[str, str], status: int, message: str
) -> None:
    answer = sign_in(initialised, "alice").post(path, form)
    assert answer.status_code == status, answer.text
    assert 'id="rbac-error"' in answer.text
    assert message in answer.text
    assert HOSTILE not in answer.text
    assert '<tr data-permission="admin">' in answer.text  # the page again, not a bare error


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/ui/rbac/roles", {"id": "r" * 200}),
        ("/ui/rbac/roles", {"id": ""}),
        ("/ui/rbac/roles", {"id": "r", "description": "d" * 5000}),
        ("/ui/rbac/permissions", {"id": "p"}),
        ("/ui/rbac/permissions", {"id": "p", "rules": "allow:*:*\n" * 7000}),
        ("/ui/rbac/users/assign", {"user": "u" * 300, "role_id": "default"}),
        ("/ui/rbac/users/explode", {"user": "bob", "role_id": "default"}),
    ],
)
def test_bad_forms_are_refused_without_a_500(
    initialised: App, path: str, form: dict[str, str]
) -> None:
    answer = sign_in(initialised, "alice").post(path, form)
    assert answer.status_code in (400, 404), answer.text
    assert len(api(initialised, "GET", "/roles")) == 2


def test_a_hostile_role_name_is_shown_as_text(initialised: App) -> None:
    alice = sign_in(initialised, "alice")
    made = alice.post("/ui/rbac/roles", {"id": "odd", "name": HOSTILE, "description": HOSTILE})
    assert made.status_code == 303
    page = alice.get("/ui/rbac")
    assert HOSTILE not in page.text
    assert page.text.count("&lt;img src=x onerror=alert(1)&gt;") == 2


@pytest.fixture
def bob(initialised: App) -> Viewer:
    return sign_in(initialised, "bob")


def test_a_non_manager_is_refused_the_page_and_sees_no_link(bob: Viewer) -> None:
    assert 'href="/ui/rbac"' not in bob.get("/ui/workflows").text
    page = bob.get("/ui/rbac")
    assert page.status_code == 403
    assert "Not allowed" in page.text
    assert "allow:*:*" not in page.text


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/ui/rbac/roles", {"id": "sneaky"}),
        ("/ui/rbac/users/assign", {"user": "bob", "role_id": "admin"}),
        ("/ui/rbac/permissions/delete", {"id": "admin"}),
        ("/ui/rbac/init", {}),
    ],
)
def test_forged_changes_by_a_non_manager_are_refused(
    initialised: App, bob: Viewer, path: str, form: dict[str, str]
) -> None:
    answer = bob.post(path, form)
    assert answer.status_code in (403, 409), answer.text
    assert api(initialised, "GET", "/me")["roles"] == ["admin"]
    assert {r["id"] for r in api(initialised, "GET", "/roles")} == {"admin", "default"}
    assert {u["email"] for u in api(initialised, "GET", "/users")} == {"alice"}
    if answer.status_code == 403:
        with initialised.client("alice") as alice:
            events = ok(alice.get("/v1/audit", params={"user": "bob", "decision": "denied"}))
        assert events["items"], "the refusal is audited"


def test_a_change_without_the_csrf_token_is_refused(initialised: App) -> None:
    alice = sign_in(initialised, "alice")
    answer = alice.client.post("/ui/rbac/roles", data={"id": "sneaky"})
    assert answer.status_code == 403
    assert "sneaky" not in {r["id"] for r in api(initialised, "GET", "/roles")}
