"""Units under /v1 (taco CLI) and the Terraform HTTP backend under /v1/backend/<unit path>."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

from fastapi import Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import Field
from starlette.convertors import Convertor, register_url_convertor

from teamgate.domain.identity import Principal
from teamgate.domain.levels import DEFAULT_LEVEL, Level
from teamgate.domain.states import JsonError, check_json_bytes
from teamgate.errors import Invalid
from teamgate.services import abilities, reach, unit_locks, units
from teamgate.services.context import MAX_LIMIT, ServiceContext
from teamgate.storage.blobs import BlobWriter
from teamgate.storage.db.units import Unit
from teamgate.web.deps import ERRORS, Caller, Context, api_router
from teamgate.web.limits import read_body
from teamgate.web.lock_conflicts import BackendLocked, LockedBody, LockInfo
from teamgate.web.models import AccessLevel, StrictIn
from teamgate.web.text import check_text


class UnitPathConvertor(Convertor[str]):
    """Like Starlette's `path`, but also matches control characters, so that the service can
    reject them with a clear 400 instead of the router answering 404."""

    regex = r"[\s\S]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("unitpath", UnitPathConvertor())

router = api_router(prefix="/v1", errors=(*ERRORS, 423))


class UnitIn(StrictIn):
    path: str = Field(min_length=1, max_length=1024)


class LockIn(StrictIn):
    id: str | None = Field(default=None, max_length=255)
    who: str | None = Field(default=None, max_length=255)
    operation: str | None = Field(default=None, max_length=255)


class RestoreIn(StrictIn):
    version: int = Field(ge=0)
    lock_id: str | None = Field(default=None, max_length=255)


class ShareIn(StrictIn):
    group: str = Field(min_length=1, max_length=255)
    # the share's level: read, write or admin; omitted: write (see domain.levels)
    access: AccessLevel | None = None


NO_STATE: dict[int | str, dict[str, Any]] = {204: {"description": "The unit has no state yet"}}
EMPTY_OK: dict[int | str, dict[str, Any]] = {200: {"description": "Done (no body)", "content": {}}}
# Lock conflicts are answered by web/lock_conflicts.py, whichever route meets them.
LOCKED: dict[int | str, dict[str, Any]] = {
    423: {"model": LockedBody, "description": "Locked by someone else: the holder's lock"}
}
BACKEND_LOCKED = "Locked by another lock ID: the holder's lock, and its teamgate user"


def unit_out(found: Unit, shares: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    """A unit as the API shows it; with `shares` ((group, level) pairs), its groups too:
    `groups` (names, as before levels) and `shares` (each group with its level)."""
    return {
        "path": found.path,
        "owner": found.owner,
        "size": found.size,
        "sha256": found.sha256,
        "version": found.generation,
        "created_at": found.created_at,
        "updated_at": found.updated_at,
        "written_by": found.written_by,
        "token_id": found.token_id,
        "locked": found.lock_id is not None,
        "lock": unit_locks.bounded_lock(found.lock) if found.lock else found.lock,
        "locked_by": found.locked_by if found.lock_id is not None else None,
        **(
            {
                "groups": [group for group, _level in shares],
                "shares": [{"group": group, "access": level} for group, level in shares],
            }
            if shares is not None
            else {}
        ),
    }


WRITE_BATCH = 1 << 20


async def receive_state(
    request: Request, ctx: ServiceContext, caller: Principal, path: str, lock_id: str | None
) -> Unit:
    """Stream the request body into a new blob, then record it (memory stays flat).

    The server receives the body in pieces of tens of kilobytes; they are gathered into
    `WRITE_BATCH` bytes, and each batch is hashed and written by a worker thread while the
    next one arrives (at most two batches in memory).
    """
    pending = await run_in_threadpool(units.begin_write, ctx, caller, path, lock_id=lock_id)
    writer = units.blobs(ctx).writer(pending.key)
    in_flight: asyncio.Future[None] | None = None
    try:
        batch = bytearray()
        async for chunk in request.stream():
            batch += chunk
            if len(batch) >= WRITE_BATCH:
                if in_flight is not None:
                    await in_flight
                in_flight = asyncio.ensure_future(run_in_threadpool(writer.write, bytes(batch)))
                batch.clear()
        if in_flight is not None:
            await in_flight
        if batch:
            await run_in_threadpool(writer.write, bytes(batch))
        info = await run_in_threadpool(writer.commit)
    except BaseException:
        _abort_after(in_flight, writer)
        raise
    return await run_in_threadpool(units.finish_write, ctx, caller, pending, info, lock_id=lock_id)


def _abort_after(in_flight: asyncio.Future[None] | None, writer: BlobWriter) -> None:
    """Abort the blob, but never while a worker thread is still writing to it."""
    if in_flight is None or in_flight.done():
        writer.abort()
        return

    def abort(done: asyncio.Future[None]) -> None:
        if not done.cancelled():
            done.exception()  # retrieved: the request already failed for another reason
        writer.abort()

    in_flight.add_done_callback(abort)


def send_state(ctx: ServiceContext, caller: Principal, path: str, version: int | None) -> Response:
    found, chunks = units.open_state(ctx, caller, path, version=version)
    if chunks is None:
        return Response(status_code=204)
    headers = {"X-Unit-Version": str(found.generation)}
    if found.sha256 and version is None:
        headers["ETag"] = f'"{found.sha256}"'
    return StreamingResponse(chunks, media_type="application/json", headers=headers)


# -- /v1 units (taco) ------------------------------------------------------------------


@router.post("/units", status_code=201)
def create_unit(body: UnitIn, ctx: Context, caller: Caller) -> dict[str, Any]:
    return unit_out(units.create_unit(ctx, caller, body.path), [])


@router.get("/units")
def list_units(
    ctx: Context,
    caller: Caller,
    prefix: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = units.LIST_PAGE,
    after: Annotated[str | None, Query(max_length=4096)] = None,
) -> JSONResponse:
    """One page of units in path order; `next_cursor` (None on the last page) is the `after`
    of the next one. `count` is the number of units on this page."""
    page = units.list_units(ctx, caller, prefix, limit=limit, after=after)
    body = {
        "units": [unit_out(u) for u in page.items],
        "count": len(page.items),
        "next_cursor": page.next_cursor,
    }
    return JSONResponse(body)  # plain JSON values: FastAPI's encoder would take 10x longer


@router.get("/units/{path:unitpath}")
def get_unit(path: str, ctx: Context, caller: Caller) -> dict[str, Any]:
    """The unit, its shares, and `allowed_actions`: what the caller may do on it (as the web
    console shows its controls; `unit.unshare:<group>` for each share they may remove)."""
    found, groups = units.get_unit(ctx, caller, path)
    allowed = sorted(abilities.unit_abilities(ctx, caller, found.path))
    return {**unit_out(found, groups), "allowed_actions": allowed}


@router.delete("/units/{path:unitpath}")
def delete_unit(path: str, ctx: Context, caller: Caller) -> dict[str, Any]:
    return unit_out(units.delete_unit(ctx, caller, path))


@router.get("/state/{path:unitpath}", responses=NO_STATE)
def download_state(path: str, ctx: Context, caller: Caller, version: int | None = None) -> Response:
    return send_state(ctx, caller, path, version)


@router.put("/state/{path:unitpath}", responses=LOCKED)
async def upload_state(
    path: str, request: Request, ctx: Context, caller: Caller, lock_id: str | None = None
) -> Response:
    written = await receive_state(request, ctx, caller, path, lock_id)
    return JSONResponse(unit_out(written))


@router.post("/locks/{path:unitpath}", responses=LOCKED)
def lock_unit(path: str, ctx: Context, caller: Caller, body: LockIn | None = None) -> Response:
    info = {"ID": body.id, "Who": body.who, "Operation": body.operation} if body else {}
    return JSONResponse(units.lock_unit(ctx, caller, path, info))


@router.delete("/locks/{path:unitpath}", responses=LOCKED)
def unlock_unit(
    path: str, ctx: Context, caller: Caller, lock_id: str | None = None, force: bool = False
) -> dict[str, Any]:
    """Release a lock with its ID, or `force` it (the answer names whose lock it was)."""
    if lock_id is None and not force:
        raise Invalid("Give the lock ID (?lock_id=…) or force the unlock (?force=true)")
    held = units.unlock_unit(ctx, caller, path, lock_id=None if force else lock_id)
    message = f"Unit '{held.path}' unlocked"
    if force:
        message += f"; removed the lock held by {unit_locks.holder_of(held)}"
    lock = unit_locks.bounded_lock(held.lock or {})
    return {"message": message, "lock": lock, "locked_by": held.locked_by}


@router.get("/versions/{path:unitpath}")
def list_versions(path: str, ctx: Context, caller: Caller) -> dict[str, Any]:
    """The unit's earlier states, newest first: when each was written, by which teamgate user
    and with which API token (`written_by`, `token_id`: null when written with a password, or
    before the server recorded writers)."""
    versions = units.list_versions(ctx, caller, path)
    return {
        "versions": [
            {
                "version": v.generation,
                "created_at": v.created_at,
                "written_by": v.written_by,
                "token_id": v.token_id,
                "size": v.size,
                "sha256": v.sha256,
            }
            for v in versions
        ]
    }


@router.post("/restore/{path:unitpath}", responses=LOCKED)
def restore_version(path: str, body: RestoreIn, ctx: Context, caller: Caller) -> Response:
    written = units.restore(ctx, caller, path, version=body.version, lock_id=body.lock_id)
    return JSONResponse(unit_out(written))


@router.post("/shares/{path:unitpath}")
def share_unit(path: str, body: ShareIn, ctx: Context, caller: Caller) -> dict[str, Any]:
    access = None if body.access is None else Level(body.access)
    was = units.share(ctx, caller, path, body.group, access=access)
    level = access or DEFAULT_LEVEL
    shown = path.strip("/")
    message = f"Unit '{shown}' shared with group '{body.group}' ({level})"
    if was is not None:
        message = f"Unit '{shown}': group '{body.group}' now has {level} access (was {was})"
    return {"message": message, "group": body.group, "access": level, "previous_access": was}


@router.delete("/shares/{path:unitpath}")
def unshare_unit(path: str, group: str, ctx: Context, caller: Caller) -> dict[str, str]:
    units.unshare(ctx, caller, path, group)
    return {"message": f"Unit '{path.strip('/')}' no longer shared with group '{group}'"}


@router.get("/access/{path:unitpath}")
def who_can_reach_unit(path: str, ctx: Context, caller: Caller) -> dict[str, Any]:
    """Every user and group that can reach the unit, with what allows each action, and the
    deny rules that take actions away (services.reach.who_workflow has the JSON shape). For
    its owner, its admin-level groups, RBAC managers and system administrators.

    Under /v1/access/ rather than /v1/units/<path>/access, which would be the unit
    `<path>/access` for every other /v1/units route."""
    return reach.who_unit(ctx, caller, path).as_json()


# -- Terraform HTTP backend ---------------------------------------------------------


@router.get("/backend/{path:unitpath}", responses=NO_STATE)
def tf_get(path: str, ctx: Context, caller: Caller) -> Response:
    return send_state(ctx, caller, path, None)


@router.post(
    "/backend/{path:unitpath}",
    response_class=Response,
    responses={
        **EMPTY_OK,
        409: {"model": BackendLocked, "description": BACKEND_LOCKED},
    },
)
async def tf_post(path: str, request: Request, ctx: Context, caller: Caller) -> Response:
    lock_id = request.query_params.get("ID") or request.headers.get("X-Terraform-Lock-ID")
    await receive_state(request, ctx, caller, path, lock_id)
    return Response(status_code=200)


LOCK_BODY_BYTES = 64 * 1024  # Terraform's lock bodies are under 1 KiB
LOCK_BODY_DEPTH = 8  # its lock info is flat


async def _lock_body(
    request: Request, ctx: ServiceContext, caller: Principal, path: str, *, take: bool
) -> dict[str, Any]:
    """The LOCK/UNLOCK body, read only once the caller may lock the unit, and bounded."""
    await run_in_threadpool(units.authorize_lock, ctx, caller, path, take=take)
    raw = await read_body(request, LOCK_BODY_BYTES, what="The lock body")
    if not raw.strip():
        return {}
    try:  # checked first: json.loads recurses, and takes NaN, a BOM and bad UTF-8
        check_json_bytes(raw, max_depth=LOCK_BODY_DEPTH)
    except JsonError as exc:
        raise Invalid(f"The lock body is not a valid JSON object: {exc}") from None
    body: dict[str, Any] = json.loads(raw)
    check_text(body)
    return body


@router.api_route(
    "/backend/{path:unitpath}",
    methods=["LOCK"],
    response_model=LockInfo,
    responses={423: {"model": BackendLocked, "description": BACKEND_LOCKED}},
)
async def tf_lock(path: str, request: Request, ctx: Context, caller: Caller) -> Response:
    info = await _lock_body(request, ctx, caller, path, take=True)
    return JSONResponse(await run_in_threadpool(units.lock_unit, ctx, caller, path, info))


@router.api_route(
    "/backend/{path:unitpath}",
    methods=["UNLOCK"],
    response_class=Response,
    responses={**EMPTY_OK, 423: {"model": BackendLocked, "description": BACKEND_LOCKED}},
)
async def tf_unlock(path: str, request: Request, ctx: Context, caller: Caller) -> Response:
    info = await _lock_body(request, ctx, caller, path, take=False)
    lock_id = info.get("ID") or None  # an empty body is terraform force-unlock
    await run_in_threadpool(
        lambda: units.unlock_unit(ctx, caller, path, lock_id=str(lock_id) if lock_id else None)
    )
    return Response(status_code=200)


@router.delete("/backend/{path:unitpath}", response_class=Response, responses=EMPTY_OK)
def tf_delete(path: str, ctx: Context, caller: Caller) -> Response:
    units.delete_unit(ctx, caller, path)
    return Response(status_code=200)
