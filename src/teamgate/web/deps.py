"""Request dependencies: the caller's Principal and the service context."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine, Iterable
from enum import Enum
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute

from teamgate.auth.authenticator import Authenticator
from teamgate.domain.identity import Principal
from teamgate.services.context import ServiceContext
from teamgate.web.models import ErrorBody
from teamgate.web.scoped import check_scope, check_token_scope

T = TypeVar("T")


async def get_principal(request: Request) -> Principal:
    """Authenticate the request (HTTP Basic or Bearer).

    Raises Unauthenticated (401), or TooManyRequests (429) after repeated failures for the
    user name or from the client's address. A password the credential cache remembers is
    accepted here on the event loop; everything else (bcrypt, tokens in the database, every
    refusal) is decided by `Authenticator.authenticate` in the thread pool. A runner token's
    caller is refused (Forbidden, 403) outside its runner calls, and a read-only token's
    outside reads (web.scoped).
    """
    known: Principal | None = getattr(request.state, "principal", None)
    if known is not None:  # already authenticated, before the body was read
        _check_scopes(request, known)
        return known
    authenticator: Authenticator = request.app.state.authenticator
    authorization = request.headers.get("authorization")
    principal = authenticator.authenticate_cached(authorization)
    if principal is None:
        client = request.client.host if request.client is not None else None
        principal = await run_in_threadpool(
            authenticator.authenticate, authorization, client=client
        )
    request.state.principal = principal  # a refusal below is recorded as theirs
    _check_scopes(request, principal)
    return principal


def _check_scopes(request: Request, principal: Principal) -> None:
    if principal.workflow_scope is not None:
        check_scope(request, principal.workflow_scope)
    if principal.scope is not None:
        check_token_scope(request, principal.scope)


def _one_hop(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """A plain (blocking) endpoint as a coroutine that runs it in the thread pool.

    FastAPI runs a plain endpoint in the thread pool and then validates and serializes its
    answer in the thread pool again: two hops per request. Run as a coroutine, the endpoint
    takes one hop and its answer is serialized on the event loop (no I/O there)."""
    if inspect.iscoroutinefunction(endpoint):
        return endpoint

    @functools.wraps(endpoint)
    async def in_thread(*args: Any, **kwargs: Any) -> Any:
        return await run_in_threadpool(endpoint, *args, **kwargs)

    return in_thread


async def short_read(ctx: ServiceContext, read: Callable[..., T], *args: Any) -> T:
    """Run `read`, a read of a few rows, where it costs least: on SQLite on the event loop (a
    WAL reader does not wait for writers, and the statement takes less time than a hop to
    the thread pool and back), on PostgreSQL in the thread pool (a network round trip)."""
    if ctx.db.dialect == "sqlite":
        return read(*args)
    return await run_in_threadpool(read, *args)


class AuthenticatedRoute(APIRoute):
    """A route that authenticates the caller before a request body is read (and runs a plain
    endpoint with one thread-pool hop: `_one_hop`).

    FastAPI reads and parses a model's body before it resolves dependencies, so without this a
    caller with no or wrong credentials could make the server read and build (about 25× the
    size of the JSON) a body of up to --max-body-bytes before being told 401. Refusals raised
    here reach the error table like any other.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, _one_hop(endpoint), **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def authenticate_first(request: Request) -> Response:
            if _has_body(request):
                await get_principal(request)
            return await handler(request)

        return authenticate_first


# What most routes may answer besides success: bad input, no sign-in, refused, missing,
# conflict, body too large
ERRORS = (400, 401, 403, 404, 409, 413)


def api_router(
    *, prefix: str = "", errors: Iterable[int] = ERRORS, tags: list[str | Enum] | None = None
) -> APIRouter:
    """A router whose routes authenticate the caller first and document the JSON error body
    `{"error", "message"}` under each status in `errors`."""
    return APIRouter(
        prefix=prefix,
        dependencies=[Depends(get_principal)],
        route_class=AuthenticatedRoute,
        responses={code: {"model": ErrorBody} for code in errors},
        tags=tags,
    )


def _has_body(request: Request) -> bool:
    headers = request.headers
    return "transfer-encoding" in headers or headers.get("content-length", "0") not in ("", "0")


async def get_context(request: Request) -> ServiceContext:  # async: no thread pool hop
    context: ServiceContext = request.app.state.context
    return context


Caller = Annotated[Principal, Depends(get_principal)]
Context = Annotated[ServiceContext, Depends(get_context)]
