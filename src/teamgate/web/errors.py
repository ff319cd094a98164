"""One table from exception to HTTP status, and the JSON error body `{"error", "message"}`."""

from __future__ import annotations

import hashlib
import logging
import string
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from teamgate import errors
from teamgate.auth.headers import BASIC, BEARER, read_authorization
from teamgate.auth.oidc import OidcRefused
from teamgate.auth.throttle import shorten
from teamgate.auth.tokens import looks_like_token
from teamgate.services import audit
from teamgate.services.refusals import RefusalLimiter, left_out_note
from teamgate.services.unit_locks import Locked
from teamgate.storage.db.faults import storage_full
from teamgate.web import lock_conflicts

log = logging.getLogger("teamgate.web")

STATUS: dict[type[errors.TeamgateError], int] = {
    errors.TooLarge: 413,
    errors.Invalid: 400,
    errors.Unauthenticated: 401,
    errors.TooManyRequests: 429,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.LockConflict: 423,  # unit_locks.Locked has its own handler: web/lock_conflicts.py
    errors.Conflict: 409,
    errors.InsufficientStorage: 507,
    errors.ConfigError: 500,
}

REALM = 'Basic realm="Torc"'
LOOKUP_LENGTH = 16  # hex digits in a token's lookup part
MAX_USER_CHARS = 128  # of a refused sign-in's user name, in the audit log (then a marker)

_HTTP_KINDS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
    507: "InsufficientStorage",
    423: "Locked",
}


def error_response(status: int, kind: str, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": REALM} if status == 401 else None
    return JSONResponse({"error": kind, "message": message}, status_code=status, headers=headers)


def status_for(exc: errors.TeamgateError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def _describe_validation(exc: RequestValidationError) -> str:
    problems = [_describe_one(e) for e in exc.errors()[:3]]
    return "; ".join(problems) or "invalid request"


def _describe_one(error: Any) -> str:
    loc = [str(p) for p in error.get("loc", ())]
    kind = error.get("type", "")
    where, rest = (loc[0], loc[1:]) if loc else ("body", [])
    name = ".".join(rest)
    if kind == "json_invalid":
        return "request body is not valid JSON"
    if where == "query" and name == "after":
        return errors.invalid_cursor(error.get("msg", "invalid value").lower()).message
    if where in ("path", "query"):
        label = f"{where} parameter '{name}'"
        if kind.startswith("int"):
            return f"{label} must be an integer"
        if kind.startswith("bool"):
            return f"{label} must be true or false"
        return f"{label}: {error.get('msg', 'invalid')}"
    if not name and kind in ("model_attributes_type", "dict_type"):
        return "request body must be a JSON object (send Content-Type: application/json)"
    if kind == "extra_forbidden":
        return f"unknown field '{name}'"
    if kind == "missing":
        return f"field '{name}' is required" if name else "a JSON body is required"
    field = f"field '{name}'" if name else "body"
    return f"{field}: {error.get('msg', 'invalid value')}"


def _route_action(request: Request) -> str:
    """What was asked: the method and route template, e.g. `GET /torc-service/v1/workflows/{id}`."""
    route = getattr(request.scope.get("route"), "path", None)
    return f"{request.method} {route if isinstance(route, str) else request.url.path}"


def _token_lookup(token: str) -> str:
    """What of a token may be recorded: its lookup part (`tg_<lookup>`), never the secret."""
    lookup = token[len("tg_") :].partition("_")[0] if looks_like_token(token) else ""
    if len(lookup) != LOOKUP_LENGTH or any(c not in string.hexdigits for c in lookup):
        return "a value that is not a teamgate token"  # it might be a secret: say nothing of it
    return f"token tg_{lookup}"


def attempted_login(authorization: str) -> tuple[str | None, str]:
    """The user name a failed `Authorization` header tried, and how; never the secret."""
    offered = read_authorization(authorization)
    if offered.kind == BEARER:
        return None, f"bearer {_token_lookup(offered.secret)}"
    if offered.kind != BASIC:
        return None, "an unsupported scheme"
    if offered.user is None:
        return None, "basic, malformed"
    if looks_like_token(offered.secret):
        return offered.user, f"basic with {_token_lookup(offered.secret)}"
    return offered.user, "basic"


def _refusal(request: Request, exc: errors.TeamgateError, status: int) -> audit.Event | None:
    """The audit event for a 403, or for a 401 where credentials were offered; else None."""
    principal = getattr(request.state, "principal", None)
    if status == 403:
        return _denial(request, exc, getattr(principal, "name", None))
    authorization = request.headers.get("authorization")
    if status != 401 or principal is not None or not authorization:
        return None
    user, how = attempted_login(authorization)
    kind = read_authorization(authorization).kind
    if isinstance(exc, OidcRefused):  # the user the ID token claims; a row per token
        user, how = exc.claimed, f"bearer OIDC ID token ({exc.code})"
        secret = read_authorization(authorization).secret.encode("utf-8", "surrogateescape")
        kind = "oidc:" + hashlib.sha256(secret).hexdigest()
    if user is not None:
        user = shorten(user, MAX_USER_CHARS)
    left_out = _refusals(request).admit(
        request.client.host if request.client is not None else None, user, kind
    )
    if left_out is None:
        return None  # counted; the client's next record says how many
    if left_out:
        how = f"{how}; {left_out_note(left_out)}"
    action, path = _route_action(request), request.url.path
    return audit.Event(user, action, path, audit.FAILED_LOGIN, exc.message, how)


def _refusals(request: Request) -> RefusalLimiter:
    limiter: RefusalLimiter = request.app.state.refusals
    return limiter


def _denial(request: Request, exc: errors.TeamgateError, user: str | None) -> audit.Event:
    """A 403 as the audit log keeps it: the action and resource the decision named
    (`workflow.delete` on `workflow/1`), else the route and path; the route in `detail`.

    Named by the decision, a refusal files under the same action as the changes it guards,
    whichever API (Torc or OpenTaco) was asked.
    """
    route = _route_action(request)
    action = getattr(exc, "action", None) or route
    resource = getattr(exc, "resource", None) or request.url.path
    reason = getattr(exc, "reason", None) or exc.message
    return audit.Event(user, action, resource, audit.DENIED, reason, route)


async def record_refusal(request: Request, exc: errors.TeamgateError, status: int) -> None:
    """Record a refusal in the audit log; never fails the response (errors are logged)."""
    try:
        event = _refusal(request, exc, status)
        if event is not None:
            await run_in_threadpool(audit.record_refusal, request.app.state.database, event)
    except Exception:
        log.exception("Could not record a %d on %s in the audit log", status, request.url.path)


def install(app: FastAPI) -> None:
    app.state.refusals = RefusalLimiter()  # how many refused sign-ins the audit log keeps

    @app.exception_handler(errors.TeamgateError)
    async def _teamgate(request: Request, exc: errors.TeamgateError) -> JSONResponse:
        status = status_for(exc)
        if status in (401, 403):
            await record_refusal(request, exc, status)
        return error_response(status, exc.kind, exc.message)

    # a lock conflict carries the holder's lock, which each API answers in its own shape
    app.exception_handler(Locked)(lock_conflicts.respond)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(400, "BadRequest", _describe_validation(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = _HTTP_KINDS.get(exc.status_code, "Error")
        message = str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = f"No such endpoint: {request.method} {request.url.path}"
        elif exc.status_code == 405:
            message = f"Method {request.method} is not allowed on {request.url.path}"
        return error_response(exc.status_code, kind, message)

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        # Handled here, not as any Exception: that handler answers and then closes the
        # connection; a full disk is an answer the client can act on, and it keeps it.
        full = storage_full(exc)
        if full is None and exc.connection_invalidated:  # the database went away mid-request
            log.warning(
                "Database connection lost on %s %s: %s", request.method, request.url.path, exc.orig
            )
            response = error_response(
                503, "ServiceUnavailable", "The database connection was lost; retry"
            )
            response.headers["Retry-After"] = "1"
            return response
        if full is None:
            return await _unexpected(request, exc)
        log.error("Database out of space on %s %s: %s", request.method, request.url.path, exc.orig)
        return error_response(status_for(full), full.kind, full.message)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("Unexpected error on %s %s", request.method, request.url.path)
        return error_response(
            500, "InternalError", "The server hit an unexpected error; see its log"
        )

    @app.exception_handler(errors.TooManyRequests)
    async def _throttled(_request: Request, exc: errors.TooManyRequests) -> JSONResponse:
        response = error_response(status_for(exc), exc.kind, exc.message)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
