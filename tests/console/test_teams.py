"""The console's Teams section, in process: groups as the API lists them, a group's members
and what is shared with it, and the membership, sharing and group forms, shown only to those
`decide()` allows and refused to anyone else. One module server (access control on, alice an
administrator); each test makes groups and workflows of its own."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from tests.console.helpers import ESCAPED, XSS, Viewer
from tests.inprocess import App

V1 = "/torc-service/v1"


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def fresh(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def make_group(app: App, members: dict[str, str], name: str | None = None) -> tuple[int, str]:
    """A new group (made by alice) with `members` (user: role): its id and name."""
    name = name or fresh("team")
    with app.client("alice") as admin:
        group_id = int(ok(admin.post(f"{V1}/access_groups", json={"name": name}))["id"])
        for user, role in members.items():
            member = {"user_name": user, "role": role}
            ok(admin.post(f"{V1}/access_groups/{group_id}/members", json=member))
    return group_id, name


def make_workflow(app: App, owner: str, name: str | None = None) -> int:
    with app.client(owner) as client:
        return int(ok(client.post(f"{V1}/workflows", json={"name": name or fresh("wf")}))["id"])


def share_workflow(app: App, owner: str, workflow_id: int, group_id: int, access: str) -> None:
    with app.client(owner) as client:
        body = {"group_id": group_id, "access": access}
        ok(client.post(f"{V1}/workflows/{workflow_id}/access_groups", json=body))


def members_of(app: App, group_id: int) -> dict[str, str]:
    with app.client("alice") as admin:
        items = ok(admin.get(f"{V1}/access_groups/{group_id}/members"))["items"]
    return {m["user_name"]: m["role"] for m in items}


def test_the_list_shows_a_viewers_own_groups_and_all_to_administrators(
    app: App, viewers: dict[str, Viewer]
) -> None:
    mine, mine_name = make_group(app, {"bob": "member"})
    _other, other_name = make_group(app, {"carol": "member"})
    bob = viewers["bob"].get("/ui/teams", params={"limit": 500})
    assert bob.status_code == 200
    assert f'href="/ui/teams/{mine}"' in bob.text and mine_name in bob.text
    assert other_name not in bob.text
    assert 'id="create-team"' not in bob.text
    alice = viewers["alice"].get("/ui/teams", params={"limit": 500})
    assert mine_name in alice.text and other_name in alice.text
    assert 'id="create-team"' in alice.text


def test_group_admin_adds_a_member_who_then_sees_the_shared_workflow(
    app: App, viewers: dict[str, Viewer]
) -> None:
    group_id, _name = make_group(app, {"carol": "admin"})
    workflow_name = fresh("shared-flow")
    workflow_id = make_workflow(app, "bob", workflow_name)
    share_workflow(app, "bob", workflow_id, group_id, "read")
    assert viewers["dave"].get(f"/ui/teams/{group_id}").status_code == 403
    page = viewers["carol"].get(f"/ui/teams/{group_id}")
    assert 'id="add-member"' in page.text
    assert f'<tr data-workflow="{workflow_id}">' in page.text
    added = viewers["carol"].post(
        f"/ui/teams/{group_id}/members", {"user": "dave", "role": "member"}
    )
    assert added.status_code == 303
    assert added.headers["location"] == f"/ui/teams/{group_id}?done=member-added"
    assert members_of(app, group_id) == {"carol": "admin", "dave": "member"}
    seen = viewers["dave"].get(f"/ui/teams/{group_id}")
    assert seen.status_code == 200
    assert f'<tr data-workflow="{workflow_id}">' in seen.text
    assert re.search(rf'<tr data-workflow="{workflow_id}">.*?<td>read</td>', seen.text, re.S)
    assert workflow_name in viewers["dave"].get("/ui/workflows", params={"limit": 500}).text
    removed = viewers["carol"].post(f"/ui/teams/{group_id}/members/remove", {"user": "dave"})
    assert removed.status_code == 303
    assert viewers["dave"].get(f"/ui/teams/{group_id}").status_code == 403


def test_a_plain_member_sees_no_member_controls_and_forged_changes_are_refused(
    app: App, viewers: dict[str, Viewer]
) -> None:
    group_id, _name = make_group(app, {"carol": "admin", "bob": "member"})
    page = viewers["bob"].get(f"/ui/teams/{group_id}")
    assert page.status_code == 200
    assert '<tr data-member="carol">' in page.text
    assert 'id="add-member"' not in page.text
    assert "/members/remove" not in page.text
    assert 'id="delete-team"' not in page.text
    for url, form in (
        (f"/ui/teams/{group_id}/members", {"user": "dave", "role": "admin"}),
        (f"/ui/teams/{group_id}/members/remove", {"user": "carol"}),
        (f"/ui/teams/{group_id}/delete", {}),
        ("/ui/teams", {"name": fresh("mine")}),
    ):
        refused = viewers["bob"].post(url, form)
        assert refused.status_code == 403, url
        assert "Not allowed" in refused.text
    assert members_of(app, group_id) == {"carol": "admin", "bob": "member"}


def test_sharing_from_the_team_page(app: App, viewers: dict[str, Viewer]) -> None:
    group_id, _name = make_group(app, {"bob": "member", "carol": "member"})
    workflow_id = make_workflow(app, "bob")
    shared = viewers["bob"].post(
        f"/ui/teams/{group_id}/workflows", {"workflow_id": workflow_id, "access": "write"}
    )
    assert shared.status_code == 303
    page = viewers["carol"].get(f"/ui/teams/{group_id}")
    row = re.search(rf'<tr data-workflow="{workflow_id}">.*?</tr>', page.text, re.S)
    assert row and "<td>write</td>" in row[0]
    assert "Remove share" not in row[0]  # carol neither owns it nor administers the group
    others = make_workflow(app, "dave")
    forged = viewers["carol"].post(f"/ui/teams/{group_id}/workflows", {"workflow_id": others})
    assert forged.status_code == 403
    forged = viewers["carol"].post(
        f"/ui/teams/{group_id}/workflows/remove", {"workflow_id": workflow_id}
    )
    assert forged.status_code == 403
    owner = viewers["bob"].get(f"/ui/teams/{group_id}")
    row = re.search(rf'<tr data-workflow="{workflow_id}">.*?</tr>', owner.text, re.S)
    assert row and "Remove share" in row[0]
    removed = viewers["bob"].post(
        f"/ui/teams/{group_id}/workflows/remove", {"workflow_id": workflow_id}
    )
    assert removed.status_code == 303
    after = viewers["bob"].get(removed.headers["location"])
    assert "The share was removed." in after.text
    assert f'<tr data-workflow="{workflow_id}">' not in after.text


def test_units_shared_with_the_group_are_listed_and_can_be_unshared(
    app: App, viewers: dict[str, Viewer]
) -> None:
    group_id, name = make_group(app, {"carol": "admin", "dave": "member"})
    path = f"{fresh('team')}/prod"
    with app.client("bob") as bob:
        assert bob.post("/v1/units", json={"path": path}).status_code == 201
        ok(bob.post(f"/v1/shares/{path}", json={"group": name, "access": "read"}))
    member = viewers["dave"].get(f"/ui/teams/{group_id}")
    row = re.search(rf'<tr data-unit="{path}">.*?</tr>', member.text, re.S)
    assert row and "<td>read</td>" in row[0] and "Remove share" not in row[0]
    admin = viewers["carol"].get(f"/ui/teams/{group_id}")
    row = re.search(rf'<tr data-unit="{path}">.*?</tr>', admin.text, re.S)
    assert row and "Remove share" in row[0]  # a group's admins may take a share away
    removed = viewers["carol"].post(f"/ui/teams/{group_id}/units/remove", {"path": path})
    assert removed.status_code == 303
    with app.client("bob") as bob:
        assert ok(bob.get(f"/v1/units/{path}"))["groups"] == []


def test_administrator_creates_and_deletes_a_group(app: App, viewers: dict[str, Viewer]) -> None:
    name = fresh("made-here")
    made = viewers["alice"].post("/ui/teams", {"name": name, "description": "by form"})
    assert made.status_code == 303
    page = viewers["alice"].get(made.headers["location"])
    assert "The group was created." in page.text and name in page.text
    group_id = int(made.headers["location"].split("/")[-1].split("?")[0])
    by_name = viewers["alice"].get(f"/ui/teams/{name}")
    assert by_name.status_code == 200 and f"<dd>{group_id}</dd>" in by_name.text
    assert 'id="delete-team"' in page.text
    gone = viewers["alice"].post(f"/ui/teams/{group_id}/delete")
    assert gone.status_code == 303 and gone.headers["location"] == "/ui/teams?done=deleted"
    assert viewers["alice"].get(f"/ui/teams/{group_id}").status_code == 404
    duplicate = viewers["alice"].post("/ui/teams", {"name": "  padded"})
    assert duplicate.status_code == 400


def test_names_are_shown_escaped(app: App, viewers: dict[str, Viewer]) -> None:
    group_id, _name = make_group(app, {"carol": "admin", XSS: "member"}, name=f"{XSS} {fresh('g')}")
    workflow_id = make_workflow(app, "carol", XSS)
    share_workflow(app, "carol", workflow_id, group_id, "read")
    listing = viewers["carol"].get("/ui/teams", params={"limit": 500})
    page = viewers["carol"].get(f"/ui/teams/{group_id}")
    assert page.status_code == 200
    for answer in (listing, page):
        assert XSS not in answer.text
        assert ESCAPED in answer.text
    assert page.text.count(ESCAPED) >= 4  # group name (title, heading), member, workflow


@pytest.mark.parametrize(
    ("method", "url", "form", "status"),
    [
        ("GET", "/ui/teams/0", None, 400),
        ("GET", "/ui/teams/999999999", None, 404),
        ("GET", "/ui/teams/99999999999999999999999999", None, 400),
        ("GET", "/ui/teams/no-such-group-name", None, 404),
        ("GET", "/ui/teams?offset=-1", None, 400),
        ("GET", "/ui/teams?limit=x", None, 400),
        ("POST", "/ui/teams/abc/members", {"user": "dave"}, 400),
        ("POST", "/ui/teams/999999999/members", {"user": "dave"}, 404),
        ("POST", "/ui/teams/1/members", {"user": "dave", "role": "owner"}, 400),
        ("POST", "/ui/teams/1/members", {"user": ""}, 400),
        ("POST", "/ui/teams/1/workflows", {"workflow_id": "abc"}, 400),
        ("POST", "/ui/teams/1/workflows", {"workflow_id": "999999999"}, 404),
        ("POST", "/ui/teams/1/units/remove", {"path": "a/../b"}, 400),
        ("POST", "/ui/teams", {"name": "x" * 300}, 400),
    ],
)
def test_bad_input_gives_error_pages(
    viewers: dict[str, Viewer], method: str, url: str, form: dict[str, str] | None, status: int
) -> None:
    alice = viewers["alice"]
    answer = alice.get(url) if method == "GET" else alice.post(url, form)
    assert answer.status_code == status, answer.text
    assert "text/html" in answer.headers["content-type"]


def test_error_pages_lead_back_and_say_what_to_do(viewers: dict[str, Viewer]) -> None:
    alice = viewers["alice"]
    missing = alice.get("/ui/teams/999999999")
    assert '<a id="back-link" href="/ui/teams">Back to teams</a>' in missing.text
    assert 'id="error-hint"' in missing.text
    came_from = str(alice.client.base_url.join("/ui/teams/1?done=shared"))
    refused = alice.post(  # a form the page cannot have sent: an error page, not the page
        "/ui/teams/1/workflows", {"workflow_id": "abc"}, headers={"referer": came_from}
    )
    assert refused.status_code == 400
    assert 'href="/ui/teams/1?done=shared">Back to the page you came from' in refused.text
    elsewhere = alice.post(
        "/ui/teams/1/workflows",
        {"workflow_id": "abc"},
        headers={"referer": "https://evil.example/ui/teams/1"},
    )
    assert (
        "evil.example" not in elsewhere.text and 'href="/ui/teams">Back to teams' in elsewhere.text
    )
    refused_section = viewers["bob"].get("/ui/rbac")
    assert refused_section.status_code == 403  # not a link back into the refused section
    assert '<a id="back-link" href="/ui/workflows">Back to workflows</a>' in refused_section.text


FORM_ERROR = re.compile(r'<p class="notice error" role="alert" id="form-error">(.*?)</p>', re.S)


def test_a_taken_group_name_shows_the_list_again_with_why_and_what_was_typed(
    app: App, viewers: dict[str, Viewer]
) -> None:
    _group_id, name = make_group(app, {})
    again = viewers["alice"].post("/ui/teams", {"name": name, "description": f"again {XSS}"})
    assert again.status_code == 409, again.text
    error = FORM_ERROR.search(again.text)
    assert error and name in error[1]
    assert '<table id="teams">' in again.text  # the teams page, not an error page
    assert f'name="name" required maxlength="255" value="{name}"' in again.text
    assert f'value="again {ESCAPED}"' in again.text and XSS not in again.text
    padded = viewers["alice"].post("/ui/teams", {"name": " padded"})
    assert padded.status_code == 400 and FORM_ERROR.search(padded.text)
    assert 'value=" padded"' in padded.text


@pytest.mark.parametrize(
    ("form", "says"),
    [
        ({"user": "da:ve", "role": "admin"}, "invalid user name"),
        ({"user": " dave", "role": "member"}, "invalid user name"),
        ({"user": "dave", "role": "owner"}, "unknown role"),
    ],
)
def test_a_rejected_member_shows_the_team_page_with_why(
    app: App, viewers: dict[str, Viewer], form: dict[str, str], says: str
) -> None:
    group_id, _name = make_group(app, {"carol": "admin"})
    again = viewers["carol"].post(f"/ui/teams/{group_id}/members", form)
    assert again.status_code == 400, again.text
    error = FORM_ERROR.search(again.text)
    assert error and says in error[1]
    assert '<table id="members">' in again.text and 'id="add-member"' in again.text
    assert f'spellcheck="false" value="{form["user"]}"' in again.text
    chosen = form["role"] if form["role"] in ("member", "admin") else "member"
    assert f'<option value="{chosen}" selected>' in again.text
    assert members_of(app, group_id) == {"carol": "admin"}


def test_an_unknown_workflow_or_share_shows_the_team_page_with_why(
    app: App, viewers: dict[str, Viewer]
) -> None:
    group_id, _name = make_group(app, {"bob": "member"})
    unknown = viewers["bob"].post(
        f"/ui/teams/{group_id}/workflows", {"workflow_id": "999999999", "access": "admin"}
    )
    assert unknown.status_code == 404, unknown.text
    assert FORM_ERROR.search(unknown.text) and '<table id="shared-workflows">' in unknown.text
    assert 'maxlength="19" value="999999999"' in unknown.text
    assert '<option value="admin" selected>' in unknown.text
    not_shared = viewers["alice"].post(f"/ui/teams/{group_id}/units/remove", {"path": "no/such"})
    assert not_shared.status_code == 404, not_shared.text
    assert FORM_ERROR.search(not_shared.text) and '<table id="shared-units">' in not_shared.text


def test_forged_changes_with_bad_input_are_still_refused(
    app: App, viewers: dict[str, Viewer]
) -> None:
    group_id, name = make_group(app, {"carol": "admin", "bob": "member"})
    for url, form in (
        (f"/ui/teams/{group_id}/members", {"user": "carol", "role": "admin"}),
        (f"/ui/teams/{group_id}/members/remove", {"user": "nobody"}),
        ("/ui/teams", {"name": name}),  # a taken name: refused before it is looked at
    ):
        refused = viewers["bob"].post(url, form)
        assert refused.status_code == 403, url
        assert "Not allowed" in refused.text and 'id="form-error"' not in refused.text
    outsider = viewers["dave"].post(f"/ui/teams/{group_id}/members", {"user": "da:ve"})
    assert outsider.status_code == 403  # the page is not shown to who may not read it
    assert "da:ve" not in outsider.text and 'id="form-error"' not in outsider.text
    with app.client("alice") as admin:
        params = {"user": "dave", "decision": "denied", "resource": f"group/{group_id}"}
        refusals = ok(admin.get("/v1/audit", params=params))["items"]
    assert any(r["resource"] == f"group/{group_id}" for r in refusals), "audited"
