"""Signing in to the console at the identity provider, in chromium: the real IdP's own login
and consent pages (tests/idp.py), then back to the page asked for, signed in as the IdP's
user; a refusal at the IdP comes back as a page that says so."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import Server
from tests.idp import CLIENT_ID, IdP


@pytest.fixture
def sso_server(server_factory: Any, htpasswd: Path, tmp_path: Path, idp: IdP) -> Server:
    return server_factory(  # type: ignore[no-any-return]
        *("--database", str(tmp_path / "db" / "torc.db"), "--auth-file", str(htpasswd)),
        *("--require-auth", "--enforce-access-control", "--admin-user", "alice"),
        *("--oidc-issuer", idp.issuer, "--oidc-client-id", CLIENT_ID),
        *("--oidc-scopes", "openid email profile groups", "--oidc-admin-group", "admins"),
    )


def at_the_idp(page: Page, idp: IdP, login: str, *, consent: bool = True) -> None:
    """What the person does on the IdP's pages: sign in, then allow (or refuse) the console."""
    expect(page).to_have_url(re.compile(re.escape(idp.issuer) + "/"))
    if not consent:
        page.get_by_role("link", name="Cancel").click()
        return
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("any password")
    page.locator("button[type=submit]").click()
    page.get_by_role("button", name="Continue").click()


def test_sign_in_with_sso_through_the_idps_pages(page: Page, sso_server: Server, idp: IdP) -> None:
    page.goto(f"{sso_server.base_url}/ui/units")
    page.get_by_role("link", name="Sign in with SSO").click()
    at_the_idp(page, idp, "erin")
    expect(page).to_have_url(f"{sso_server.base_url}/ui/units")
    expect(page.get_by_text("Signed in as erin@example.com (administrator)")).to_be_visible()
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert (
        cookies["teamgate_session"]["httpOnly"] and cookies["teamgate_session"]["sameSite"] == "Lax"
    )
    assert "teamgate_sso" not in cookies  # the flow's secrets are gone once used
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You have signed out.")).to_be_visible()


def test_refusing_at_the_idp_is_a_page_not_a_session(
    page: Page, sso_server: Server, idp: IdP
) -> None:
    page.goto(f"{sso_server.base_url}/ui/sign-in")
    page.get_by_role("link", name="Sign in with SSO").click()
    at_the_idp(page, idp, "bob", consent=False)
    expect(page.get_by_role("heading", name="Sign-in failed")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("The identity provider did not sign you in")
    assert "teamgate_session" not in {c["name"] for c in page.context.cookies()}
