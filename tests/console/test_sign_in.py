"""Console sign-in, sessions, CSRF and headers, in process."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import App, execute_sql
from tests.console.helpers import csrf_of, sign_in


def test_pages_ask_for_sign_in_and_come_back_after(secured_app: App) -> None:
    client = secured_app.client()
    page = client.get("/ui/workflows?name=x")
    assert page.status_code == 303
    assert page.headers["location"] == "/ui/sign-in?next=/ui/workflows"
    viewer = sign_in(secured_app, "bob")
    assert "Signed in as <strong>bob</strong>" in viewer.get("/ui/workflows").text


def test_wrong_password_is_refused_and_audited(secured_app: App) -> None:
    client = secured_app.client()
    form = client.get("/ui/sign-in")
    answer = client.post(
        "/ui/sign-in", data={"csrf": csrf_of(form), "user": "bob", "password": "nope"}
    )
    assert answer.status_code == 401
    assert "Wrong user name or password." in answer.text
    assert "teamgate_session" not in answer.headers.get("set-cookie", "")
    with secured_app.client("alice") as admin:
        events = admin.get("/v1/audit", params={"decision": "failed-login"}).json()
    assert any(e["user"] == "bob" and e["resource"] == "/ui/sign-in" for e in events["items"])


def test_session_cookie_is_httponly_lax_and_sign_out_ends_it(secured_app: App) -> None:
    viewer = sign_in(secured_app, "bob")
    cookie = next(c for c in viewer.client.cookies.jar if c.name == "teamgate_session")
    assert cookie.has_nonstandard_attr("HttpOnly")
    secret = cookie.value
    out = viewer.post("/ui/sign-out")
    assert out.status_code == 303
    # the session's token is revoked: replaying the old cookie signs nobody in
    replay = secured_app.client()
    replay.cookies.set("teamgate_session", secret)
    assert replay.get("/ui/workflows").status_code == 303


@pytest.mark.parametrize(
    "headers",
    [{"origin": "http://evil.example"}, {"sec-fetch-site": "cross-site"}],
)
def test_changes_from_another_origin_are_refused(secured_app: App, headers: dict[str, str]) -> None:
    viewer = sign_in(secured_app, "bob")
    answer = viewer.post("/ui/sign-out", headers=headers)
    assert answer.status_code == 403
    assert viewer.get("/ui/workflows").status_code == 200  # still signed in


def test_changes_without_the_csrf_token_are_refused(secured_app: App) -> None:
    viewer = sign_in(secured_app, "bob")
    assert viewer.client.post("/ui/sign-out", data={}).status_code == 403
    assert viewer.client.post("/ui/sign-out", data={"csrf": "0" * 64}).status_code == 403
    assert viewer.get("/ui/workflows").status_code == 200


def test_pages_carry_the_security_headers(secured_app: App) -> None:
    page = secured_app.client().get("/ui/sign-in")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "same-origin"
    assert page.headers["cache-control"] == "no-store"
    assert "<script>" not in page.text and " on" not in page.text.replace(" one", "")


def test_no_ui_turns_the_console_off(app_factory) -> None:  # type: ignore[no-untyped-def]
    app = app_factory(ui=False)
    assert app.client().get("/ui/sign-in").status_code == 404


def test_next_cannot_leave_the_console(secured_app: App) -> None:
    client = secured_app.client()
    form = client.get("/ui/sign-in?next=//evil.example/x")
    assert "evil" not in form.text
    signed = client.post(
        "/ui/sign-in",
        data={
            "csrf": csrf_of(form),
            "user": "bob",
            "password": "bob_password",
            "next": "https://evil.example",
        },
    )
    assert signed.headers["location"] == "/ui/workflows"


def _session_id(viewer_app: App, user: str) -> int:
    with viewer_app.client(user) as api:
        tokens = api.get("/v1/auth/tokens").json()
    items = tokens.get("items", tokens.get("tokens", []))
    return max(t["id"] for t in items if t.get("name") == "console session")


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("last_used_at", "2001-01-01T00:00:00.000Z"),  # idle longer than the idle timeout
        ("expires_at", "2001-01-01T00:00:00.000Z"),  # past the absolute timeout
    ],
)
def test_idle_and_old_sessions_end(secured_app: App, column: str, value: str) -> None:
    viewer = sign_in(secured_app, "bob")
    token_id = _session_id(secured_app, "bob")
    execute_sql(
        secured_app,
        f"UPDATE api_token SET {column} = :value WHERE id = :id",
        value=value,
        id=token_id,
    )
    page = viewer.get("/ui/workflows")
    assert page.status_code == 303 and page.headers["location"].startswith("/ui/sign-in")


def test_a_recent_session_is_not_idle(secured_app: App) -> None:
    viewer = sign_in(secured_app, "bob")
    recent = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
    execute_sql(
        secured_app,
        "UPDATE api_token SET last_used_at = :value WHERE id = :id",
        value=recent,
        id=_session_id(secured_app, "bob"),
    )
    assert viewer.get("/ui/workflows").status_code == 200  # 10 min < the 30 min default


def test_the_login_throttle_applies_to_the_form(app_factory) -> None:  # type: ignore[no-untyped-def]
    app = app_factory(require_auth=True, login_throttle_user_failures=2)
    client = app.client()
    csrf = csrf_of(client.get("/ui/sign-in"))
    answers = [
        client.post("/ui/sign-in", data={"csrf": csrf, "user": "bob", "password": "wrong"})
        for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [401, 401, 429]
    assert "retry-after" in answers[2].headers
    # the right password is refused too while the user name is locked out
    right = client.post(
        "/ui/sign-in", data={"csrf": csrf, "user": "bob", "password": "bob_password"}
    )
    assert right.status_code == 429


def test_sessions_are_listed_with_the_users_tokens_and_audited(secured_app: App) -> None:
    viewer = sign_in(secured_app, "bob")
    token_id = _session_id(secured_app, "bob")
    viewer.post("/ui/sign-out")
    with secured_app.client("alice") as admin:
        events = admin.get("/v1/audit", params={"resource": f"token/{token_id}"}).json()["items"]
    assert {e["action"] for e in events} == {"session.start", "session.end"}


def test_a_scoped_token_in_the_cookie_opens_no_console(secured_app: App) -> None:
    with secured_app.client("bob") as api:
        made = api.post("/v1/auth/token", json={"read_only": True}).json()
    client = secured_app.client()
    client.cookies.set("teamgate_session", made["token"])
    page = client.get("/ui/workflows")
    assert page.status_code == 303 and page.headers["location"].startswith("/ui/sign-in")


def test_over_tls_the_cookie_is_secure_and_host_only(secured_app: App) -> None:
    client = secured_app.client(base_url="https://teamgate.test")
    form = client.get("/ui/sign-in")
    signed = client.post(
        "/ui/sign-in", data={"csrf": csrf_of(form), "user": "bob", "password": "bob_password"}
    )
    cookie = signed.headers["set-cookie"]
    assert cookie.startswith("__Host-teamgate_session=")
    for attribute in ("Secure", "HttpOnly", "Path=/", "SameSite=lax"):
        assert attribute.lower() in cookie.lower(), attribute
    assert "domain=" not in cookie.lower()
    assert client.get("/ui/workflows").status_code == 200
