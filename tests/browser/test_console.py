"""The console in chromium against a real server: signing in and out, hostile names shown as
text, forged requests from other origins, and what an outsider sees."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Seen, api, create_workflow, sign_in
from tests.conftest import Server

HOSTILE = "<img src=x onerror=alert(1)>"


def test_sign_in_and_sign_out(page: Page, secured_server: Server) -> None:
    page.goto(f"{secured_server.base_url}/ui/workflows")
    expect(page).to_have_url(f"{secured_server.base_url}/ui/sign-in?next=/ui/workflows")
    sign_in(page, secured_server, "bob", "not-bobs-password")
    expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")
    expect(page.get_by_text("Signed in as")).to_have_count(0)
    sign_in(page, secured_server, "bob")
    expect(page).to_have_url(f"{secured_server.base_url}/ui/workflows")
    expect(page.get_by_role("heading", name="Workflows")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You have signed out.")).to_be_visible()
    page.goto(f"{secured_server.base_url}/ui/workflows")  # the session is over
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()


def test_a_hostile_workflow_name_is_text(
    page: Page, seen: Seen, secured_server: Server, tmp_path: Path
) -> None:
    spec = {"name": HOSTILE, "description": HOSTILE, "jobs": [{"name": HOSTILE, "command": "true"}]}
    wf = create_workflow(secured_server, "bob", spec, tmp_path)
    sign_in(page, secured_server, "bob")
    link = page.get_by_role("link", name=HOSTILE)
    expect(link).to_be_visible()
    assert page.locator("img").count() == 0
    link.click()
    expect(page).to_have_url(f"{secured_server.base_url}/ui/workflows/{wf}")
    expect(page.get_by_text(HOSTILE).first).to_be_visible()
    assert page.locator("main img").count() == 0
    assert seen.dialogs == []
    assert [e for e in seen.errors if "Content Security Policy" in e] == []


class _Attacker(BaseHTTPRequestHandler):
    """Another origin's page: a form that posts itself to the console when loaded."""

    target = ""

    def do_GET(self) -> None:
        body = (
            "<!doctype html><title>win a prize</title>"
            f'<form method="post" action="{self.target}">'
            '<input type="hidden" name="csrf" value="guessed"></form>'
            "<script>document.forms[0].submit()</script>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def attacker() -> Iterator[tuple[int, type[_Attacker]]]:
    handler = type("Attacker", (_Attacker,), {})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1], handler
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"], ids=["same-site", "cross-site"])
def test_a_forged_post_from_another_origin_changes_nothing(
    page: Page,
    secured_server: Server,
    attacker: tuple[int, type[_Attacker]],
    host: str,
) -> None:
    """Another port of the same host is another origin but the same site (the session cookie
    goes along: the origin check stops it); another host name is another site too."""
    port, handler = attacker
    handler.target = f"{secured_server.base_url}/ui/sign-out"
    sign_in(page, secured_server, "bob")
    page.goto(f"http://{host}:{port}/")
    expect(page).to_have_url(handler.target)  # the form was sent...
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()  # ...and refused
    page.goto(f"{secured_server.base_url}/ui/workflows")
    expect(page.get_by_text("Signed in as bob")).to_be_visible()  # still signed in


def test_an_outsider_sees_none_of_another_teams_work(
    page: Page, secured_server: Server, tmp_path: Path
) -> None:
    wf = create_workflow(secured_server, "bob", {"name": "bobs-secret-run", "jobs": []}, tmp_path)
    with api(secured_server, "bob") as bob:
        made = bob.post("/v1/units", json={"path": "bob-team/secret-state"})
        assert made.status_code == 201, made.text
    sign_in(page, secured_server, "dave")
    expect(page.get_by_text("No workflows to show")).to_be_visible()
    expect(page.get_by_text("bobs-secret-run")).to_have_count(0)
    page.goto(f"{secured_server.base_url}/ui/units")
    expect(page.get_by_role("heading", name="Units")).to_be_visible()
    expect(page.get_by_text("secret-state")).to_have_count(0)
    for path in (f"/ui/workflows/{wf}", "/ui/units/bob-team/secret-state"):
        page.goto(f"{secured_server.base_url}{path}")
        expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
        expect(page.get_by_text("bobs-secret-run")).to_have_count(0)
    # bob, the owner, sees both
    page.context.clear_cookies()
    sign_in(page, secured_server, "bob")
    expect(page.get_by_role("link", name="bobs-secret-run")).to_be_visible()
    page.goto(f"{secured_server.base_url}/ui/units")
    expect(page.get_by_text("bob-team/secret-state").first).to_be_visible()
