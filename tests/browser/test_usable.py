"""The console as people use it: without JavaScript, on a phone-sized screen, by keyboard with
labelled controls, and with times in the viewer's own zone; and no page breaks its CSP."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import TIMEOUT_MS, Seen, api, create_workflow, sign_in
from tests.conftest import Server

V1 = "/torc-service/v1"
SPEC = {
    "name": "usable",
    "description": "a workflow with a rather long description " * 4,
    "jobs": [
        {"name": "prepare_the_training_data_set", "command": "echo one && echo two"},
        {"name": "train", "command": "true", "depends_on": ["prepare_the_training_data_set"]},
    ],
}
PAGES = ["/ui/workflows", "/ui/workflows/{wf}", "/ui/workflows/{wf}/graph", "/ui/units",
         "/ui/teams", "/ui/access", "/ui/access/test?action=workflow.read&resource=bob/usable",
         "/ui/rbac", "/ui/audit"]  # fmt: skip

UNLABELLED = """() => [...document.querySelectorAll(
    'input:not([type=hidden]), select, textarea, button')].filter(el => {
  if (el.tagName === 'BUTTON') return !el.textContent.trim() && !el.getAttribute('aria-label');
  return el.labels.length === 0 && !el.getAttribute('aria-label');
}).map(el => el.outerHTML)"""


@pytest.fixture
def workflow(secured_server: Server, tmp_path: Path) -> int:
    return create_workflow(secured_server, "alice", SPEC, tmp_path)


def new_page(browser: Browser, seen: Seen, **options: object) -> Page:
    context = browser.new_context(**options)  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    opened.on("console", lambda m: seen.errors.append(m.text) if m.type == "error" else None)
    return opened


def test_every_control_is_labelled_and_no_page_breaks_its_csp(
    page: Page, seen: Seen, secured_server: Server, workflow: int
) -> None:
    sign_in(page, secured_server, "alice")
    for address in PAGES:
        page.goto(secured_server.base_url + address.format(wf=workflow))
        expect(page.locator("main h1").first).to_be_visible()
        assert page.evaluate(UNLABELLED) == [], address
    assert seen.errors == []  # a CSP violation is reported as a console error


def test_sign_in_and_cancel_by_keyboard(
    page: Page, seen: Seen, secured_server: Server, workflow: int
) -> None:
    page.goto(f"{secured_server.base_url}/ui/sign-in")
    page.get_by_label("User name").focus()
    page.keyboard.type("alice")
    page.keyboard.press("Tab")
    page.keyboard.type("alice_password")
    page.keyboard.press("Enter")
    expect(page.get_by_text("Signed in as alice")).to_be_visible()
    page.goto(f"{secured_server.base_url}/ui/workflows/{workflow}")
    cancel = page.get_by_role("button", name="Cancel workflow")
    cancel.focus()
    seen.accept_dialogs = True  # "Cancel this workflow?"
    page.keyboard.press("Enter")
    expect(page.locator("#run-state")).to_have_text("canceled")


def test_without_javascript_the_pages_still_work(
    browser: Browser, seen: Seen, secured_server: Server, workflow: int
) -> None:
    page = new_page(browser, seen, java_script_enabled=False)
    sign_in(page, secured_server, "alice")
    page.goto(f"{secured_server.base_url}/ui/workflows")
    page.get_by_role("link", name="usable").click()
    expect(page.locator("#job-graph, #jobs").first).to_be_visible()
    expect(page.locator("time").first).to_contain_text("UTC")  # no script: UTC is shown
    page.get_by_role("button", name="Cancel workflow").click()  # a plain form post
    with api(secured_server, "alice") as client:
        status = client.get(f"{V1}/workflows/{workflow}/status").json()
    assert status["is_canceled"] is True
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You have signed out.")).to_be_visible()
    page.context.close()


def test_a_phone_sized_screen_needs_no_sideways_scrolling(
    browser: Browser, seen: Seen, secured_server: Server, workflow: int
) -> None:
    page = new_page(browser, seen, viewport={"width": 390, "height": 844})
    sign_in(page, secured_server, "alice")
    for address in PAGES:
        page.goto(secured_server.base_url + address.format(wf=workflow))
        expect(page.locator("main h1").first).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (address, width)  # wide tables and graphs scroll in their box
    page.context.close()


def test_times_show_in_the_viewers_zone_with_utc_on_hover(
    browser: Browser, seen: Seen, secured_server: Server, workflow: int
) -> None:
    page = new_page(browser, seen, timezone_id="Asia/Tokyo")
    sign_in(page, secured_server, "alice")
    page.goto(f"{secured_server.base_url}/ui/workflows")
    created = page.locator("time").first
    expect(created).to_contain_text("Asia/Tokyo")
    utc = created.get_attribute("title") or ""
    assert utc.endswith(" UTC")
    local_hour = int(created.inner_text().split()[1][:2])
    assert local_hour == (int(utc.split()[1][:2]) + 9) % 24
    page.context.close()
