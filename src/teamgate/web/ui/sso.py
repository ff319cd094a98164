"""Signing in to the console at the organisation's identity provider (`--oidc-issuer`).

The authorization code flow with PKCE (S256), as a public client (no secret): GET /ui/sso
keeps a fresh state, code verifier, nonce and the page to come back to in a short-lived
HttpOnly cookie (path /ui/sso, SameSite=Lax so that it comes back with the IdP's top-level
redirect) and sends the browser to the IdP. GET /ui/sso/callback checks the state against
that cookie, redeems the code with the verifier, verifies the ID token exactly as an API
request's (OidcVerifier: signature, issuer, audience, expiry, the user name claim), checks
its nonce, and starts a console session for its user.

Every failure is a page saying what happened (400 or 401), recorded in the audit log as a
failed login, as a refused password is; never a 500.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
from typing import Annotated, Any
from urllib.parse import urlencode

import jwt
from fastapi import Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from teamgate.auth.authenticator import Authenticator
from teamgate.auth.oidc import FetchError, OidcRefused, OidcVerifier
from teamgate.auth.throttle import printable, shorten
from teamgate.domain.identity import Principal
from teamgate.web.ui.gate import Context, console_router, is_tls
from teamgate.web.ui.render import page
from teamgate.web.ui.sign_in import begin_session, record_failed_sign_in, safe_next

router = console_router()
log = logging.getLogger("teamgate.console")

PATH = "/ui/sso"
CALLBACK = "/ui/sso/callback"
FLOW_SECS = 600  # to sign in at the IdP, then come back
MAX_PARAM = 4096
MAX_COOKIE = 3000
# The console keeps its own session: it never uses a refresh token.
UNUSED_SCOPES = frozenset({"offline_access"})
START_AGAIN = "Start again from the sign-in page."


def flow_cookie(request: Request) -> str:
    """The name of the cookie that holds a sign-in in progress (`__Secure-` over TLS)."""
    return "__Secure-teamgate_sso" if is_tls(request) else "teamgate_sso"


def _verifier(request: Request) -> OidcVerifier | None:
    authenticator: Authenticator = request.app.state.authenticator
    return authenticator.oidc


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _redirect_uri(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}{CALLBACK}"


def _failure(request: Request, status: int, message: str, *, user: str | None = None) -> Response:
    """The error page for a sign-in that did not work, recorded as a failed login."""
    record_failed_sign_in(request, user, message, how="console SSO")
    response = page(request, "error.html", title="Sign-in failed", status=status, message=message)
    response.delete_cookie(flow_cookie(request), path=PATH, secure=is_tls(request))
    return response


@router.get("/sso", include_in_schema=False)
async def start(request: Request, next: Annotated[str, Query(max_length=2048)] = "") -> Response:
    """Send the browser to the IdP, remembering how to finish (state, verifier, nonce)."""
    verifier = _verifier(request)
    if verifier is None:
        return page(
            request,
            "error.html",
            title="Not found",
            status=404,
            message="This server does not sign in with an identity provider.",
        )
    try:
        endpoints = await run_in_threadpool(verifier.provider.endpoints)
    except FetchError as exc:
        log.warning("Console SSO: the identity provider cannot be asked: %s", exc)
        message = "The identity provider cannot be reached just now: try again in a minute."
        return page(request, "error.html", title="Unavailable", status=503, message=message)
    flow = {
        "state": secrets.token_urlsafe(32),
        "verifier": secrets.token_urlsafe(48),
        "nonce": secrets.token_urlsafe(32),
        "next": safe_next(next),
    }
    config = verifier.config
    query = {
        "response_type": "code",
        "client_id": config.client_id,
        "redirect_uri": _redirect_uri(request),
        "scope": " ".join(s for s in config.scopes if s not in UNUSED_SCOPES),
        "state": flow["state"],
        "nonce": flow["nonce"],
        "code_challenge": _b64(hashlib.sha256(flow["verifier"].encode()).digest()),
        "code_challenge_method": "S256",
    }
    response = RedirectResponse(f"{endpoints.authorization}?{urlencode(query)}", status_code=303)
    response.set_cookie(
        flow_cookie(request),
        _b64(json.dumps(flow).encode()),
        max_age=FLOW_SECS,
        path=PATH,
        secure=is_tls(request),
        httponly=True,
        samesite="lax",
    )
    return response


def _read_flow(request: Request) -> dict[str, str] | None:
    raw = request.cookies.get(flow_cookie(request), "")
    if not raw or len(raw) > MAX_COOKIE:
        return None
    try:
        found = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, RecursionError):
        return None
    keys = ("state", "verifier", "nonce", "next")
    if not isinstance(found, dict) or not all(isinstance(found.get(k), str) for k in keys):
        return None
    return {k: found[k] for k in keys}


def _claims(id_token: str) -> dict[str, Any]:
    """The claims of an ID token the verifier has just accepted (so not checked again)."""
    found = jwt.decode(id_token, options={"verify_signature": False})
    return found if isinstance(found, dict) else {}


@router.get("/sso/callback", include_in_schema=False)
async def callback(
    request: Request,
    ctx: Context,
    code: Annotated[str, Query(max_length=MAX_PARAM)] = "",
    state: Annotated[str, Query(max_length=MAX_PARAM)] = "",
    error: Annotated[str, Query(max_length=MAX_PARAM)] = "",
    error_description: Annotated[str, Query(max_length=MAX_PARAM)] = "",
) -> Response:
    """Finish a sign-in the IdP sent the browser back from."""
    verifier = _verifier(request)
    flow = _read_flow(request)
    if verifier is None or flow is None:
        message = f"This sign-in has expired or was started in another browser. {START_AGAIN}"
        return await run_in_threadpool(_failure, request, 400, message)
    if not state or not hmac.compare_digest(state.encode(), flow["state"].encode()):
        message = f"This sign-in did not come back with the state it was sent with. {START_AGAIN}"
        return await run_in_threadpool(_failure, request, 400, message)
    if error or not code:
        said = printable(shorten(f"{error} {error_description}".strip() or "no code", 200))
        message = f"The identity provider did not sign you in ({said}). {START_AGAIN}"
        return await run_in_threadpool(_failure, request, 401, message)
    try:
        principal, claims = await run_in_threadpool(_finish, verifier, request, code, flow)
    except FetchError as exc:
        log.warning("Console SSO: redeeming the code failed: %s", exc)
        message = f"The identity provider did not accept this sign-in: {exc}. {START_AGAIN}"
        return await run_in_threadpool(_failure, request, 401, message)
    except OidcRefused as exc:
        log.warning("Console SSO: ID token refused (%s): %s", exc.code, exc.reason)
        message = f"The identity provider's token was refused: {exc.reason}. {START_AGAIN}"
        return await run_in_threadpool(_failure, request, 401, message, user=exc.claimed)
    nonce = claims.get("nonce")
    if not isinstance(nonce, str) or not hmac.compare_digest(
        nonce.encode(), flow["nonce"].encode()
    ):
        message = f"The identity provider's token is not for this sign-in (nonce). {START_AGAIN}"
        return await run_in_threadpool(_failure, request, 401, message, user=principal.name)
    response = await begin_session(request, ctx, principal, safe_next(flow["next"]))
    response.delete_cookie(flow_cookie(request), path=PATH, secure=is_tls(request))
    return response


def _finish(
    verifier: OidcVerifier, request: Request, code: str, flow: dict[str, str]
) -> tuple[Principal, dict[str, Any]]:
    """Redeem the code and verify the ID token: its user, and its claims."""
    answer = verifier.provider.redeem(
        {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": flow["verifier"],
            "redirect_uri": _redirect_uri(request),
            "client_id": verifier.config.client_id,
        }
    )
    id_token = answer.get("id_token")
    if not isinstance(id_token, str):
        raise FetchError("the token endpoint answered without an ID token")
    principal = verifier.verify(id_token)
    return principal, _claims(id_token)
