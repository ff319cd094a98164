"""The one answer to a lock conflict (`unit_locks.Locked`), in the shape each API's clients read.

- The Terraform HTTP backend (`/v1/backend/…`): the holder's lock information at the top of
  the body, as Terraform parses it (`ID`, `Operation`, `Who`, …, exactly as the holder's
  client sent them, bounded), with `error`, `message` and `locked_by` beside it (Terraform
  ignores fields it does not know). 423 for LOCK and UNLOCK; 409 for a state write, as the
  protocol has it.
- Everything else under `/v1`: `{"error", "message", "lock", "locked_by"}`, always 423.

Conflicts are counted here, where the response is made, so that each one counts once.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from teamgate.services.unit_locks import Locked
from teamgate.web.models import ErrorBody

BACKEND_ROUTE = "/v1/backend/"
LOCK_METHODS = frozenset({"LOCK", "UNLOCK"})  # anything else on the backend is a state write
REST_STATUS = 423
BACKEND_WRITE_STATUS = 409


class LockInfo(BaseModel):
    """Terraform's lock information, as the backend stores it and answers with it."""

    model_config = ConfigDict(extra="allow")
    ID: str | None = None
    Operation: str | None = None
    Info: str | None = None
    Who: str | None = None
    Version: str | None = None
    Created: str | None = None
    Path: str | None = None


class BackendLocked(LockInfo):
    """A backend lock conflict: the holder's lock information, and who holds it."""

    error: str
    message: str
    locked_by: str | None = None


class LockedBody(ErrorBody):
    """A lock conflict under /v1: the holder's lock information and its teamgate user."""

    lock: dict[str, str]
    locked_by: str | None = None


def _is_backend(request: Request) -> bool:
    route = getattr(request.scope.get("route"), "path", None)
    path = route if isinstance(route, str) else request.url.path
    return path.startswith(BACKEND_ROUTE)


def _status(request: Request) -> int:
    if not _is_backend(request) or request.method in LOCK_METHODS:
        return REST_STATUS
    return BACKEND_WRITE_STATUS


def _body(request: Request, exc: Locked) -> dict[str, Any]:
    """The conflict's body in the shape of the API that was asked."""
    if _is_backend(request):
        return {**exc.lock, "error": exc.kind, "message": exc.message, "locked_by": exc.locked_by}
    return {"error": exc.kind, "message": exc.message, "lock": exc.lock, "locked_by": exc.locked_by}


async def respond(request: Request, exc: Locked) -> JSONResponse:
    """The exception handler for `Locked`, wherever it is raised."""
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.lock_conflict()
    return JSONResponse(_body(request, exc), status_code=_status(request))
