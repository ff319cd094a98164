"""Console Audit section, in process: the same events as GET /v1/audit, for system
administrators only; filters and paging as the API's; user-controlled details as text."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.conftest import App
from tests.console.helpers import sign_in

HOSTILE = "<img src=x onerror=alert(1)>"
EVENT = re.compile(r'<tr data-event="(\d+)" data-decision="([a-z-]+)">')


def ok(response: httpx.Response) -> Any:
    assert response.is_success, (response.request.url, response.status_code, response.text)
    return response.json() if response.content else None


def events(page: httpx.Response) -> list[int]:
    return [int(found[0]) for found in EVENT.findall(page.text)]


@pytest.fixture
def logged(secured_app: App) -> App:
    """Allowed changes by alice, refusals of bob and carol, a failed sign-in."""
    with secured_app.client("alice") as alice:
        ok(alice.post("/v1/rbac/init"))
        ok(alice.post("/v1/rbac/roles", json={"id": "viewer"}))
        ok(alice.post("/v1/rbac/users/assign", json={"email": HOSTILE, "role_id": "viewer"}))
    for user in ("bob", "carol"):
        with secured_app.client(user) as client:
            assert client.get("/v1/rbac/roles").status_code == 403
    with secured_app.client() as anyone:
        wrong = anyone.get("/v1/rbac/me", auth=(HOSTILE, "nope"))
        assert wrong.status_code == 401
    return secured_app


def api_events(app: App, **params: Any) -> dict[str, Any]:
    with app.client("alice") as alice:
        found: dict[str, Any] = ok(alice.get("/v1/audit", params=params))
    return found


def test_the_page_lists_what_the_api_lists_newest_first(logged: App) -> None:
    page = sign_in(logged, "alice").get("/ui/audit")
    assert page.status_code == 200, page.text
    shown = events(page)
    assert shown == [e["id"] for e in api_events(logged)["items"]]
    assert shown == sorted(shown, reverse=True)
    assert "rbac.role.create" in page.text and "<time datetime=" in page.text


@pytest.mark.parametrize(
    "params",
    [
        {"user": "bob"},
        {"decision": "denied"},
        {"action": "rbac.user"},
        {"resource": "rbac/role"},
        {"user": "carol", "decision": "denied"},
        {"since": "2000-01-01", "until": "2999-01-01T00:00:00Z"},
    ],
)
def test_filters_are_the_apis(logged: App, params: dict[str, str]) -> None:
    page = sign_in(logged, "alice").get("/ui/audit", params=params)
    assert page.status_code == 200, page.text
    expected = [e["id"] for e in api_events(logged, **params)["items"]]
    assert events(page) == expected
    assert expected, "the filter matches something"
    for name, value in params.items():  # the form keeps the question
        kept = f'<option value="{value}" selected>' if name == "decision" else f'value="{value}"'
        assert kept in page.text


def test_a_users_events_only(logged: App) -> None:
    page = sign_in(logged, "alice").get("/ui/audit", params={"user": "bob"})
    rows = re.findall(r"<tr data-event=.*?</tr>", page.text, flags=re.S)
    assert rows
    assert all("<td>bob</td>" in row for row in rows)


def test_older_pages_follow_the_cursor(logged: App) -> None:
    alice = sign_in(logged, "alice")
    seen: list[int] = []
    address: str | None = "/ui/audit?decision=denied&limit=1"
    while address is not None:
        page = alice.get(address)
        assert page.status_code == 200
        seen += events(page)
        older = re.search(r'id="older" rel="next" href="([^"]+)"', page.text)
        address = older[1].replace("&amp;", "&") if older else None
        assert len(seen) < 50
    assert seen == [e["id"] for e in api_events(logged, decision="denied")["items"]]
    assert len(seen) == 2  # bob's and carol's refusals, one a page


def test_user_controlled_details_are_text(logged: App) -> None:
    page = sign_in(logged, "alice").get("/ui/audit")
    assert HOSTILE not in page.text
    escaped = "&lt;img src=x onerror=alert(1)&gt;"
    assert page.text.count(escaped) >= 2  # the failed sign-in's user, the assignment's resource


def test_bob_is_refused(logged: App) -> None:
    bob = sign_in(logged, "bob")
    assert 'href="/ui/audit"' not in bob.get("/ui/workflows").text
    page = bob.get("/ui/audit")
    assert page.status_code == 403
    assert "Not allowed" in page.text
    assert "rbac.role.create" not in page.text


@pytest.mark.parametrize(
    "params",
    [
        {"since": "yesterday"},
        {"until": "2024-13-45"},
        {"since": "2024-05-02", "until": "2024-05-01"},
        {"decision": "maybe"},
        {"after": "-1"},
        {"after": "x"},
        {"after": str(2**70)},
        {"limit": "lots"},
        {"user": "u" * 300},
        {"resource": "r" * 5000},
        {"since": "2" * 100},
    ],
)
def test_bad_filters_give_a_400_page(logged: App, params: dict[str, str]) -> None:
    page = sign_in(logged, "alice").get("/ui/audit", params=params)
    assert page.status_code == 400, page.text
    assert "Not understood" in page.text


@pytest.mark.parametrize("limit", ["0", "-5", "100000"])
def test_out_of_range_page_sizes_are_clamped(logged: App, limit: str) -> None:
    page = sign_in(logged, "alice").get("/ui/audit", params={"limit": limit})
    assert page.status_code == 200
    assert events(page)
