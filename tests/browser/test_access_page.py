"""The console's permission tester in chromium agrees with `taco rbac test` (the real CLI), for
an allow and a deny, down to the steps decide() took."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import api, sign_in
from tests.conftest import BIN, Server, password_of

# bob (developer) may read and write units under dev/ but delete none
PERMISSIONS = {"dev-access": "allow:unit.read,unit.write:dev/*", "no-delete": "deny:unit.delete:*"}


def taco_test(server: Server, where: Path, *args: str) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENTACO_", "XDG_"))}
    env.update(
        OPENTACO_SERVER=server.base_url,
        OPENTACO_USERNAME="alice",
        OPENTACO_PASSWORD=password_of("alice"),
        XDG_CONFIG_HOME=str(where / "config"),
    )
    done = subprocess.run(
        [str(BIN / "taco"), "-o", "json", "rbac", "test", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, object] = json.loads(done.stdout)
    return found


@pytest.fixture
def rbac_server(secured_server: Server) -> Server:
    with api(secured_server, "alice") as alice:
        alice.post("/v1/rbac/init").raise_for_status()
        for pid, rule in PERMISSIONS.items():
            made = alice.post("/v1/rbac/permissions", json={"id": pid, "rules": [rule]})
            made.raise_for_status()
        alice.post("/v1/rbac/roles", json={"id": "developer"}).raise_for_status()
        for pid in PERMISSIONS:
            granted = alice.post(
                "/v1/rbac/roles/developer/permissions", json={"permission_id": pid}
            )
            granted.raise_for_status()
        assign = {"email": "bob", "role_id": "developer"}
        alice.post("/v1/rbac/users/assign", json=assign).raise_for_status()
    return secured_server


@pytest.mark.parametrize(
    ("action", "verdict"), [("unit.write", "Allowed"), ("unit.delete", "Denied")]
)
def test_the_permission_tester_agrees_with_taco_rbac_test(
    page: Page, rbac_server: Server, tmp_path: Path, action: str, verdict: str
) -> None:
    cli = taco_test(rbac_server, tmp_path, "bob", action, "dev/app")
    assert cli["status"] == verdict.lower()
    sign_in(page, rbac_server, "alice")
    page.goto(f"{rbac_server.base_url}/ui/access")
    page.get_by_label("User").fill("bob")
    page.get_by_label("Action").select_option(action)
    page.get_by_label("Resource").fill("dev/app")
    page.get_by_role("button", name="Test", exact=True).click()
    expect(page.locator("#verdict")).to_have_text(verdict)
    steps = page.locator("#steps li")
    cli_steps = cli["steps"]
    assert isinstance(cli_steps, list)
    expect(steps).to_have_count(len(cli_steps))
    for shown, step in zip(steps.all(), cli_steps, strict=True):
        assert shown.get_attribute("data-check") == step["check"]
        assert shown.get_attribute("data-matched") == ("true" if step["matched"] else "false")
        expect(shown.locator(".step-text")).to_have_text(f"{step['check']}: {step['detail']}")
