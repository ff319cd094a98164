"""Units (Terraform/OpenTofu state): create, list, read, write, lock, versions, share.

A write streams into a new blob first; only when the blob is durable does one database
transaction point the unit at it (and keep the old content as a version). A crash in
between leaves the old state and an orphan blob, never a half-written unit.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from teamgate.domain.actions import Action
from teamgate.domain.identity import Principal
from teamgate.domain.levels import DEFAULT_LEVEL, Level
from teamgate.domain.policy import NO_SHARES, Decision, Resource, decide
from teamgate.domain.states import JsonError, check_json
from teamgate.domain.units import normalize_path
from teamgate.errors import Conflict, Invalid, NotFound
from teamgate.services import audit
from teamgate.services.context import (
    ServiceContext,
    check_page,
    facts_for,
    require,
    visible_to,
)
from teamgate.services.unit_locks import (
    LOCK_FIELD_BYTES,
    Locked,
    bounded_lock,
    holder_of,
)
from teamgate.storage.blobs import BlobInfo, BlobStore
from teamgate.storage.db import groups as group_store
from teamgate.storage.db import units as store
from teamgate.storage.db.units import Unit, UnitPage, Version, Writer
from teamgate.storage.db.util import now_text

READ, WRITE, LOCK, DELETE = (
    Action.UNIT_READ,
    Action.UNIT_WRITE,
    Action.UNIT_LOCK,
    Action.UNIT_DELETE,
)
LIST_PAGE = 1000  # units per page when the caller gives no limit


def _resource(found: Unit | None, path: str, shares: Mapping[int, str]) -> Resource:
    """The unit as the policy sees it; a missing one is `new` (nobody owns it yet)."""
    return Resource(
        kind="unit",
        id=path,
        name=path,
        owner=found.owner if found else None,
        shared_with=shares,
        new=found is None,
    )


def decide_on_unit(
    ctx: ServiceContext, principal: Principal, conn: Connection, path: str, action: str
) -> tuple[Unit | None, Decision]:
    """The unit at `path` (None when missing) and the decision on `action` by the caller."""
    found, resource = unit_resource(ctx, conn, path)
    facts = facts_for(ctx, conn, principal)
    return found, decide(principal, action, resource, facts=facts, enforce=ctx.enforce)


def unit_resource(ctx: ServiceContext, conn: Connection, path: str) -> tuple[Unit | None, Resource]:
    """The unit at `path` (None when missing) and what every decision on it is told.

    The server's checks (`decide_on_unit`) and `taco rbac test` both ask here, so they agree.
    A missing unit is new: before `rbac init` its creator may make it (and will own it);
    afterwards creating needs unit.write on its path, so nobody claims another team's.
    """
    found = store.find_unit(conn, path)
    shares = store.share_ids(conn, found.id) if found and ctx.enforce else NO_SHARES
    return found, _resource(found, path, shares)


def _authorized(
    ctx: ServiceContext, principal: Principal, conn: Connection, path: str, action: str
) -> Unit:
    return _allowed(ctx, principal, conn, path, action)[0]


def _allowed(
    ctx: ServiceContext, principal: Principal, conn: Connection, path: str, action: str
) -> tuple[Unit, Decision]:
    """The unit and the decision that allows `action` on it (NotFound, then Forbidden)."""
    found, decision = decide_on_unit(ctx, principal, conn, path, action)
    if found is None:
        raise NotFound(f"Unit '{path}' not found")
    return found, require(decision)


def blobs(ctx: ServiceContext) -> BlobStore:
    if ctx.blobs is None:
        raise Conflict("This server has no blob store configured for unit state")
    return ctx.blobs


def create_unit(ctx: ServiceContext, principal: Principal, raw_path: str) -> Unit:
    path = normalize_path(raw_path)
    with ctx.db.write() as conn:
        found, decision = decide_on_unit(ctx, principal, conn, path, WRITE)
        if found is not None:
            raise Conflict(f"Unit '{path}' already exists")
        require(decision)
        return store.insert_unit(conn, path, owner=principal.display)


def get_unit(
    ctx: ServiceContext, principal: Principal, raw_path: str
) -> tuple[Unit, list[tuple[str, str]]]:
    """The unit and (group name, level) for each group it is shared with."""
    path = normalize_path(raw_path)
    with ctx.db.read() as conn:
        found = _authorized(ctx, principal, conn, path, READ)
        return found, store.share_names(conn, found.id)


def list_units(
    ctx: ServiceContext,
    principal: Principal,
    prefix: str | None,
    *,
    limit: int = LIST_PAGE,
    after: str | None = None,
) -> UnitPage:
    """One page of the units the caller may read, in path order, filtered in the query
    (segment-aware prefix, narrowed to the caller's token scope); `after` is the previous
    page's `next_cursor`."""
    check_page(0, limit)
    clean = normalize_path(prefix) if prefix and prefix.strip("/") else None
    if ctx.enforce and principal.name is None:
        require(decide(principal, READ, Resource("unit", "*", "*"), enforce=True))
    if principal.scope is not None:
        reachable, clean = principal.scope.units_under(clean)
        if not reachable:
            return UnitPage([], None)
    with ctx.db.read() as conn:
        visible = visible_to(ctx, conn, principal, READ)
        return store.list_units(conn, visible=visible, prefix=clean, limit=limit, after=after)


def open_state(
    ctx: ServiceContext, principal: Principal, raw_path: str, *, version: int | None = None
) -> tuple[Unit, Iterator[bytes] | None]:
    """The unit and an iterator over its state (None when it has none yet)."""
    path = normalize_path(raw_path)
    with ctx.db.read() as conn:
        found = _authorized(ctx, principal, conn, path, READ)
        key = found.blob_key
        if version is not None:
            key = _version(conn, found, version).blob_key
    if key is None:
        return found, None
    return found, blobs(ctx).iter_chunks(key)


def _version(conn: Connection, found: Unit, number: int) -> Version:
    for candidate in store.list_versions(conn, found.id):
        if candidate.generation == number:
            return candidate
    raise NotFound(f"Unit '{found.path}' has no version {number}")


@dataclass(frozen=True, slots=True)
class PendingWrite:
    path: str
    key: str


def check_lock(found: Unit | None, lock_id: str | None) -> None:
    """A locked unit may be written only with its lock's ID."""
    if found is None or found.lock_id is None or found.lock_id == lock_id:
        return
    detail = "no lock ID was given" if lock_id is None else f"lock ID '{lock_id}' does not match"
    raise Locked(
        f"Unit '{found.path}' is locked by {holder_of(found)} and {detail}: write with that "
        "lock's ID, or once it is unlocked",
        found,
    )


def begin_write(
    ctx: ServiceContext, principal: Principal, raw_path: str, *, lock_id: str | None
) -> PendingWrite:
    """Check the caller may write (before any body is read) and name the new blob."""
    path = normalize_path(raw_path)
    with ctx.db.read() as conn:
        found, decision = decide_on_unit(ctx, principal, conn, path, WRITE)
    require(decision)
    check_lock(found, lock_id)
    blobs(ctx)
    return PendingWrite(path, f"units/new/{secrets.token_hex(16)}.tfstate")


def validate_json(ctx: ServiceContext, info: BlobInfo) -> None:
    """Refuse a state that is not one JSON object, whatever its size.

    Checked a chunk at a time without building it (`domain.states`): `json.loads` held ~25
    times a state's size; this holds about one chunk. Also refused, as Terraform never
    writes them: NaN and Infinity, a byte order mark, bad UTF-8, nesting past 512 levels.
    """
    if info.size == 0:
        raise Invalid("The state is empty: a Terraform state is a JSON object")
    chunks = blobs(ctx).iter_chunks(info.key)
    try:
        check_json(chunks)
    except JsonError as exc:
        raise Invalid(f"The state is not a valid JSON object: {exc}") from None
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:  # an S3 body stopped early goes back to the pool
            close()


def finish_write(
    ctx: ServiceContext,
    principal: Principal,
    pending: PendingWrite,
    info: BlobInfo,
    *,
    lock_id: str | None,
    restored_from: int | None = None,
) -> Unit:
    """Record the durable blob as the unit's state (creating the unit if needed), written by
    the caller (and their token), with one audit event for the version it makes:
    `unit.write`, or `unit.restore` when it is version `restored_from` again.

    The blob is deleted when the transaction fails before its commit; a failed commit may
    still have committed (a connection lost while COMMIT was under way), so then the blob
    stays: an orphan is harmless, a unit pointing at a deleted blob has lost its state.
    """
    committing = False
    try:
        validate_json(ctx, info)
        with ctx.db.write() as conn:
            store.find_unit(conn, pending.path, for_update=True)  # serialise writers
            found, decision = decide_on_unit(ctx, principal, conn, pending.path, WRITE)
            require(decision)
            check_lock(found, lock_id)
            if found is None:
                found = store.lock_or_create(conn, pending.path, owner=principal.display)
                check_lock(found, lock_id)
            writer = Writer(principal.display, principal.token_id)
            written = store.record_write(
                conn, found, blob_key=info.key, size=info.size, sha256=info.sha256, writer=writer
            )
            _audit_write(conn, principal, written, decision, restored_from=restored_from)
            stale = store.prune_versions(conn, found.id, keep=ctx.max_versions)
            committing = True  # leaving the block commits
    except BaseException:
        if not committing:
            blobs(ctx).delete(info.key)
        raise
    for key in stale:
        blobs(ctx).delete(key)
    return written


def _audit_write(
    conn: Connection,
    principal: Principal,
    written: Unit,
    decision: Decision,
    *,
    restored_from: int | None,
) -> None:
    """The one audit event of a state write, in its transaction: which version it made."""
    detail = f"version {written.generation}, {written.size} bytes, sha256 {written.sha256}"
    if restored_from is not None:
        detail = f"version {written.generation} from version {restored_from}, {written.size} bytes"
    if principal.token_id is not None:
        detail += f", token {principal.token_id}"
    action = "unit.restore" if restored_from is not None else "unit.write"
    audit.record(conn, principal, action, f"unit/{written.path}", decision, detail)


def _lock_detail(lock_id: str, lock: dict[str, str]) -> str:
    """A lock as its audit event shows it: the ID, and what its client said about it."""
    said = [f"{name} {lock[name]!r}" for name in ("Who", "Operation") if lock.get(name)]
    return ", ".join([f"lock {lock_id}", *said])


def authorize_lock(ctx: ServiceContext, principal: Principal, raw_path: str, *, take: bool) -> None:
    """Decide a LOCK (`take`) or UNLOCK before its body is read: unit.lock on the unit, or
    for a missing unit what creating it needs (a LOCK) or NotFound (an UNLOCK).

    `lock_unit` and `unlock_unit` decide again in their transaction; this only keeps a
    caller who may not lock from making the server read a body at all.
    """
    path = normalize_path(raw_path)
    with ctx.db.read() as conn:
        found, decision = decide_on_unit(ctx, principal, conn, path, LOCK)
        if found is None and not take:
            raise NotFound(f"Unit '{path}' not found")
        if found is None:
            decision = decide_on_unit(ctx, principal, conn, path, WRITE)[1]
    require(decision)


def lock_unit(
    ctx: ServiceContext, principal: Principal, raw_path: str, info: dict[str, Any]
) -> dict[str, Any]:
    """Take the unit's lock atomically (creating the unit if the caller may write it)."""
    path = normalize_path(raw_path)
    lock_id = str(info.get("ID") or secrets.token_hex(16))
    if len(lock_id.encode("utf-8", "replace")) > LOCK_FIELD_BYTES:
        raise Invalid(f"The lock ID is longer than {LOCK_FIELD_BYTES} bytes; use a shorter one")
    lock = bounded_lock(
        {
            "ID": lock_id,
            "Operation": info.get("Operation") or "",
            "Info": info.get("Info") or "",
            "Who": info.get("Who") or principal.display,
            "Version": info.get("Version") or "",
            "Created": info.get("Created") or now_text(),
            "Path": path,
        }
    )
    with ctx.db.write() as conn:
        found, decision = decide_on_unit(ctx, principal, conn, path, LOCK)
        if found is None:  # creating the unit needs unit.write; its creator then owns it
            require(decide_on_unit(ctx, principal, conn, path, WRITE)[1])
            found = store.lock_or_create(conn, path, owner=principal.display)
            decision = decide_on_unit(ctx, principal, conn, path, LOCK)[1]
        require(decision)
        if not store.try_lock(conn, found.id, lock_id, lock, locked_by=principal.display):
            holder = store.get_unit(conn, path)
            raise Locked(
                f"Unit '{path}' is already locked by {holder_of(holder)}: try again once it "
                "is unlocked",
                holder,
            )
        audit.record(
            conn, principal, "unit.lock", f"unit/{path}", decision, _lock_detail(lock_id, lock)
        )
    return lock


def unlock_unit(
    ctx: ServiceContext, principal: Principal, raw_path: str, *, lock_id: str | None
) -> Unit:
    """Release the lock; without a lock ID this is a forced unlock (needs unit.lock too,
    and is audited with its holder). Returns the unit as it was, with the lock removed."""
    path = normalize_path(raw_path)
    with ctx.db.write() as conn:
        found, decision = _allowed(ctx, principal, conn, path, LOCK)
        if found.lock_id is None:
            raise Conflict(f"Unit '{path}' is not locked")
        if not store.clear_lock(conn, found.id, lock_id):
            raise Locked(
                f"Lock ID '{lock_id}' does not match the lock on '{path}', held by "
                f"{holder_of(found)}: unlock with that lock's ID, or force the unlock",
                found,
            )
        if lock_id is None:
            held = f"lock held by {holder_of(found)}"
            audit.record(conn, principal, "unit.force_unlock", f"unit/{path}", decision, held)
        else:
            audit.record(
                conn, principal, "unit.unlock", f"unit/{path}", decision, f"lock {lock_id}"
            )
    return found


def delete_unit(ctx: ServiceContext, principal: Principal, raw_path: str) -> Unit:
    path = normalize_path(raw_path)
    with ctx.db.write() as conn:
        found, decision = _allowed(ctx, principal, conn, path, DELETE)
        keys = store.delete_unit(conn, found)
        audit.record(
            conn, principal, "unit.delete", f"unit/{path}", decision, f"owner {found.owner}"
        )
    if ctx.blobs is not None:
        for key in keys:
            ctx.blobs.delete(key)
    return found


def list_versions(ctx: ServiceContext, principal: Principal, raw_path: str) -> list[Version]:
    path = normalize_path(raw_path)
    with ctx.db.read() as conn:
        found = _authorized(ctx, principal, conn, path, READ)
        return store.list_versions(conn, found.id)


def restore(
    ctx: ServiceContext,
    principal: Principal,
    raw_path: str,
    *,
    version: int,
    lock_id: str | None,
) -> Unit:
    """Make an old version the current state (the current one becomes a version)."""
    pending = begin_write(ctx, principal, raw_path, lock_id=lock_id)
    with ctx.db.read() as conn:
        old = _version(conn, store.get_unit(conn, pending.path), version)
    info = blobs(ctx).copy(old.blob_key, pending.key)
    return finish_write(ctx, principal, pending, info, lock_id=lock_id, restored_from=version)


def _share(
    ctx: ServiceContext,
    principal: Principal,
    raw_path: str,
    group_name: str,
    *,
    add: bool,
    access: Level | None = None,
) -> str | None:
    path = normalize_path(raw_path)
    with ctx.db.write() as conn:
        found = store.get_unit(conn, path)
        group = group_store.find_groups_by_name(conn, [group_name]).get(group_name)
        resource = _resource(found, path, store.share_ids(conn, found.id))
        facts = facts_for(ctx, conn, principal)
        action = Action.UNIT_SHARE if add else Action.UNIT_UNSHARE
        # Decided before the group is looked up, so a refused caller cannot learn which
        # group names exist (no group is anyone's to admin, so unknown ones refuse alike).
        group_id = group.id if group is not None else None
        decision = require(
            decide(principal, action, resource, facts=facts, enforce=ctx.enforce, group=group_id)
        )
        if group is None:
            raise NotFound(f"Access group '{group_name}' not found")
        detail = f"group {group.id} '{group_name}'"
        was = None
        if add:
            level = access or DEFAULT_LEVEL
            was = store.add_share(
                conn, found.id, group.id, path=path, group=group_name, access=access
            )
            detail += f" ({level})" if was is None else f" ({was} -> {level})"
        else:
            store.remove_share(conn, found.id, group.id, path=path, group=group_name)
        audit.record(conn, principal, action, f"unit/{path}", decision, detail)
        return was


def share(
    ctx: ServiceContext,
    principal: Principal,
    raw_path: str,
    group: str,
    *,
    access: Level | None = None,
) -> str | None:
    """Share the unit with the group at `access` (None: the default, write); sharing again
    with another level changes it, and the old level is returned."""
    return _share(ctx, principal, raw_path, group, add=True, access=access)


def unshare(ctx: ServiceContext, principal: Principal, raw_path: str, group: str) -> None:
    _share(ctx, principal, raw_path, group, add=False)
