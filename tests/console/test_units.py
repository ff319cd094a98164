"""The console's Units section, in process: what each viewer sees of a unit (versions and
their writers, the lock and its holder, shares), downloads, force-unlock and sharing, with
the same decisions as the API. One module server (access control on, alice an
administrator); each test makes units and groups of its own."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import httpx
import pytest

from tests.console.helpers import XSS, Viewer
from tests.inprocess import App


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def fresh(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def write_state(app: App, user: str, path: str, serial: int) -> bytes:
    """Write a state through the Terraform backend as `user`; returns its exact bytes."""
    body = json.dumps({"version": 4, "serial": serial, "lineage": "l", "resources": []}).encode()
    with app.client(user) as client:
        ok(client.post(f"/v1/backend/{path}", content=body))
    return body


def lock(app: App, user: str, path: str, **info: str) -> None:
    with app.client(user) as client:
        lock_body = {"ID": "lock-1", "Operation": "OperationTypeApply", **info}
        ok(client.request("LOCK", f"/v1/backend/{path}", json=lock_body))


def share(app: App, owner: str, path: str, members: dict[str, str], access: str) -> str:
    """A new group with `members` (user: role) that `owner` shares the unit with at `access`."""
    group = fresh("team")
    with app.client("alice") as admin:
        made = ok(admin.post("/torc-service/v1/access_groups", json={"name": group}))
        for user, role in members.items():
            ok(
                admin.post(
                    f"/torc-service/v1/access_groups/{made['id']}/members",
                    json={"user_name": user, "role": role},
                )
            )
    with app.client(owner) as client:
        ok(client.post(f"/v1/shares/{path}", json={"group": group, "access": access}))
    return group


def test_owner_sees_versions_with_writers_and_the_lock_holder(
    app: App, viewers: dict[str, Viewer]
) -> None:
    path = f"{fresh('app')}/prod"
    write_state(app, "bob", path, 1)
    write_state(app, "bob", path, 2)
    lock(app, "bob", path, Who="bob@laptop")
    listing = viewers["bob"].get("/ui/units", params={"prefix": path.split("/")[0]})
    assert listing.status_code == 200
    assert f'data-unit="{path}"' in listing.text
    assert "Locked</span> by bob" in listing.text
    page = viewers["bob"].get(f"/ui/units/{path}")
    assert page.status_code == 200, page.text
    assert 'data-version="2"' in page.text and 'data-version="1"' in page.text
    assert page.text.count('<td class="writer">bob') == 2
    assert '<strong id="lock-holder">bob</strong>' in page.text
    assert '<dd id="lock-who">bob@laptop</dd>' in page.text
    assert 'id="force-unlock"' in page.text  # the owner may
    assert 'id="share-unit"' in page.text


def test_download_returns_the_exact_state_and_earlier_versions(
    app: App, viewers: dict[str, Viewer]
) -> None:
    path = f"{fresh('dl')}/état"
    first = write_state(app, "bob", path, 1)
    second = write_state(app, "bob", path, 2)
    current = viewers["bob"].get(f"/ui/state/{path}")
    assert current.status_code == 200
    assert current.content == second
    assert current.headers["content-disposition"] == 'attachment; filename="_tat.tfstate"'
    earlier = viewers["bob"].get(f"/ui/state/{path}", params={"version": 1})
    assert earlier.content == first
    assert viewers["bob"].get(f"/ui/state/{path}", params={"version": 99}).status_code == 404
    empty = f"{fresh('dl')}/empty"
    with app.client("bob") as client:
        ok(client.post("/v1/units", json={"path": empty}), 201)
    assert "No state yet" in viewers["bob"].get(f"/ui/units/{empty}").text
    nothing = viewers["bob"].get(f"/ui/state/{empty}")
    assert nothing.status_code == 404
    assert "has no state yet" in nothing.text


def test_an_outsider_sees_no_unit_and_direct_urls_are_not_allowed(
    app: App, viewers: dict[str, Viewer]
) -> None:
    path = f"{fresh('secret')}/prod"
    write_state(app, "bob", path, 1)
    listing = viewers["dave"].get("/ui/units", params={"prefix": path.split("/")[0]})
    assert listing.status_code == 200
    assert path not in listing.text
    for url in (f"/ui/units/{path}", f"/ui/state/{path}", f"/ui/state/{path}?version=0"):
        refused = viewers["dave"].get(url)
        assert refused.status_code == 403, url
        assert "Not allowed" in refused.text
        assert "serial" not in refused.text
    forged = viewers["dave"].post(f"/ui/shares/{path}", {"group": "x", "access": "admin"})
    assert forged.status_code == 403


def test_read_member_sees_no_force_unlock_and_a_forged_one_is_refused(
    app: App, viewers: dict[str, Viewer]
) -> None:
    path = f"{fresh('shared')}/prod"
    write_state(app, "bob", path, 1)
    lock(app, "bob", path)
    share(app, "bob", path, {"carol": "member"}, "read")
    page = viewers["carol"].get(f"/ui/units/{path}")
    assert page.status_code == 200
    assert '<strong id="lock-holder">bob</strong>' in page.text
    assert 'id="force-unlock"' not in page.text
    assert 'id="share-unit"' not in page.text
    assert "Remove</button>" not in page.text
    forged = viewers["carol"].post(f"/ui/locks/{path}")
    assert forged.status_code == 403
    assert "Not allowed" in forged.text
    with app.client("bob") as client:
        assert ok(client.get(f"/v1/units/{path}"))["locked"] is True


def test_a_write_member_may_force_unlock(app: App, viewers: dict[str, Viewer]) -> None:
    path = f"{fresh('team')}/prod"
    write_state(app, "bob", path, 1)
    lock(app, "bob", path)
    share(app, "bob", path, {"carol": "member"}, "write")
    page = viewers["carol"].get(f"/ui/units/{path}")
    assert 'id="force-unlock"' in page.text
    done = viewers["carol"].post(f"/ui/locks/{path}")
    assert done.status_code == 303
    assert done.headers["location"].endswith("?done=unlocked")
    after = viewers["carol"].get(done.headers["location"])
    assert "The lock was removed." in after.text
    assert "Not locked." in after.text
    with app.client("bob") as client:
        assert ok(client.get(f"/v1/units/{path}"))["locked"] is False
    again = viewers["carol"].post(f"/ui/locks/{path}")
    assert again.status_code == 409


def test_owner_shares_and_unshares_through_the_forms(app: App, viewers: dict[str, Viewer]) -> None:
    path = f"{fresh('form')}/prod"
    write_state(app, "bob", path, 1)
    group = share(app, "bob", path, {"carol": "member"}, "read")
    other = fresh("team")
    with app.client("alice") as admin:
        ok(admin.post("/torc-service/v1/access_groups", json={"name": other}))
    done = viewers["bob"].post(f"/ui/shares/{path}", {"group": other, "access": "admin"})
    assert done.status_code == 303, done.text
    page = viewers["bob"].get(done.headers["location"])
    assert f'<tr data-group="{other}">' in page.text
    assert "<td>admin</td>" in page.text
    removed = viewers["bob"].post(f"/ui/unshare/{path}", {"group": group})
    assert removed.status_code == 303
    with app.client("bob") as client:
        groups = ok(client.get(f"/v1/units/{path}"))["groups"]
    assert groups == [other]
    bad = viewers["bob"].post(f"/ui/shares/{path}", {"group": other, "access": "owner"})
    assert bad.status_code == 400


def test_caller_controlled_text_is_escaped(app: App, viewers: dict[str, Viewer]) -> None:
    path = f"{fresh('x')}/{XSS}"
    write_state(app, "bob", path, 1)
    lock(app, "bob", path, Who=XSS, Info=XSS)
    listing = viewers["bob"].get("/ui/units")
    page = viewers["bob"].get(f"/ui/units/{path}")
    assert page.status_code == 200, page.text
    for answer in (listing, page):
        assert XSS not in answer.text
        assert "&lt;img src=x onerror=alert(1)&gt;" in answer.text
    assert "/%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E" in page.text  # segment-encoded links


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/ui/units/a/../b", 404),
        ("/ui/units/nothing-here/prod", 404),
        ("/ui/units/a/%20b", 400),
        ("/ui/state/nothing-here", 404),
        ("/ui/state/x?version=-1", 400),
        ("/ui/state/x?version=abc", 400),
        ("/ui/units?limit=abc", 400),
        ("/ui/units?after=not-a-cursor", 400),
        ("/ui/units?prefix=a/../b", 400),
        ("/ui/units?limit=0", 200),
    ],
)
def test_bad_addresses_give_error_pages(viewers: dict[str, Viewer], url: str, status: int) -> None:
    answer = viewers["bob"].get(url)
    assert answer.status_code == status, answer.text
    assert "text/html" in answer.headers["content-type"]


FORM_ERROR = re.compile(r'<p class="notice error" role="alert" id="form-error">(.*?)</p>', re.S)


def test_a_rejected_share_shows_the_unit_page_with_why_and_what_was_typed(
    app: App, viewers: dict[str, Viewer]
) -> None:
    path = f"{fresh('rejected')}/prod"
    write_state(app, "bob", path, 1)
    nobody = f"{fresh('nobody')} {XSS}"
    unknown = viewers["bob"].post(f"/ui/shares/{path}", {"group": nobody, "access": "read"})
    assert unknown.status_code == 404, unknown.text
    error = FORM_ERROR.search(unknown.text)
    assert error and "&lt;img" in error[1]
    assert '<table id="versions">' in unknown.text and 'id="share-unit"' in unknown.text
    typed = nobody.replace("<", "&lt;").replace(">", "&gt;")
    assert f'name="group" required maxlength="255" value="{typed}"' in unknown.text
    assert XSS not in unknown.text
    assert '<option value="read" selected>' in unknown.text
    not_shared = viewers["bob"].post(f"/ui/unshare/{path}", {"group": fresh("nobody")})
    assert not_shared.status_code == 404 and FORM_ERROR.search(not_shared.text)
    assert 'name="group" required maxlength="255" value=""' in not_shared.text  # not kept
    not_locked = viewers["bob"].post(f"/ui/locks/{path}")
    assert not_locked.status_code == 409
    error = FORM_ERROR.search(not_locked.text)
    assert error and "not locked" in error[1] and 'id="unit-facts"' in not_locked.text
    with app.client("bob") as client:
        assert ok(client.get(f"/v1/units/{path}"))["groups"] == []


def test_a_forged_share_with_an_unknown_group_is_still_refused(
    app: App, viewers: dict[str, Viewer]
) -> None:
    path = f"{fresh('forged')}/prod"
    write_state(app, "bob", path, 1)
    share(app, "bob", path, {"carol": "member"}, "read")
    for user in ("carol", "dave"):  # a reader, an outsider
        forged = viewers[user].post(f"/ui/shares/{path}", {"group": fresh("nobody")})
        assert forged.status_code == 403, user
        assert "Not allowed" in forged.text and 'id="form-error"' not in forged.text
