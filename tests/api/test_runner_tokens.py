"""Runner tokens in process (SQLite and PostgreSQL): a token scoped to one workflow runs that
workflow's jobs and reads it, and reaches nothing else (not another workflow of its user, not
units, groups, RBAC, the audit log, administration or tokens), whether or not access control
is on; it ends when the workflow completes, is canceled or deleted, at its expiry, when its
user's password changes, or when the workflow's runner tokens are revoked; who may mint one."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import fastapi.routing
import httpx
import pytest

from teamgate.auth.passwords import hash_password
from teamgate.domain.actions import Action, DecidedBy
from teamgate.domain.identity import Principal
from teamgate.domain.policy import Resource, decide
from teamgate.settings import Settings
from teamgate.web.app import create_app
from teamgate.web.scoped import RUNNER_ROUTES
from tests.api.test_execution import DIAMOND, Runner, create, initialize, ok, result
from tests.conftest import AppFactory, execute_sql
from tests.inprocess import App

V1 = "/torc-service/v1"
OWNER, MEMBER, OUTSIDER, ADMIN = "bob", "carol", "dave", "alice"
SCOPED = "scoped to workflow"
PUBLIC = {"/healthz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
PUBLIC |= {"/v1/auth/config", "/torc-service/v1/auth/config"}  # how to sign in: no credentials


@pytest.fixture
def app(secured_app: App) -> App:
    return secured_app


def mint(client: httpx.Client, workflow_id: int, **body: Any) -> httpx.Response:
    return client.post(f"{V1}/workflows/{workflow_id}/runner_tokens", json=body)


def minted(client: httpx.Client, workflow_id: int, **body: Any) -> dict[str, Any]:
    response = mint(client, workflow_id, **body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def runner_client(app: App, token: str) -> httpx.Client:
    return app.client(headers={"Authorization": f"Bearer {token}"})


def refused(response: httpx.Response, status: int = 403, words: str = SCOPED) -> None:
    assert response.status_code == status, (response.request.url, response.text)
    assert words in response.json()["message"], response.text


def audit(app: App, **filters: str) -> list[dict[str, Any]]:
    admin = app.client(ADMIN)
    return list(ok(admin.get(f"{V1}/audit", params={"limit": "100", **filters}))["items"])


def test_a_runner_token_runs_its_workflow_and_ends_when_it_completes(app: App) -> None:
    owner = app.client(OWNER)
    wf = create(owner, DIAMOND)
    token = minted(owner, wf, ttl_hours=2, description="slurm allocation")
    assert token["workflow_id"] == wf and token["token"].startswith("tg_")
    expires = datetime.fromisoformat(token["expires_at"])
    assert timedelta(hours=1.9) < expires - datetime.now(UTC) <= timedelta(hours=2)
    runner_http = runner_client(app, token["token"])
    assert ok(runner_http.get(f"{V1}/workflows/{wf}"))["id"] == wf
    initialize(runner_http, wf)
    runner = Runner(runner_http, wf)  # registers a compute node with the token
    [a] = runner.claim()
    runner.run(a)  # start_job, complete_job with its result
    b_and_c = runner.claim()
    for job in b_and_c:
        ok(runner_http.put(f"{V1}/jobs/{job['id']}/start_job/1/{runner.node}"))
    entries = [
        {"job_id": j["id"], "status": "completed", "run_id": 1, "result": result(j, runner.node)}
        for j in b_and_c
    ]
    answer = ok(
        runner_http.post(f"{V1}/workflows/{wf}/batch_complete_jobs", json={"completions": entries})
    )
    assert sorted(answer["completed"]) == sorted(j["id"] for j in b_and_c)
    assert ok(runner_http.get(f"{V1}/workflows/{wf}/status"))["jobs_by_status"]["ready"] == 1
    assert len(ok(runner_http.get(f"{V1}/results", params={"workflow_id": wf}))["items"]) == 3
    node = ok(runner_http.get(f"{V1}/compute_nodes/{runner.node}"))
    ok(runner_http.put(f"{V1}/compute_nodes/{runner.node}", json={**node, "is_active": False}))
    [d] = runner.claim()
    runner.run(d)  # the last job: the workflow is complete, its runner tokens end with it
    refused(runner_http.get(f"{V1}/workflows/{wf}/status"), 401, f"runner token of workflow {wf}")
    assert ok(owner.get(f"{V1}/workflows/{wf}/is_complete"))["is_complete"] is True
    created = audit(app, action="token.create", resource=f"workflow/{wf}")
    assert [e["user"] for e in created] == [OWNER]
    assert token["token"] not in str(created)


def test_a_runner_token_reaches_nothing_else(app: App) -> None:
    owner = app.client(OWNER)
    wf = create(owner, DIAMOND)
    other = create(owner, DIAMOND)  # the same user's: still out of reach
    other_job = next(iter(ok(owner.get(f"{V1}/jobs", params={"workflow_id": other}))["items"]))
    token = minted(owner, wf)["token"]
    runner = runner_client(app, token)
    basic = app.client(auth=(OWNER, token))  # the token as a password: the same scope
    for client in (runner, basic):
        refused(client.get(f"{V1}/workflows/{other}"))
        refused(client.get(f"{V1}/workflows"))
        refused(client.get(f"{V1}/jobs", params={"workflow_id": other}))
        refused(client.get(f"{V1}/jobs/{other_job['id']}"))
        refused(client.post(f"{V1}/workflows/{other}/claim_next_jobs"))
    node = {
        "workflow_id": other,
        "hostname": "h",
        "pid": 1,
        "start_time": "2026-01-01T00:00:00Z",
        "num_gpus": 0,
        "num_nodes": 1,
        "compute_node_type": "local",
    }
    calls = [
        ("GET", f"{V1}/jobs", {"params": {"workflow_id": [wf, other]}}),
        ("POST", f"{V1}/compute_nodes", {"json": {**node, "num_cpus": 1, "memory_gb": 1.0}}),
        ("DELETE", f"{V1}/workflows/{wf}", {}),
        ("PUT", f"{V1}/workflows/{wf}/cancel", {}),
        ("POST", f"{V1}/workflows/{wf}/reset_status", {}),
        ("POST", f"{V1}/workflows/{wf}/access_groups", {"json": {"group_id": 1}}),
        ("POST", f"{V1}/jobs", {"json": {"workflow_id": wf, "name": "x", "command": "id"}}),
        ("PUT", f"{V1}/jobs/{other_job['id']}", {"json": {"workflow_id": wf, "name": "a"}}),
        ("POST", f"{V1}/user_data", {"json": {"workflow_id": wf, "name": "u", "data": {}}}),
        ("POST", f"{V1}/workflows/{wf}/runner_tokens", {"json": {}}),
        ("DELETE", f"{V1}/workflows/{wf}/runner_tokens", {}),
        ("POST", "/v1/auth/token", {}),
        ("GET", "/v1/auth/me", {}),
        ("GET", f"{V1}/access_groups", {}),
        ("POST", f"{V1}/access_groups", {"json": {"name": "runners"}}),
        ("GET", "/v1/units", {}),
        ("POST", "/v1/units", {"json": {"path": "runner/unit"}}),
        ("GET", "/v1/state/runner/unit", {}),
        ("POST", "/v1/backend/runner/unit", {"content": b"{}"}),
        ("GET", "/v1/rbac/me", {}),
        ("GET", "/v1/rbac/permissions", {}),
        ("GET", f"{V1}/audit", {}),
        ("GET", "/v1/audit", {}),
        ("POST", f"{V1}/admin/reload-auth", {}),
        ("GET", "/metrics", {}),
    ]
    for method, path, kwargs in calls:
        refused(runner.request(method, path, **kwargs))
    # nothing changed: the workflow is there, unshared, with its jobs; no unit, group or token
    assert ok(owner.get(f"{V1}/workflows/{wf}"))["access_groups"] == []
    assert len(ok(owner.get(f"{V1}/jobs", params={"workflow_id": wf}))["items"]) == len(DIAMOND)
    assert owner.get("/v1/units/runner/unit").status_code == 404
    groups = ok(app.client(ADMIN).get(f"{V1}/access_groups"))["items"]
    assert "runners" not in [g["name"] for g in groups]
    assert [e["resource"] for e in audit(app, action="token.create")] == [f"workflow/{wf}"]
    assert ok(owner.get(f"{V1}/compute_nodes", params={"workflow_id": other}))["items"] == []
    # and what it may do still works
    assert ok(runner.get(f"{V1}/workflows/{wf}"))["id"] == wf


def test_every_other_route_refuses_a_runner_token(app: App, tmp_path: Path) -> None:
    """The scoped-token column of the authorization matrix: every route the server serves that
    is not a runner call refuses the token, before anything else is looked at."""
    owner = app.client(OWNER)
    wf = create(owner, DIAMOND)
    runner = runner_client(app, minted(owner, wf)["token"])
    allowed = {normal(route) for route in RUNNER_ROUTES}
    served = served_routes(tmp_path)
    assert allowed <= served, f"RUNNER_ROUTES names routes the server lacks: {allowed - served}"
    checked = 0
    for route in sorted(served - allowed):
        method, template = route.split(" ", 1)
        if template in PUBLIC:
            continue
        path = re.sub(r"\{(\w+)\}", lambda m: filler(m[1], wf), template)
        refused(runner.request(method, path, json={}), 403)
        checked += 1
    assert checked > 60


def normal(route: str) -> str:
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", route)


def filler(param: str, wf: int) -> str:
    return {"path": "some/unit", "user_name": OWNER, "status": "completed"}.get(param, str(wf))


def served_routes(tmp_path: Path) -> set[str]:
    app = create_app(Settings(database=str(tmp_path / "routes.db")))
    served = set()
    for route in fastapi.routing.iter_route_contexts(app.routes):
        for method in route.methods or ():
            if not (method == "HEAD" and "GET" in route.methods):
                served.add(f"{method} {normal(route.path)}")
    return served


def test_the_scope_holds_with_access_control_off(app_factory: AppFactory) -> None:
    app = app_factory(enforce_access_control=False)
    owner = app.client(OWNER)
    wf, theirs = create(owner, DIAMOND), create(app.client(OUTSIDER), DIAMOND)
    runner = runner_client(app, minted(owner, wf)["token"])
    assert ok(runner.get(f"{V1}/workflows/{wf}"))["id"] == wf
    initialize(runner, wf)
    refused(runner.get(f"{V1}/workflows/{theirs}"))
    refused(runner.get(f"{V1}/jobs", params={"workflow_id": theirs}))
    refused(runner.get(f"{V1}/workflows"))
    refused(runner.get("/v1/units"))
    refused(runner.delete(f"{V1}/workflows/{wf}"))
    refused(runner.post(f"{V1}/jobs", json={"workflow_id": wf, "name": "x", "command": "id"}))
    refused(mint(app.client(), wf), 401, "Sign in")  # anonymous: a runner needs no token here


def test_an_administrators_runner_token_is_no_administrator(app: App) -> None:
    admin = app.client(ADMIN)
    wf = create(admin, DIAMOND)
    theirs = create(app.client(OWNER), DIAMOND)
    runner = runner_client(app, minted(admin, wf)["token"])
    refused(runner.get(f"{V1}/audit"))
    refused(runner.post(f"{V1}/access_groups", json={"name": "g"}))
    refused(runner.get(f"{V1}/workflows/{theirs}/access_groups"))
    refused(runner.post(f"{V1}/admin/reload-auth"))


def test_cancel_revokes_the_workflows_runner_tokens(app: App) -> None:
    owner = app.client(OWNER)
    wf = create(owner, DIAMOND)
    runner = runner_client(app, minted(owner, wf)["token"])
    initialize(runner, wf)
    ok(owner.put(f"{V1}/workflows/{wf}/cancel"))
    refused(runner.get(f"{V1}/workflows/{wf}"), 401, "revoked")
    [record] = audit(app, action="workflow.cancel")
    assert "1 runner tokens revoked" in record["detail"]


def test_deleting_the_workflow_ends_its_runner_tokens(app: App) -> None:
    owner = app.client(OWNER)
    wf = create(owner, DIAMOND)
    runner = runner_client(app, minted(owner, wf)["token"])
    ok(owner.delete(f"{V1}/workflows/{wf}"))
    assert runner.get(f"{V1}/workflows/{wf}").status_code == 401


def test_revoking_a_workflows_runner_tokens(app: App) -> None:
    owner = app.client(OWNER)
    wf, other = create(owner, DIAMOND), create(owner, DIAMOND)
    first, second = (runner_client(app, minted(owner, wf)["token"]) for _ in range(2))
    elsewhere = runner_client(app, minted(owner, other)["token"])
    refused(app.client(OUTSIDER).delete(f"{V1}/workflows/{wf}/runner_tokens"), 403, "access")
    assert ok(first.get(f"{V1}/workflows/{wf}"))["id"] == wf
    assert ok(owner.delete(f"{V1}/workflows/{wf}/runner_tokens")) == {
        "workflow_id": wf,
        "revoked": 2,
    }
    for runner in (first, second):
        refused(runner.get(f"{V1}/workflows/{wf}"), 401, "revoked")
    assert ok(elsewhere.get(f"{V1}/workflows/{other}"))["id"] == other
    [record] = audit(app, action="token.revoke", resource=f"workflow/{wf}")
    assert record["detail"] == "2 runner tokens revoked" and record["user"] == OWNER


def test_an_expired_runner_token_is_refused(app: App) -> None:
    owner = app.client(OWNER)
    wf = create(owner, DIAMOND)
    token = minted(owner, wf)
    runner = runner_client(app, token["token"])
    assert ok(runner.get(f"{V1}/workflows/{wf}"))["id"] == wf
    past = "2020-01-01T00:00:00.000Z"
    execute_sql(
        app, "UPDATE api_token SET expires_at = :past WHERE id = :id", past=past, id=token["id"]
    )
    refused(runner.get(f"{V1}/workflows/{wf}"), 401, "expired")


def test_a_password_change_ends_runner_tokens(app: App) -> None:
    owner = app.client(OWNER)
    wf = create(owner, DIAMOND)
    runner = runner_client(app, minted(owner, wf)["token"])
    assert ok(runner.get(f"{V1}/workflows/{wf}"))["id"] == wf
    auth_file = Path(str(app.settings.auth_file))
    lines = auth_file.read_text().splitlines()
    changed = [
        f"{OWNER}:{hash_password('a new one', cost=4)}" if line.startswith(f"{OWNER}:") else line
        for line in lines
    ]
    auth_file.write_text("\n".join(changed) + "\n")
    app.app.state.authenticator.reload()
    assert runner.get(f"{V1}/workflows/{wf}").status_code == 401


def test_who_may_mint(app: App) -> None:
    owner, member, outsider = app.client(OWNER), app.client(MEMBER), app.client(OUTSIDER)
    admin = app.client(ADMIN)
    group = ok(admin.post(f"{V1}/access_groups", json={"name": "team"}))["id"]
    for user in (OWNER, MEMBER):
        ok(admin.post(f"{V1}/access_groups/{group}/members", json={"user_name": user}))
    wf = create(owner, DIAMOND, access_groups=["team"])
    private = create(owner, DIAMOND)
    refused(mint(outsider, wf), 403, "does not have access")
    refused(mint(member, private), 403, "does not have access")
    refused(mint(admin, wf), 403, "does not have access")  # administration is not running it
    refused(mint(app.client(), wf), 401, "Anonymous")  # this server requires sign-in
    refused(mint(owner, 10_000), 404, "not found")
    assert [e["resource"] for e in audit(app, action="token.create")] == []
    token = minted(member, wf)  # a team member runs a shared workflow
    runner = runner_client(app, token["token"])
    assert ok(runner.get(f"{V1}/workflows/{wf}"))["id"] == wf
    refused(runner.get(f"{V1}/workflows/{private}"))
    [record] = audit(app, action="token.create")
    assert record["user"] == MEMBER and record["resource"] == f"workflow/{wf}"


def test_minting_with_a_token_never_outlives_it(app: App) -> None:
    owner = app.client(OWNER)
    wf = create(owner, DIAMOND)
    own = owner.post("/v1/auth/token", json={"ttl_days": 1}).json()
    with_token = app.client(headers={"Authorization": f"Bearer {own['token']}"})
    token = minted(with_token, wf, ttl_hours=720)
    assert datetime.fromisoformat(token["expires_at"]) <= datetime.fromisoformat(own["expires_at"])
    assert ok(runner_client(app, token["token"]).get(f"{V1}/workflows/{wf}"))["id"] == wf


@pytest.mark.parametrize(
    "body",
    [
        {"ttl_hours": 0},
        {"ttl_hours": 721},
        {"ttl_hours": -1},
        {"ttl_hours": "x"},
        {"extra": 1},
        {"description": "d" * 1025},
        [1],
        '{"ttl_hours": 1e999}',
        '{"ttl_hours": NaN}',
    ],
)
def test_bad_mint_requests_are_refused(app: App, body: Any) -> None:
    owner = app.client(OWNER)
    wf = create(owner, DIAMOND)
    url = f"{V1}/workflows/{wf}/runner_tokens"
    if isinstance(body, str):  # not JSON a client would write
        headers = {"Content-Type": "application/json"}
        response = owner.post(url, content=body.encode(), headers=headers)
    else:
        response = owner.post(url, json=body)
    assert response.status_code == 400, response.text
    assert audit(app, action="token.create") == []


def test_the_token_is_never_logged(app: App, caplog: pytest.LogCaptureFixture) -> None:
    owner = app.client(OWNER)
    wf = create(owner, DIAMOND)
    with caplog.at_level(logging.DEBUG):
        token = minted(owner, wf)
        runner = runner_client(app, token["token"])
        ok(runner.get(f"{V1}/workflows/{wf}"))
        refused(runner.get(f"{V1}/workflows"))
        ok(owner.put(f"{V1}/workflows/{wf}/cancel"))
        refused(runner.get(f"{V1}/workflows/{wf}"), 401, "revoked")
    secret = token["token"].split("_", 2)[2]  # tg_<lookup>_<secret>: the secret may hold "_"
    assert secret not in caplog.text
    assert secret not in str(audit(app))
    assert "no-store" in mint(owner, wf).headers["cache-control"]


@pytest.mark.parametrize("enforce", [True, False])
def test_decide_bounds_a_scoped_principal(enforce: bool) -> None:
    """The policy alone: only reading and running workflow 7 can be allowed, and only if the
    user may (the scope grants nothing)."""
    scoped = Principal(name=OWNER, method="token", token_id=1, workflow_scope=7)
    mine = Resource(kind="workflow", id="7", name=f"{OWNER}/wf", owner=OWNER)
    theirs = Resource(kind="workflow", id="7", name=f"{OUTSIDER}/wf", owner=OUTSIDER)
    for action in (Action.WORKFLOW_READ, Action.WORKFLOW_WRITE):
        assert decide(scoped, action, mine, enforce=enforce).allowed
        other = mine._replace(id="8")
        denied = decide(scoped, action, other, enforce=enforce)
        assert not denied.allowed and denied.decided_by is DecidedBy.SCOPE
        assert "scoped to workflow 7" in denied.message
    assert decide(scoped, Action.WORKFLOW_READ, theirs, enforce=enforce).allowed is not enforce
    unit = Resource(kind="unit", id="7", name="7", owner=OWNER)
    refusals = [
        decide(scoped, Action.WORKFLOW_DELETE, mine, enforce=enforce),
        decide(scoped, Action.WORKFLOW_SHARE, mine, enforce=enforce),
        decide(scoped, Action.WORKFLOW_WRITE, mine._replace(new=True), enforce=enforce),
        decide(scoped, Action.UNIT_READ, unit, enforce=enforce),
        decide(scoped, Action.TOKEN_CREATE, enforce=enforce),
        decide(scoped, Action.SYSTEM_ADMIN, enforce=enforce),
        decide(scoped, Action.GROUP_READ, group=1, enforce=enforce),
    ]
    assert all(d.decided_by is DecidedBy.SCOPE and not d.allowed for d in refusals)
