"""Console Access section: who can reach a workflow or unit, and the permission tester, in
process, checked against the API answering the same questions.

The world: alice (system administrator) initialises RBAC; bob holds role `developer`
(allow read, write, lock on dev/*) and role `careful` (deny lock on dev/*: it takes away
what `developer` gives); alice owns unit dev/app. bob owns workflow `ml`, shared at read
with group `crew` (carol); dave is an outsider.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest

from teamgate.cli.explain import step_lines
from tests.conftest import App
from tests.console.helpers import sign_in

TORC = "/torc-service/v1"
HOSTILE = "<img src=x onerror=alert(1)>"


class Marked(HTMLParser):
    """The text inside each element with an id, and each <li> of `#steps` with its data-."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[tuple[str, str | None]] = []
        self.text: dict[str, str] = {}
        self.attrs: dict[str, dict[str, str | None]] = {}
        self.steps: list[dict[str, str]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        ident = found.get("id")
        if ident:
            self.text[ident] = ""
            self.attrs[ident] = found
        if tag == "li" and any(i == "steps" for _t, i in self.open):
            self.steps.append({"check": found.get("data-check") or "", "text": ""})
            self.steps[-1]["matched"] = found.get("data-matched") or ""
            self.steps[-1]["mark"] = found.get("data-mark") or ""
        if tag == "span" and "step-text" in (found.get("class") or "") and self.steps:
            self.steps[-1]["text"] = ""  # from here on: the step's line without its mark
        if tag not in ("input", "br", "meta", "link", "img"):
            self.open.append((tag, ident))

    def handle_endtag(self, tag: str) -> None:
        while self.open:
            if self.open.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        for _tag, ident in self.open:
            if ident:
                self.text[ident] += data
        if self.steps and any(t == "li" for t, _i in self.open):
            self.steps[-1]["text"] += data


def squeeze(text: str) -> str:
    return " ".join(text.split())


def ok(response: httpx.Response) -> Any:
    assert response.is_success, (response.request.url, response.status_code, response.text)
    return response.json() if response.content else None


@pytest.fixture
def world(secured_app: App) -> App:
    with secured_app.client("alice") as alice, secured_app.client("bob") as bob:
        ok(alice.post("/v1/units", json={"path": "dev/app"}))
        ok(alice.post("/v1/rbac/init"))
        roles = {
            "developer": "allow:unit.read,unit.write,unit.lock:dev/*",
            "careful": "deny:unit.lock:dev/*",
        }
        for role, rule in roles.items():
            ok(alice.post("/v1/rbac/permissions", json={"id": role, "rules": [rule]}))
            ok(alice.post("/v1/rbac/roles", json={"id": role}))
            ok(alice.post(f"/v1/rbac/roles/{role}/permissions", json={"permission_id": role}))
            ok(alice.post("/v1/rbac/users/assign", json={"email": "bob", "role_id": role}))
        crew = ok(alice.post(f"{TORC}/access_groups", json={"name": "crew"}))["id"]
        member = {"user_name": "carol", "role": "member"}
        ok(alice.post(f"{TORC}/access_groups/{crew}/members", json=member))
        workflow = ok(bob.post(f"{TORC}/workflows", json={"name": "ml"}))["id"]
        share = {"group_id": crew, "access": "read"}
        ok(bob.post(f"{TORC}/workflows/{workflow}/access_groups", json=share))
        assert workflow == 1
    return secured_app


# -- the permission tester agrees with POST /v1/rbac/test ----------------------------------


@pytest.mark.parametrize(
    ("user", "action", "resource", "allowed", "decided"),
    [
        ("bob", "unit.read", "dev/app", True, "rule allow:"),
        ("bob", "unit.lock", "dev/app", False, "explicit deny by rule deny:unit.lock"),
        ("bob", "unit.write", "prod/db", False, "no matching grant"),
        ("carol", "unit.read", "dev/app", False, "user not found"),
        ("bob", "rbac.manage", "", False, "no matching grant"),
    ],
)
def test_the_tester_agrees_with_the_api(
    world: App, user: str, action: str, resource: str, allowed: bool, decided: str
) -> None:
    viewer = sign_in(world, "alice")
    query = {"user": user, "action": action, "resource": resource}
    page = viewer.get("/ui/access/test", params=query)
    assert page.status_code == 200, page.text
    with world.client("alice") as alice:
        body = {"email": user, "action": action, "resource": resource or None}
        api = ok(alice.post("/v1/rbac/test", json=body))
    found = Marked(page.text)
    assert found.attrs["verdict"]["data-allowed"] == ("true" if allowed else "false")
    assert api["status"] == ("allowed" if allowed else "denied")
    assert squeeze(found.text["verdict"]) == api["status"].capitalize()
    assert squeeze(found.text["reason"]) == api["reason"]
    assert decided in api["reason"]
    if api["user_roles"]:
        assert squeeze(found.text["roles"]) == ", ".join(api["user_roles"])
    else:
        assert squeeze(found.text["roles"]).startswith("none")
    assert squeeze(found.text["permissions"]) == (
        ", ".join(api["applicable_permissions"]) or "none"
    )
    assert [s["check"] for s in found.steps] == [s["check"] for s in api["steps"]]
    assert [s["matched"] == "true" for s in found.steps] == [s["matched"] for s in api["steps"]]
    # what `taco rbac test --explain` prints for the same answer, line by line
    printed = step_lines(api["steps"], indent="")
    assert [f"{s['mark']} {squeeze(s['text'])}" for s in found.steps] == [
        squeeze(line) for line in printed
    ]


def test_the_tester_offers_the_rule_actions_and_keeps_the_question_in_the_address(
    world: App,
) -> None:
    viewer = sign_in(world, "bob")
    page = viewer.get("/ui/access/test", params={"action": "unit.write", "resource": "dev/app"})
    assert page.status_code == 200
    assert '<option value="unit.write" selected>' in page.text
    assert '<option value="*"' not in page.text
    assert 'name="user"' not in page.text  # bob may only ask about himself
    assert Marked(page.text).attrs["verdict"]["data-allowed"] == "true"


def test_asking_about_someone_else_needs_rbac_manage(world: App) -> None:
    viewer = sign_in(world, "bob")
    answer = viewer.get("/ui/access/test", params={"user": "carol", "action": "unit.read"})
    assert answer.status_code == 403
    assert "Not allowed" in answer.text


@pytest.mark.parametrize(
    "query",
    [
        {"action": "unit.explode", "resource": "dev/app"},
        {"action": "*", "resource": "dev/app"},
        {"action": "unit.read", "resource": "x" * 5000},
        {"action": "unit.read", "user": "u" * 300},
        {"action": "a" * 100},
    ],
)
def test_bad_questions_get_a_400_page(world: App, query: dict[str, str]) -> None:
    answer = sign_in(world, "alice").get("/ui/access/test", params=query)
    assert answer.status_code == 400, answer.text
    assert "Not understood" in answer.text


def test_the_tester_without_a_question_is_the_empty_form(world: App) -> None:
    answer = sign_in(world, "alice").get("/ui/access/test")
    assert answer.status_code == 200
    assert 'id="test-action"' in answer.text and 'id="verdict"' not in answer.text


# -- who can reach ---------------------------------------------------------------------------


def test_who_can_reach_a_workflow_lists_its_owner_and_the_groups_members(world: App) -> None:
    page = sign_in(world, "bob").get("/ui/access", params={"workflow": 1})
    assert page.status_code == 200, page.text
    assert 'data-user="bob" data-level="admin"' in page.text
    assert 'data-user="carol" data-level="read"' in page.text
    assert 'data-user="dave"' not in page.text
    assert re.search(
        r'<tr data-group="crew"><td><a href="/ui/teams/\d+">crew</a></td><td>read</td>', page.text
    )
    found = Marked(page.text)
    assert "owner" in found.text["reach-users"]
    assert "group 'crew' (read)" in found.text["reach-users"]


def test_who_can_reach_a_unit_shows_what_a_deny_rule_takes_away(world: App) -> None:
    with world.client("alice") as alice:
        api = ok(alice.get("/v1/access/dev/app"))
    page = sign_in(world, "alice").get("/ui/access", params={"unit": "dev/app"})
    assert page.status_code == 200, page.text
    found = Marked(page.text)
    reaching = [u["user"] for u in api["users"] if u["actions"]]
    assert reaching == ["alice", "bob"]
    for user in reaching:
        assert f'<tr data-user="{user}"' in page.text
    blocked = [(u["user"], b["action"]) for u in api["users"] for b in u["blocked"]]
    assert blocked == [("bob", "unit.lock")]
    assert '<tr data-user="bob" data-action="unit.lock">' in page.text
    assert "rule deny:unit.lock:dev/*" in found.text["reach-blocked"]
    assert "developer" in found.text["reach-blocked"]  # what it overrides


@pytest.mark.parametrize("query", [{"workflow": 1}, {"unit": "dev/app"}], ids=["workflow", "unit"])
def test_an_outsider_may_not_ask(world: App, query: dict[str, Any]) -> None:
    answer = sign_in(world, "dave").get("/ui/access", params=query)
    assert answer.status_code == 403
    assert "Not allowed" in answer.text
    assert "carol" not in answer.text


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({"workflow": 999}, 404),
        ({"unit": "no/such"}, 404),
        ({"workflow": "x"}, 400),
        ({"workflow": 2**40}, 400),
        ({"unit": "u" * 2000}, 400),
    ],
)
def test_missing_or_bad_targets(world: App, query: dict[str, Any], status: int) -> None:
    answer = sign_in(world, "alice").get("/ui/access", params=query)
    assert answer.status_code == status, answer.text


def test_a_hostile_workflow_name_is_shown_as_text(world: App) -> None:
    with world.client("bob") as bob:
        hostile = ok(bob.post(f"{TORC}/workflows", json={"name": HOSTILE}))["id"]
    page = sign_in(world, "bob").get("/ui/access", params={"workflow": hostile})
    assert page.status_code == 200
    assert HOSTILE not in page.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text
