"""One table from exception to HTTP status, and the JSON error body `{"error", "message"}`."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from teamgate import errors

log = logging.getLogger("teamgate.web")

STATUS: dict[type[errors.TeamgateError], int] = {
    errors.TooLarge: 413,
    errors.Invalid: 400,
    errors.Unauthenticated: 401,
    errors.TooManyRequests: 429,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.LockConflict: 423,
    errors.Conflict: 409,
    errors.ConfigError: 500,
}

REALM = 'Basic realm="Torc"'

_HTTP_KINDS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
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


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.TeamgateError)
    async def _teamgate(_request: Request, exc: errors.TeamgateError) -> JSONResponse:
        return error_response(status_for(exc), exc.kind, exc.message)

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
