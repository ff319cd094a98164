"""Every console route behind the gate: a table says what a caller with no session and an
outsider (dave: in no group, no role) get from each, on bob's workflow, unit and group; then
nothing of bob's has changed.

A new console route must be added to ROUTES (the first test fails otherwise), which makes its
author say what these two callers get.
"""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

import fastapi.routing
import httpx
import pytest

from teamgate.settings import Settings
from teamgate.web.app import create_app
from teamgate.web.ui import create_console
from tests.console.helpers import Viewer, sign_in
from tests.inprocess import App

V1 = "/torc-service/v1"
PUBLIC = "public"  # anyone, no session needed
LIST = "list"  # a list page: 200, with none of bob's items in it
REFUSED = "refused"  # 403 or 404 page
ADMIN = "admin"  # a section for RBAC managers / administrators: 403 page


class Row(NamedTuple):
    outsider: str
    form: dict[str, Any] | None = None  # POST body (the CSRF token is added)


ROUTES: dict[str, Row] = {
    "GET /": Row(PUBLIC),  # a redirect to the workflow list
    "GET /sign-in": Row(PUBLIC),
    "POST /sign-in": Row(PUBLIC),
    "POST /sign-out": Row(PUBLIC),  # ends only the caller's own session
    "GET /sso": Row(PUBLIC),  # 404 without an identity provider
    "GET /sso/callback": Row(PUBLIC),
    "GET /workflows": Row(LIST),
    "GET /workflows/{workflow_id}": Row(REFUSED),
    "GET /workflows/{workflow_id}/live": Row(REFUSED),
    "GET /workflows/{workflow_id}/graph": Row(REFUSED),
    "GET /workflows/{workflow_id}/graph/statuses": Row(REFUSED),
    "POST /workflows/{workflow_id}/cancel": Row(REFUSED, {}),
    "POST /workflows/{workflow_id}/reset": Row(REFUSED, {"which": "all"}),
    "POST /workflows/{workflow_id}/shares": Row(
        REFUSED, {"group": "{group_id}", "access": "admin"}
    ),
    "POST /workflows/{workflow_id}/shares/remove": Row(REFUSED, {"group": "{group_id}"}),
    "GET /units": Row(LIST),
    "GET /units/{path}": Row(REFUSED),
    "GET /state/{path}": Row(REFUSED),
    "POST /locks/{path}": Row(REFUSED, {}),
    "POST /shares/{path}": Row(REFUSED, {"group": "{group}", "access": "admin"}),
    "POST /unshare/{path}": Row(REFUSED, {"group": "{group}"}),
    "GET /teams": Row(LIST),
    "POST /teams": Row(ADMIN, {"name": "dave-team"}),
    "GET /teams/{group}": Row(REFUSED),
    "POST /teams/{group_id}/members": Row(REFUSED, {"user": "dave", "role": "admin"}),
    "POST /teams/{group_id}/members/remove": Row(REFUSED, {"user": "carol"}),
    "POST /teams/{group_id}/workflows": Row(REFUSED, {"workflow_id": "{workflow_id}"}),
    "POST /teams/{group_id}/workflows/remove": Row(REFUSED, {"workflow_id": "{workflow_id}"}),
    "POST /teams/{group_id}/units/remove": Row(REFUSED, {"path": "{path}"}),
    "POST /teams/{group_id}/delete": Row(REFUSED, {}),
    "GET /access": Row(LIST),  # the forms; asking about bob's items: below
    "GET /access/test": Row(LIST),
    "GET /rbac": Row(ADMIN),
    "POST /rbac/init": Row(ADMIN, {}),
    "POST /rbac/permissions": Row(ADMIN, {"id": "p-dave", "rules": "allow:*:*"}),
    "POST /rbac/permissions/delete": Row(ADMIN, {"id": "p-bob"}),
    "POST /rbac/roles": Row(ADMIN, {"id": "r-dave"}),
    "POST /rbac/roles/delete": Row(ADMIN, {"id": "r-bob"}),
    "POST /rbac/roles/permissions/{verb}": Row(
        ADMIN, {"role_id": "r-bob", "permission_id": "p-bob"}
    ),
    "POST /rbac/users/{verb}": Row(ADMIN, {"user": "dave", "role_id": "admin"}),
    "POST /rbac/groups/{verb}": Row(ADMIN, {"group": "{group}", "role_id": "admin"}),
    "GET /audit": Row(ADMIN),
}
EXTRA_GETS = [  # what the forms of the Access page ask about bob's items
    "/access?workflow={workflow_id}",
    "/access?unit={path}",
    "/access/test?user=bob&action=workflow.read&resource=*",
]


def console_routes(tmp_path: Any) -> set[str]:
    app = create_app(Settings(database=str(tmp_path / "routes.db")))
    served = set()
    for route in fastapi.routing.iter_route_contexts(create_console(app).routes):
        path = re.sub(r"{(\w+):\w+}", r"{\1}", route.path)  # {path:unitpath} -> {path}
        for method in getattr(route, "methods", None) or ():
            if method != "HEAD":
                served.add(f"{method} {path}")
    return served


def test_every_console_route_is_in_the_table(tmp_path: Any) -> None:
    served = console_routes(tmp_path)
    assert sorted(served - set(ROUTES)) == [], "say what an outsider gets from these routes"
    assert sorted(set(ROUTES) - served) == [], "the table names routes the console lacks"


def ok(response: httpx.Response) -> Any:
    assert response.is_success, (response.request.url, response.status_code, response.text)
    return response.json() if response.content else None


@pytest.fixture(scope="module")
def bobs(app: App) -> dict[str, str]:
    """bob's running workflow, locked unit and group (bob its admin, carol a member), and an
    RBAC role and permission; what the table's `{...}` are filled with."""
    alice, bob = app.client("alice"), app.client("bob")
    group = ok(alice.post(f"{V1}/access_groups", json={"name": "bob-team"}))
    for user, role in (("bob", "admin"), ("carol", "member")):
        body = {"user_name": user, "role": role}
        ok(alice.post(f"{V1}/access_groups/{group['id']}/members", json=body))
    spec = {"name": "bobs-run", "jobs": [{"name": "a", "command": "true"}]}
    workflow_id = ok(bob.post(f"{V1}/workflow_specs", json=spec))["id"]
    ok(bob.post(f"{V1}/workflows/{workflow_id}/initialize_jobs"))
    ok(bob.post(f"{V1}/workflows/{workflow_id}/access_groups/{group['id']}"))
    path = "bob/net"
    state = {"version": 4, "serial": 1, "lineage": "l", "resources": []}
    ok(bob.post(f"/v1/backend/{path}", content=json.dumps(state)))
    ok(bob.request("LOCK", f"/v1/backend/{path}", json={"ID": "l1", "Operation": "apply"}))
    ok(bob.post(f"/v1/shares/{path}", json={"group": "bob-team", "access": "read"}))
    ok(alice.post("/v1/rbac/init"))  # after bob made his unit: now units need rules
    ok(alice.post("/v1/rbac/roles", json={"id": "r-bob", "name": "bob's"}))
    ok(alice.post("/v1/rbac/permissions", json={"id": "p-bob", "rules": ["allow:*:bob/*"]}))
    return {
        "workflow_id": str(workflow_id),
        "path": path,
        "group": "bob-team",
        "group_id": str(group["id"]),
        "verb": "assign",
    }


def fill(template: str, values: dict[str, str]) -> str:
    return re.sub(r"{(\w+)}", lambda m: values[m[1]], template)


def what_bob_has(app: App, ids: dict[str, str]) -> dict[str, Any]:
    with app.client("alice") as admin:
        workflow = ok(admin.get(f"{V1}/workflows/{ids['workflow_id']}/status"))
        return {
            "workflow": workflow.get("is_canceled"),
            "jobs": ok(admin.get(f"{V1}/jobs", params={"workflow_id": ids["workflow_id"]})),
            "lock": admin.get(f"/v1/units/{ids['path']}").json(),
            "members": ok(admin.get(f"{V1}/access_groups/{ids['group_id']}/members")),
            "groups": ok(admin.get(f"{V1}/access_groups")),
            "shares": ok(admin.get(f"{V1}/workflows/{ids['workflow_id']}/access_groups")),
            "rbac": [ok(admin.get(f"/v1/rbac/{what}")) for what in ("roles", "permissions")],
            "users": ok(admin.get("/v1/rbac/users")),
        }


def test_no_session_gets_the_sign_in_page_from_every_route(app: App, bobs: dict[str, str]) -> None:
    before = what_bob_has(app, bobs)
    client = app.client()
    for route, row in ROUTES.items():
        if row.outsider == PUBLIC:
            continue
        method, template = route.split(" ", 1)
        url = "/ui" + fill(template, bobs)
        form = {k: fill(str(v), bobs) for k, v in (row.form or {}).items()}
        answer = client.request(method, url, data=form if method == "POST" else None)
        assert answer.status_code in (303, 403), (route, answer.status_code)
        if answer.status_code == 303:
            assert answer.headers["location"].startswith("/ui/sign-in"), route
        assert "bobs-run" not in answer.text and "bob/net" not in answer.text, route
    assert what_bob_has(app, bobs) == before


def test_an_outsider_reaches_nothing_of_bobs(
    app: App, viewers: dict[str, Viewer], bobs: dict[str, str]
) -> None:
    before = what_bob_has(app, bobs)
    dave = viewers["dave"]
    for route, row in ROUTES.items():
        method, template = route.split(" ", 1)
        if row.outsider == PUBLIC:
            continue
        url = "/ui" + fill(template, bobs)
        form = {k: fill(str(v), bobs) for k, v in (row.form or {}).items()}
        answer = dave.get(url) if method == "GET" else dave.post(url, form)
        if row.outsider == LIST:
            assert answer.status_code == 200, (route, answer.text)
        else:
            assert answer.status_code in (403, 404), (route, answer.status_code, answer.text)
            assert "Not allowed" in answer.text or "Not found" in answer.text, route
        sent = url + json.dumps(form)  # a refusal may repeat what was asked, nothing more
        for secret in ("bobs-run", "bob/net", "bob-team", "r-bob"):
            assert secret in sent or secret not in answer.text, (route, secret)
    for extra in EXTRA_GETS:
        answer = dave.get("/ui" + fill(extra, bobs))
        assert answer.status_code in (403, 404), (extra, answer.status_code)
    assert what_bob_has(app, bobs) == before


def test_a_session_cannot_be_used_from_another_users_pages(
    app: App, viewers: dict[str, Viewer], bobs: dict[str, str]
) -> None:
    """dave's CSRF token does not work with carol's session (tokens are per session)."""
    carol, dave = sign_in(app, "carol"), viewers["dave"]
    url = f"/ui/teams/{bobs['group_id']}/members/remove"
    answer = carol.client.post(url, data={"csrf": dave.csrf, "user": "carol"})
    assert answer.status_code == 403
    assert "carol" in json.dumps(what_bob_has(app, bobs)["members"])
