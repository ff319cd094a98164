"""The console's gate: who the viewer is (a session cookie), CSRF, and the page headers.

A console session is an API token (services.tokens.start_session) whose secret lives only in
an HttpOnly, SameSite=Lax cookie (Secure, with the `__Host-` prefix, over TLS). Every request
authenticates that token through the same Authenticator as the API, so a revoked, expired,
idle or no-longer-bound session is refused the same way, and the viewer is an ordinary
Principal that the same services decide for.

Every state-changing request must come from this origin (Origin / Sec-Fetch-Site) and carry
the session's CSRF token (form field `csrf` or header `X-CSRF-Token`), an HMAC of the session
secret that only a page of this console can read.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute
from starlette.datastructures import FormData
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from teamgate.auth.authenticator import Authenticator
from teamgate.domain.identity import Principal
from teamgate.errors import Forbidden, Unauthenticated
from teamgate.services.abilities import Sections, sections
from teamgate.services.context import ServiceContext

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
SIGN_IN_COOKIE = "teamgate_sign_in"  # double-submit value for the sign-in form (no session yet)
CROSS_ORIGIN = (
    "This request came from another site: the console takes sign-ins and changes only from "
    "its own pages"
)
BAD_CSRF = "This form has expired or did not come from the console: reload the page and try again"

CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)
PAGE_HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"x-content-type-options", b"nosniff"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


class SignInNeeded(Unauthenticated):
    """The viewer has no (live) session: pages answer with the sign-in form."""


def session_cookie(request: Request) -> str:
    """The session cookie's name: `__Host-` prefixed over TLS (then the browser keeps it to
    this host, path / and Secure), plain over HTTP (a loopback or test server)."""
    return "__Host-teamgate_session" if is_tls(request) else "teamgate_session"


def is_tls(request: Request) -> bool:
    return request.url.scheme == "https"


def set_session_cookie(request: Request, response: Response, secret: str, max_age: int) -> None:
    response.set_cookie(
        session_cookie(request),
        secret,
        max_age=max_age,
        path="/",
        secure=is_tls(request),
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(
        session_cookie(request), path="/", secure=is_tls(request), httponly=True, samesite="lax"
    )


def csrf_token(secret: str) -> str:
    """The CSRF token of a session (or of a sign-in form's cookie): derived, never stored."""
    return hmac.new(secret.encode(), b"teamgate console csrf", hashlib.sha256).hexdigest()


def new_sign_in_secret() -> str:
    return secrets.token_urlsafe(32)


def _authenticator(request: Request) -> Authenticator:
    found: Authenticator = request.app.state.authenticator
    return found


async def console_principal(request: Request) -> Principal:
    """The viewer: the user of the session cookie, or anonymous on a server where nobody
    signs in. SignInNeeded when there is no live session."""
    known: Principal | None = getattr(request.state, "principal", None)
    if known is not None:
        return known
    authenticator = _authenticator(request)
    if not authenticator.signs_in:
        principal = authenticator.principal(None)
    else:
        secret = request.cookies.get(session_cookie(request))
        if not secret:
            raise SignInNeeded("Sign in to use the console")
        client = request.client.host if request.client is not None else None
        try:
            principal = await run_in_threadpool(
                authenticator.authenticate, f"Bearer {secret}", client=client
            )
        except Unauthenticated as exc:
            raise SignInNeeded("Your session has ended: sign in again") from exc
        # Not a token (an ID token, say), or a token its user narrowed (read-only, a prefix, a
        # workflow, a runner's): the console offers a user's whole power, which such a token
        # must never reach.
        if principal.token_id is None or principal.scope or principal.workflow_scope:
            raise SignInNeeded("Sign in to use the console")
    request.state.principal = principal
    request.state.csrf = csrf_token(request.cookies.get(session_cookie(request)) or "")
    if not is_fragment(request):  # a whole page: its navigation shows the viewer's sections
        request.state.nav = navigation(await viewer_sections(request))
    return principal


async def viewer_sections(request: Request) -> Sections:
    """The parts of the console the viewer (already known) may open, asked once a request."""
    known: Sections | None = getattr(request.state, "sections", None)
    if known is None:
        principal: Principal = request.state.principal
        known = await run_in_threadpool(sections, request.app.state.context, principal)
        request.state.sections = known
    return known


def is_swap(request: Request) -> bool:
    """Whether htmx asked for a part of a page to swap in (not a boosted whole page)."""
    headers = request.headers
    return headers.get("hx-request") == "true" and not headers.get("hx-boosted")


def is_fragment(request: Request) -> bool:
    """Whether the answer is part of a page (an htmx swap, or JSON for console.js), which
    carries no navigation: polls need not ask what the viewer may open."""
    return is_swap(request) or request.headers.get("accept", "").startswith("application/json")


def navigation(shown: Sections) -> list[tuple[str, str]]:
    """The sections a viewer sees: (address, label)."""
    nav = [
        ("/ui/workflows", "Workflows"),
        ("/ui/units", "Units"),
        ("/ui/teams", "Teams"),
        ("/ui/access", "Access"),
    ]
    if shown.rbac:
        nav.append(("/ui/rbac", "RBAC"))
    if shown.audit:
        nav.append(("/ui/audit", "Audit"))
    return nav


async def get_context(request: Request) -> ServiceContext:
    context: ServiceContext = request.app.state.context
    return context


Viewer = Annotated[Principal, Depends(console_principal)]
Context = Annotated[ServiceContext, Depends(get_context)]


def check_origin(request: Request) -> None:
    """Refuse a state-changing request that a browser says came from another site."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise Forbidden(CROSS_ORIGIN, reason="cross-origin request")
    origin = request.headers.get("origin")
    if origin == "null" and site == "same-origin":
        # Some browsers send `Origin: null` with the forms of the console's own pages (chromium
        # did under `Referrer-Policy: no-referrer`); Sec-Fetch-Site, which no page can set,
        # says where such a request is from.
        return
    if origin is not None:
        own = f"{request.url.scheme}://{request.url.netloc}"
        if origin != own:
            raise Forbidden(CROSS_ORIGIN, reason="cross-origin request")


async def check_csrf(request: Request, form: FormData) -> None:
    """The request carries the CSRF token of its session (or, for sign-in, of its form)."""
    if request.url.path.endswith("/sign-in"):
        expected = csrf_token(request.cookies.get(SIGN_IN_COOKIE) or "")
        if not request.cookies.get(SIGN_IN_COOKIE):
            raise Forbidden(BAD_CSRF, reason="no CSRF cookie")
    else:
        await console_principal(request)
        expected = request.state.csrf
    offered = request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD)
    if not isinstance(offered, str) or not hmac.compare_digest(offered, expected):
        raise Forbidden(BAD_CSRF, reason="missing or wrong CSRF token")


def console_router() -> APIRouter:
    """A router for console pages: every route checks origin and CSRF on changes."""
    return APIRouter(route_class=ConsoleRoute)


class ConsoleRoute(APIRoute):
    """A console route: a state-changing request is refused unless it comes from this origin
    with its CSRF token, before the endpoint runs (so no route can forget the check)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            if request.method not in SAFE_METHODS:
                check_origin(request)
                form = await request.form(max_files=0, max_fields=200)
                await check_csrf(request, form)
            return await handler(request)

        return guarded


class PageHeaders:
    """Adds the console's security headers (CSP without inline script, no framing, no
    referrer) to every answer under /ui/, and `no-store` to pages (not to static files)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = "/static/" in scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(PAGE_HEADERS)
                cache = b"public, max-age=3600" if static else b"no-store"
                headers.append((b"cache-control", cache))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
