"""Console callers for in-process tests: a browser-like client signed in through the form."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.conftest import password_of
from tests.inprocess import App

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Viewer:
    """A signed-in console user: `get` pages, `post` forms (the CSRF token added)."""

    def __init__(self, client: httpx.Client, csrf: str) -> None:
        self.client = client
        self.csrf = csrf

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, **kwargs)

    def post(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> httpx.Response:
        return self.client.post(path, data={"csrf": self.csrf, **(data or {})}, **kwargs)


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, f"no CSRF token on {page.request.url}"
    return found[1]


def sign_in(app: App, user: str, password: str | None = None) -> Viewer:
    """Sign `user` in through the console's form, as a browser would."""
    client = app.client()  # no Basic auth: the session cookie is the credential
    form = client.get("/ui/sign-in")
    assert form.status_code == 200, form.text
    signed = client.post(
        "/ui/sign-in",
        data={
            "csrf": csrf_of(form),
            "user": user,
            "password": password if password is not None else password_of(user),
        },
    )
    assert signed.status_code == 303, signed.text
    page = client.get("/ui/workflows")
    assert page.status_code == 200, page.text
    return Viewer(client, csrf_of(page))


XSS = "<img src=x onerror=alert(1)>"  # a name that would run script if it were markup
ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"  # how a page must show it
