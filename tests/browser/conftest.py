"""The console in a real browser: Playwright driving Debian's chromium against a real
`torc-server` process (tests/conftest.py's start_server), with the real CLIs making the data.

`browser` is one chromium per test process; `page` a fresh context (no cookies) per test, at
1280 x 900, recording every dialog it is shown (`dialogs`) and every console error (`errors`:
a Content-Security-Policy violation shows there). A missing chromium fails the tests: CI
installs it (`.ci/run`), and a browser test that skips proves nothing.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from tests.conftest import Server, password_of, torc

CHROMIUM = os.environ.get("TEAMGATE_TEST_CHROMIUM", "/usr/bin/chromium")
TIMEOUT_MS = 15_000
expect.set_options(timeout=TIMEOUT_MS)  # a loaded CI machine: waits, never sleeps


# Module-scoped, not session: while Playwright's sync API is started, its event loop counts as
# running in this thread, so a later test of another module on the same worker could not call
# asyncio.run(). pytest stops these when the worker's next test is from another module.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists() and shutil.which(CHROMIUM) is None:
        pytest.fail(f"no chromium at {CHROMIUM}: install Debian's (apt-get install chromium)")
    launched = playwright.chromium.launch(executable_path=CHROMIUM)
    yield launched
    launched.close()


@dataclass
class Seen:
    """What a page showed besides its content: dialogs (alert, confirm...) and console errors."""

    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    accept_dialogs: bool = False  # dismissed unless a test says to accept them


@pytest.fixture
def seen() -> Seen:
    return Seen()


@pytest.fixture
def page(browser: Browser, seen: Seen) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()

    def on_dialog(dialog: Any) -> None:
        seen.dialogs.append(f"{dialog.type}: {dialog.message}")
        if seen.accept_dialogs:
            dialog.accept()
        else:
            dialog.dismiss()

    opened.on("dialog", on_dialog)
    opened.on("console", lambda m: seen.errors.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda e: seen.errors.append(str(e)))
    yield opened
    context.close()


def sign_in(page: Page, server: Server, user: str, password: str | None = None) -> None:
    """Sign `user` in through the console's form, as a person would."""
    page.goto(f"{server.base_url}/ui/sign-in")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(password if password is not None else password_of(user))
    page.get_by_role("button", name="Sign in").click()
    if password is None:
        expect(page.get_by_text(f"Signed in as {user}")).to_be_visible()


def ok_json(result: Any) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def create_workflow(server: Server, user: str, spec: dict[str, Any], where: Path) -> int:
    """Create a workflow from `spec` with the real torc CLI as `user`; its id."""
    where.mkdir(parents=True, exist_ok=True)
    path = where / f"spec-{len(list(where.glob('spec-*.json')))}.json"
    path.write_text(json.dumps(spec))
    created = ok_json(torc(server, user, "-f", "json", "workflows", "create", str(path), cwd=where))
    return int(created["id"])


def api(server: Server, user: str) -> httpx.Client:
    """An API client signed in as `user` with Basic auth."""
    return httpx.Client(base_url=server.base_url, auth=(user, password_of(user)), timeout=30)
