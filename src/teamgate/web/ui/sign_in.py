"""Signing in and out of the console with a user name and password (htpasswd users).

The password is checked exactly as for an API request (Authenticator.authenticate: the login
throttle, the credential cache, bcrypt); a failure is recorded in the audit log as a failed
login. Success starts a session (services.tokens.start_session) whose secret goes only into
the HttpOnly cookie.
"""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Annotated

from fastapi import Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from teamgate.auth.authenticator import Authenticator
from teamgate.auth.tokens import looks_like_token
from teamgate.domain.identity import Principal
from teamgate.domain.text import has_control
from teamgate.errors import TooManyRequests, Unauthenticated
from teamgate.services import audit
from teamgate.services.refusals import left_out_note
from teamgate.services.tokens import end_session, start_session
from teamgate.settings import Settings
from teamgate.web.ui.gate import (
    SIGN_IN_COOKIE,
    Context,
    Viewer,
    clear_session_cookie,
    console_router,
    csrf_token,
    is_tls,
    new_sign_in_secret,
    set_session_cookie,
)
from teamgate.web.ui.render import page

router = console_router()

HOME = "/ui/workflows"
WRONG = "Wrong user name or password."
MAX_USER = 255
MAX_PASSWORD = 4096


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a console page of this server, never anywhere else."""
    if (
        not target
        or not target.startswith("/ui/")
        or "//" in target
        or "\\" in target
        or has_control(target)
        or target.startswith("/ui/sign-")
    ):
        return HOME
    return target


def _form(
    request: Request, *, next_page: str, error: str | None = None, status: int = 200
) -> Response:
    secret = request.cookies.get(SIGN_IN_COOKIE) or new_sign_in_secret()
    authenticator: Authenticator = request.app.state.authenticator
    settings: Settings = request.app.state.settings
    response = page(
        request,
        "sign_in.html",
        title="Sign in",
        status=status,
        csrf=csrf_token(secret),
        next_page=next_page,
        error=error,
        passwords=authenticator.auth_file is not None,
        sso=settings.oidc_issuer is not None,
        signs_in=authenticator.signs_in,
    )
    response.set_cookie(
        SIGN_IN_COOKIE,
        secret,
        max_age=3600,
        path="/ui/",
        secure=is_tls(request),
        httponly=True,
        samesite="strict",
    )
    return response


@router.get("/sign-in", include_in_schema=False)
async def sign_in_form(request: Request, next: str | None = None) -> Response:
    return _form(request, next_page=safe_next(next))


def record_failed_sign_in(request: Request, user: str | None, message: str, *, how: str) -> None:
    """Record a failed console sign-in in the audit log as the API records a refused
    password: at most one row per client, user and way within the refusal limiter's window
    (the next one says how many were left out). Blocking: run in the thread pool."""
    client = request.client.host if request.client is not None else None
    if user is not None:
        user = user[:MAX_USER]
    limiter = request.app.state.refusals
    left_out = limiter.admit(client, user, how) if limiter else 0
    if left_out is None:
        return
    path = request.url.path
    detail = how + (f"; {left_out_note(left_out)}" if left_out else "")
    event = audit.Event(user, f"{request.method} {path}", path, audit.FAILED_LOGIN, message, detail)
    audit.record_refusal(request.app.state.database, event)


def _check_password(request: Request, user: str, password: str) -> Principal:
    authenticator: Authenticator = request.app.state.authenticator
    header = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    client = request.client.host if request.client is not None else None
    return authenticator.authenticate(header, client=client)


@router.post("/sign-in", include_in_schema=False)
async def sign_in(
    request: Request,
    ctx: Context,
    user: Annotated[str, Form(max_length=MAX_USER)] = "",
    password: Annotated[str, Form(max_length=MAX_PASSWORD)] = "",
    next: Annotated[str, Form(max_length=2048)] = HOME,
) -> Response:
    target = safe_next(next)
    user = user.strip()
    if not user or not password:
        return _form(
            request, next_page=target, error="Enter your user name and password.", status=400
        )
    if ":" in user or has_control(user):
        return _form(request, next_page=target, error=WRONG, status=401)
    if looks_like_token(password):
        error = "Sign in with your password: tokens are for scripts and Terraform."
        return _form(request, next_page=target, error=error, status=400)
    try:
        principal = await run_in_threadpool(_check_password, request, user, password)
    except TooManyRequests as exc:
        response = _form(request, next_page=target, error=exc.message, status=429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except Unauthenticated as exc:
        await run_in_threadpool(
            record_failed_sign_in, request, user, exc.message, how="console password"
        )
        return _form(request, next_page=target, error=WRONG, status=401)
    if principal.name is None:  # a server where nobody signs in
        return RedirectResponse(target, status_code=303)
    return await begin_session(request, ctx, principal, target)


async def begin_session(
    request: Request, ctx: Context, principal: Principal, target: str
) -> Response:
    """Start a console session for `principal` (signed in just now) and go to `target`."""
    settings: Settings = request.app.state.settings
    lifetime = timedelta(hours=settings.ui_session_hours)
    idle = int(settings.ui_idle_minutes * 60)
    issued = await run_in_threadpool(
        start_session, ctx, principal, lifetime=lifetime, idle_secs=idle
    )
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(request, response, issued.token, int(lifetime.total_seconds()))
    response.delete_cookie(SIGN_IN_COOKIE, path="/ui/")
    return response


@router.post("/sign-out", include_in_schema=False)
async def sign_out(request: Request, ctx: Context, viewer: Viewer) -> Response:
    await run_in_threadpool(end_session, ctx, viewer)
    response = RedirectResponse("/ui/sign-in?signed_out=1", status_code=303)
    clear_session_cookie(request, response)
    return response
