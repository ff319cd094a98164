"""Tokens people manage, in process (SQLite and PostgreSQL): creating one with a name, a
lifetime and a scope (read-only, a unit prefix, one workflow); listing them (one's own; a
system administrator anyone's); revoking one by id; the secret shown once and kept nowhere
readable; each scope bounding every request and every list, with access control on or off;
`last_used_at` set when a token is used."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.api.test_execution import DIAMOND, create, ok
from tests.conftest import AppFactory
from tests.inprocess import App
from tests.units_race import state

V1 = "/torc-service/v1"
ADMIN, OWNER, OTHER = "alice", "bob", "carol"
SCOPED = "This token is scoped"


@pytest.fixture
def app(secured_app: App) -> App:
    return secured_app


def issue(client: httpx.Client, **body: Any) -> dict[str, Any]:
    response = client.post("/v1/auth/token", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def bearer(app: App, token: str) -> httpx.Client:
    return app.client(headers={"Authorization": f"Bearer {token}"})


def refused(response: httpx.Response, status: int = 403, words: str = SCOPED) -> None:
    assert response.status_code == status, (response.request.method, response.request.url)
    assert words in response.json()["message"], response.text


def listed(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    return list(ok(client.get("/v1/auth/tokens", params=params))["items"])


def write_state(client: httpx.Client, path: str, serial: int = 1) -> httpx.Response:
    return client.post(f"/v1/backend/{path}", content=state(serial))


def wrote(client: httpx.Client, path: str, serial: int = 1) -> None:
    response = write_state(client, path, serial)
    assert response.status_code == 200, response.text


def unit_paths(client: httpx.Client, **params: Any) -> list[str]:
    return [u["path"] for u in ok(client.get("/v1/units", params=params))["units"]]


def test_create_with_each_scope_and_list_them(app: App) -> None:
    owner = app.client(OWNER)
    wf = create(owner, DIAMOND)
    plain = issue(owner, name=" ci ", ttl="12h", description="for CI")
    reader = issue(owner, name="reader", read_only=True)
    prefix = issue(owner, unit_prefix="  dev/app/ ")
    single = issue(owner, workflow_id=wf, read_only=True, ttl="1y")
    assert plain["name"] == "ci" and plain["scope"] == "unscoped"
    assert reader["scope"] == "read-only"
    assert prefix["scope"] == "units under 'dev/app'"
    assert single["scope"] == f"read-only, workflow {wf}"
    expires = datetime.fromisoformat(plain["expires_at"]) - datetime.now(UTC)
    assert timedelta(hours=11.9) < expires <= timedelta(hours=12)
    expires = datetime.fromisoformat(single["expires_at"]) - datetime.now(UTC)
    assert timedelta(days=364) < expires <= timedelta(days=365)
    items = listed(owner)
    assert [t["id"] for t in items] == [single["id"], prefix["id"], reader["id"], plain["id"]]
    by_id = {t["id"]: t for t in items}
    assert by_id[prefix["id"]]["unit_prefix"] == "dev/app"
    assert by_id[single["id"]]["workflow_id"] == wf and by_id[single["id"]]["read_only"]
    assert by_id[plain["id"]]["description"] == "for CI"
    for issued in (plain, reader, prefix, single):
        shown = by_id[issued["id"]]
        assert shown["state"] == "active" and shown["last_used_at"] is None
        assert shown["scope"] == issued["scope"] and shown["user"] == OWNER
        assert shown["lookup"] == "tg_" + issued["token"][3:].split("_", 1)[0]
    # the secret is in the creation's answer only: not in a list, nor in the audit log
    text = json.dumps(items) + app.client(ADMIN).get(f"{V1}/audit").text
    for issued in (plain, reader, prefix, single):
        assert issued["token"].split("_", 2)[2] not in text
    assert "tg_" not in app.client(ADMIN).get(f"{V1}/audit").text.replace('"tg_', "")
    # the same through the torc prefix
    assert [t["id"] for t in ok(owner.get(f"{V1}/tokens"))["items"]] == [t["id"] for t in items]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"unit_prefix": " / "}, 400, "must not be empty"),
        ({"unit_prefix": "dev\x00x"}, 400, "NUL"),
        ({"unit_prefix": "dev\x07x"}, 400, "control characters"),
        ({"unit_prefix": "a/../b"}, 400, "'.' or '..'"),
        ({"unit_prefix": "x" * 1100}, 400, ""),
        ({"workflow_id": 999999}, 404, ""),
        ({"ttl": "2y"}, 400, "between 1h and 365d"),
        ({"ttl": "30m"}, 400, "h (hours), d (days)"),
        ({"ttl": "soon"}, 400, "not a lifetime"),
        ({"ttl": "1d", "ttl_days": 3}, 400, "not both"),
        ({"name": "  "}, 400, "token name"),
        ({"name": "a\nb"}, 400, "token name"),
    ],
)
def test_bad_token_requests_are_refused_with_reasons(
    app: App, body: dict[str, Any], status: int, words: str
) -> None:
    response = app.client(OWNER).post("/v1/auth/token", json=body)
    assert response.status_code in ((status, 422) if not words else (status,)), response.text
    assert words in response.json()["message"]


def test_a_workflow_scope_needs_a_workflow_the_creator_may_read(app: App) -> None:
    theirs = create(app.client(OTHER), DIAMOND)
    refused(app.client(OWNER).post("/v1/auth/token", json={"workflow_id": theirs}), 403, "")
    assert listed(app.client(OWNER)) == []
    # nor can a token mint another (scoped or not)
    token = issue(app.client(OWNER))["token"]
    refused(bearer(app, token).post("/v1/auth/token", json={"read_only": True}), 403, "password")


def test_listing_is_ones_own_and_an_administrators_anyones(app: App) -> None:
    owner, other, admin = app.client(OWNER), app.client(OTHER), app.client(ADMIN)
    mine = [issue(owner, name=f"t{i}")["id"] for i in range(3)]
    theirs = issue(other, name="theirs")["id"]
    assert [t["id"] for t in listed(owner)] == mine[::-1]
    assert [t["id"] for t in listed(admin, user=OWNER)] == mine[::-1]
    assert {t["id"] for t in listed(admin, all="true")} == {*mine, theirs}
    refused(other.get("/v1/auth/tokens", params={"user": OWNER}), 403, "own tokens")
    refused(other.get("/v1/auth/tokens", params={"all": "true"}), 403, "own tokens")
    refused(owner.get("/v1/auth/tokens", params={"user": OWNER, "all": "true"}), 400, "not both")
    page = ok(owner.get("/v1/auth/tokens", params={"limit": 2}))
    assert len(page["items"]) == 2 and page["has_more"] and page["total_count"] == 3
    page = ok(owner.get("/v1/auth/tokens", params={"limit": 2, "offset": 2}))
    assert [t["id"] for t in page["items"]] == [mine[0]] and not page["has_more"]
    for limit in (0, 10_001):
        assert owner.get("/v1/auth/tokens", params={"limit": limit}).status_code in (400, 422)
    assert app.client().get("/v1/auth/tokens").status_code == 401


def test_revoking_by_id(app: App) -> None:
    owner, other, admin = app.client(OWNER), app.client(OTHER), app.client(ADMIN)
    first, second, third = (issue(owner, name=n) for n in ("a", "b", "c"))
    refused(other.delete(f"/v1/auth/tokens/{first['id']}"), 403, "own tokens")
    assert ok(bearer(app, first["token"]).get("/v1/auth/me"))["user"] == OWNER
    answer = ok(owner.delete(f"/v1/auth/tokens/{first['id']}"))
    assert answer["changed"] and answer["user"] == OWNER
    assert bearer(app, first["token"]).get("/v1/auth/me").status_code == 401
    assert not ok(owner.delete(f"/v1/auth/tokens/{first['id']}"))["changed"]
    ok(admin.delete(f"{V1}/tokens/{second['id']}"))  # an administrator, through torc's path
    assert bearer(app, second["token"]).get("/v1/auth/me").status_code == 401
    assert owner.delete("/v1/auth/tokens/999999").status_code == 404
    states = {t["id"]: t["state"] for t in listed(owner)}
    assert states == {first["id"]: "revoked", second["id"]: "revoked", third["id"]: "active"}
    query = {"action": "token.revoke", "decision": "allowed"}
    records = ok(admin.get(f"{V1}/audit", params=query))["items"]
    assert sorted((r["user"], r["resource"]) for r in records) == [
        (ADMIN, f"token/{second['id']}"),
        (OWNER, f"token/{first['id']}"),
    ]
    # the older ways still work: the token in use, and all of one user's
    third_client = bearer(app, third["token"])
    assert ok(third_client.delete("/v1/auth/token"))["message"] == "Token revoked"
    assert third_client.get("/v1/auth/me").status_code == 401
    fourth = issue(owner)
    assert ok(admin.delete("/v1/auth/tokens", params={"user": OWNER}))["revoked"] == 1
    assert bearer(app, fourth["token"]).get("/v1/auth/me").status_code == 401


@pytest.mark.parametrize("enforce", [True, False])
def test_a_read_only_token_never_writes(app_factory: AppFactory, enforce: bool) -> None:
    app = app_factory(require_auth=True, enforce_access_control=enforce, admin_users=(ADMIN,))
    owner = app.client(ADMIN)  # an administrator's token: still only reads
    wf = create(owner, DIAMOND)
    wrote(owner, "dev/app")
    job = ok(owner.get(f"{V1}/jobs", params={"workflow_id": wf}))["items"][0]
    reader = bearer(app, issue(owner, read_only=True)["token"])
    assert ok(reader.get(f"{V1}/workflows/{wf}"))["id"] == wf
    assert json.loads(reader.get("/v1/backend/dev/app").content)["serial"] == 1
    assert unit_paths(reader) == ["dev/app"]
    lock = {"ID": "l1", "Operation": "OperationTypeApply", "Who": "me"}
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", f"{V1}/workflows", {"json": {"name": "x"}}),
        ("DELETE", f"{V1}/workflows/{wf}", {}),
        ("PUT", f"{V1}/workflows/{wf}/cancel", {}),
        ("POST", f"{V1}/workflows/{wf}/claim_next_jobs", {}),
        ("POST", f"{V1}/workflows/{wf}/initialize_jobs", {}),
        ("PUT", f"{V1}/jobs/{job['id']}", {"json": {**job, "name": "renamed"}}),
        ("POST", f"{V1}/access_groups", {"json": {"name": "g"}}),
        ("POST", "/v1/units", {"json": {"path": "dev/new"}}),
        ("POST", "/v1/backend/dev/app", {"content": state(2)}),
        ("LOCK", "/v1/backend/dev/app", {"json": lock}),
        ("UNLOCK", "/v1/backend/dev/app", {"json": lock}),
        ("DELETE", "/v1/backend/dev/app", {}),
        ("PUT", "/v1/state/dev/app", {"content": state(3)}),
        ("POST", "/v1/locks/dev/app", {"json": {"id": "l2"}}),
        ("POST", "/v1/rbac/init", {}),
        ("POST", "/v1/rbac/roles", {"json": {"id": "r"}}),
    ]
    for method, path, kwargs in calls:
        refused(reader.request(method, path, **kwargs))
    assert json.loads(owner.get("/v1/backend/dev/app").content)["serial"] == 1
    assert ok(owner.get("/v1/units/dev/app"))["lock"] is None
    assert unit_paths(owner) == ["dev/app"]
    assert ok(owner.get(f"{V1}/workflows/{wf}/is_uninitialized"))["is_uninitialized"]
    # a question changes nothing, and a read-only token may still end itself
    ok(reader.post("/v1/rbac/test", json={"action": "unit.read", "resource": "dev/app"}))
    ok(reader.delete("/v1/auth/token"))
    assert reader.get(f"{V1}/workflows/{wf}").status_code == 401


@pytest.mark.parametrize("enforce", [True, False])
def test_a_prefix_token_reaches_only_units_under_it(app_factory: AppFactory, enforce: bool) -> None:
    app = app_factory(require_auth=True, enforce_access_control=enforce, admin_users=(ADMIN,))
    owner = app.client(OWNER)
    wf = create(owner, DIAMOND)
    for path in ("dev", "dev/app", "development/app", "prod/app", "devx"):
        wrote(owner, path)
    scoped = bearer(app, issue(owner, unit_prefix="dev")["token"])
    wrote(scoped, "dev/app", 2)
    wrote(scoped, "dev/new/deep", 1)  # creating under the prefix
    assert json.loads(scoped.get("/v1/backend/dev").content)["serial"] == 1
    lock = {"ID": "l1", "Operation": "OperationTypeApply", "Who": "me"}
    assert scoped.request("LOCK", "/v1/backend/dev/app", json=lock).status_code == 200
    assert scoped.request("UNLOCK", "/v1/backend/dev/app", json=lock).status_code == 200
    for path in ("development/app", "prod/app", "devx"):
        refused(scoped.get(f"/v1/backend/{path}"))
        refused(scoped.get(f"/v1/units/{path}"))
        refused(scoped.delete(f"/v1/units/{path}"))
    for path in ("development/app", "prod/app", "devx", "de", "development/new"):
        refused(write_state(scoped, path, 9))
        refused(scoped.request("LOCK", f"/v1/backend/{path}", json=lock))
    assert unit_paths(scoped) == ["dev", "dev/app", "dev/new/deep"]
    assert unit_paths(scoped, prefix="dev/new") == ["dev/new/deep"]
    assert unit_paths(scoped, prefix="development") == []
    assert unit_paths(scoped, prefix="prod") == []
    # no workflow, group, RBAC, audit or administration
    assert ok(scoped.get(f"{V1}/workflows"))["items"] == []
    refused(scoped.get(f"{V1}/workflows/{wf}"))
    refused(scoped.post(f"{V1}/workflows", json={"name": "x"}))
    refused(scoped.post(f"{V1}/access_groups", json={"name": "g"}))
    refused(scoped.get(f"{V1}/access_groups"))
    refused(scoped.get("/v1/rbac/permissions"))
    refused(scoped.get(f"{V1}/audit"))
    refused(scoped.post(f"{V1}/admin/reload-auth"))
    assert json.loads(owner.get("/v1/backend/development/app").content)["serial"] == 1
    assert ok(owner.get(f"{V1}/workflows"))["total_count"] == 1


def test_an_administrators_prefix_token_administers_nothing(app: App) -> None:
    scoped = bearer(app, issue(app.client(ADMIN), unit_prefix="dev")["token"])
    refused(scoped.get(f"{V1}/audit"))
    refused(scoped.get("/v1/audit"))
    refused(scoped.post(f"{V1}/admin/reload-auth"))
    refused(scoped.post("/v1/rbac/permissions", json={"id": "p", "rules": ["allow:*:*"]}))
    refused(scoped.post("/v1/rbac/users/assign", json={"email": OWNER, "role_id": "r"}))
    refused(scoped.post(f"{V1}/access_groups", json={"name": "g"}))
    # tokens are always in reach: an administrator's scoped token lists them
    assert listed(scoped, all="true")


@pytest.mark.parametrize("enforce", [True, False])
def test_a_workflow_token_reaches_only_its_workflow(app_factory: AppFactory, enforce: bool) -> None:
    app = app_factory(require_auth=True, enforce_access_control=enforce, admin_users=(ADMIN,))
    owner = app.client(OWNER)
    wf, other = create(owner, DIAMOND, name="mine"), create(owner, DIAMOND, name="other")
    wrote(owner, "dev/app")
    scoped = bearer(app, issue(owner, workflow_id=wf)["token"])
    assert ok(scoped.get(f"{V1}/workflows/{wf}"))["id"] == wf
    ok(scoped.post(f"{V1}/workflows/{wf}/initialize_jobs"))  # writing it: within the scope
    page = ok(scoped.get(f"{V1}/workflows"))
    assert [w["id"] for w in page["items"]] == [wf] and page["total_count"] == 1
    assert ok(scoped.get(f"{V1}/workflows", params={"name": "other"}))["items"] == []
    refused(scoped.get(f"{V1}/workflows/{other}"))
    refused(scoped.get(f"{V1}/jobs", params={"workflow_id": other}))
    refused(scoped.delete(f"{V1}/workflows/{other}"))
    refused(scoped.post(f"{V1}/workflows", json={"name": "x"}))
    refused(scoped.post(f"{V1}/workflow_specs", json={"name": "y", "jobs": []}))
    refused(scoped.get("/v1/backend/dev/app"))
    refused(write_state(scoped, "dev/app"))
    assert unit_paths(scoped) == []
    refused(scoped.get(f"{V1}/access_groups"))
    assert ok(owner.get(f"{V1}/workflows"))["total_count"] == 2


def test_a_scoped_tokens_workflow_is_read_when_asked(app: App) -> None:
    """The scope is checked at each request: a workflow shared for the token's creation and
    unshared since is out of reach, as it is for the user."""
    owner, other = app.client(OWNER), app.client(OTHER)
    theirs = create(other, DIAMOND)
    group = ok(app.client(ADMIN).post(f"{V1}/access_groups", json={"name": "team"}))["id"]
    ok(app.client(ADMIN).post(f"{V1}/access_groups/{group}/members", json={"user_name": OWNER}))
    ok(other.post(f"{V1}/workflows/{theirs}/access_groups/{group}"))
    scoped = bearer(app, issue(owner, workflow_id=theirs, read_only=True)["token"])
    assert ok(scoped.get(f"{V1}/workflows/{theirs}"))["id"] == theirs
    ok(other.delete(f"{V1}/workflows/{theirs}/access_groups/{group}"))
    assert scoped.get(f"{V1}/workflows/{theirs}").status_code == 403
    assert ok(scoped.get(f"{V1}/workflows"))["items"] == []


def test_last_used_is_set_when_a_token_is_used(app: App) -> None:
    owner = app.client(OWNER)
    used = issue(owner, name="used")
    issue(owner, name="unused")
    before = datetime.now(UTC)
    for _ in range(3):  # written once: the next uses within a minute change nothing
        ok(bearer(app, used["token"]).get("/v1/auth/me"))
    app.client(OWNER, password=used["token"]).get("/v1/auth/me")  # as a password too
    by_name = {t["name"]: t for t in listed(owner)}
    assert by_name["unused"]["last_used_at"] is None
    last = datetime.fromisoformat(by_name["used"]["last_used_at"])
    assert before - timedelta(seconds=1) <= last <= datetime.now(UTC)
