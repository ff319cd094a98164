"""The console's Units section: the list (the same query as GET /v1/units), one unit's page
(versions and their writers, the lock and its holder, shares), downloads, force-unlock and
sharing, all through services.units as the API calls them. A change the service rejects
(Invalid, NotFound, Conflict) shows the unit's page again with why and what was typed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from teamgate.domain.identity import Principal
from teamgate.domain.levels import Level
from teamgate.domain.units import normalize_path
from teamgate.errors import NotFound
from teamgate.services import abilities, units
from teamgate.services.context import ServiceContext
from teamgate.services.unit_locks import bounded_lock
from teamgate.web import units_api  # noqa: F401  (registers the `unitpath` convertor)
from teamgate.web.ui.forms import attempt
from teamgate.web.ui.gate import Context, Viewer, console_router
from teamgate.web.ui.render import PAGE_SIZE, clamp_page, page

router = console_router()

DONE = {
    "unlocked": "The lock was removed.",
    "shared": "The unit is shared with the group.",
    "unshared": "The group no longer has access to the unit.",
}


def unit_href(path: str) -> str:
    """The console address of a unit: each segment URL-encoded."""
    return "/ui/units/" + "/".join(quote(part, safe="") for part in path.split("/"))


def state_href(path: str, version: int | None = None) -> str:
    href = "/ui/state/" + "/".join(quote(part, safe="") for part in path.split("/"))
    return href if version is None else f"{href}?version={version}"


def action_href(what: str, path: str) -> str:
    return f"/ui/{what}/" + "/".join(quote(part, safe="") for part in path.split("/"))


LINKS: dict[str, Any] = {
    "unit_href": unit_href,
    "state_href": state_href,
    "action_href": action_href,
}


@router.get("/units", include_in_schema=False)
def unit_list(
    request: Request,
    ctx: Context,
    viewer: Viewer,
    prefix: Annotated[str | None, Query(max_length=1024)] = None,
    limit: int = PAGE_SIZE,
    after: Annotated[str | None, Query(max_length=4096)] = None,
) -> HTMLResponse:
    limit = clamp_page(0, limit)[1]
    found = units.list_units(ctx, viewer, prefix or None, limit=limit, after=after or None)
    return page(
        request,
        "units.html",
        title="Units",
        section="Units",
        found=found,
        prefix=prefix or "",
        limit=limit,
        **LINKS,
    )


@router.get("/units/{path:unitpath}", include_in_schema=False)
def unit_page(
    request: Request,
    ctx: Context,
    viewer: Viewer,
    path: str,
    done: Annotated[str | None, Query(max_length=32)] = None,
) -> HTMLResponse:
    return _unit(request, ctx, viewer, path, done=DONE.get(done or ""))


def _unit(
    request: Request,
    ctx: ServiceContext,
    viewer: Principal,
    path: str,
    *,
    done: str | None = None,
    error: str | None = None,
    status: int = 200,
    typed: dict[str, str] | None = None,
) -> HTMLResponse:
    found, shares = units.get_unit(ctx, viewer, path)
    versions = units.list_versions(ctx, viewer, path)
    can = abilities.unit_abilities(ctx, viewer, found.path)
    return page(
        request,
        "unit.html",
        title=f"Unit {found.path}",
        section="Units",
        status=status,
        unit=found,
        lock=bounded_lock(found.lock or {}) if found.lock_id else None,
        shares=shares,
        versions=versions,
        can=can,
        levels=[level.value for level in Level],
        done=done,
        error=error,
        typed=typed or {},
        **LINKS,
    )


def _filename(path: str, version: int | None) -> str:
    """A download's file name: the unit's last segment, in safe characters only."""
    last = path.rsplit("/", 1)[-1]
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in last)
    suffix = f".v{version}" if version is not None else ""
    return f"{safe.strip('.') or 'state'}{suffix}.tfstate"


@router.get("/state/{path:unitpath}", include_in_schema=False)
def download(
    ctx: Context,
    viewer: Viewer,
    path: str,
    version: Annotated[int | None, Query(ge=0, le=2**62)] = None,
) -> StreamingResponse:
    """The unit's state (or an earlier version) as a file, decided as GET /v1/state is."""
    found, chunks = units.open_state(ctx, viewer, path, version=version)
    if chunks is None:
        raise NotFound(f"Unit '{found.path}' has no state yet")
    name = _filename(found.path, version)
    headers = {
        "Content-Disposition": f'attachment; filename="{name}"',
        "X-Unit-Version": str(found.generation if version is None else version),
    }
    return StreamingResponse(_closing(chunks), media_type="application/json", headers=headers)


def _closing(chunks: Iterator[bytes]) -> Iterator[bytes]:
    try:
        yield from chunks
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


def _back(path: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"{unit_href(path)}?done={done}", status_code=303)


def _change(
    request: Request,
    ctx: ServiceContext,
    viewer: Principal,
    path: str,
    change: Callable[[], object],
    *,
    done: str,
    typed: dict[str, str] | None = None,
) -> Response:
    """Make `change`, then back to the unit's page saying so; or its page again with why (and
    what was `typed` in the form)."""
    return attempt(
        change,
        then=lambda _made: _back(normalize_path(path), done),
        again=lambda error, status: _unit(
            request, ctx, viewer, path, error=error, status=status, typed=typed
        ),
    )


@router.post("/locks/{path:unitpath}", include_in_schema=False)
def force_unlock(request: Request, ctx: Context, viewer: Viewer, path: str) -> Response:
    """Force the unit's lock off (the API's DELETE /v1/locks/<path>?force=true)."""
    return _change(
        request,
        ctx,
        viewer,
        path,
        lambda: units.unlock_unit(ctx, viewer, path, lock_id=None),
        done="unlocked",
    )


@router.post("/shares/{path:unitpath}", include_in_schema=False)
def share(
    request: Request,
    ctx: Context,
    viewer: Viewer,
    path: str,
    group: Annotated[str, Form(min_length=1, max_length=255)],
    access: Annotated[Literal["read", "write", "admin"], Form()] = "write",
) -> Response:
    return _change(
        request,
        ctx,
        viewer,
        path,
        lambda: units.share(ctx, viewer, path, group, access=Level(access)),
        done="shared",
        typed={"group": group, "access": access},
    )


@router.post("/unshare/{path:unitpath}", include_in_schema=False)
def unshare(
    request: Request,
    ctx: Context,
    viewer: Viewer,
    path: str,
    group: Annotated[str, Form(min_length=1, max_length=255)],
) -> Response:
    return _change(
        request,
        ctx,
        viewer,
        path,
        lambda: units.unshare(ctx, viewer, path, group),
        done="unshared",
    )
