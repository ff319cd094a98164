"""Units: metadata, versions, locks and shares. SQL only; blobs live in the blob store."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from teamgate.domain.levels import DEFAULT_LEVEL, Level
from teamgate.domain.text import has_control
from teamgate.domain.units import MAX_PATH_BYTES
from teamgate.errors import AlreadyExists, NotFound, invalid_cursor
from teamgate.storage.db.listing import Visibility, decode_cursor, encode_cursor
from teamgate.storage.db.tables import access_group, unit, unit_share, unit_version
from teamgate.storage.db.unit_queries import page_parameters, unit_query
from teamgate.storage.db.util import now_text


@dataclass(frozen=True, slots=True)
class Unit:
    id: int
    path: str
    owner: str
    created_at: str
    updated_at: str
    generation: int
    size: int
    sha256: str | None
    blob_key: str | None
    lock_id: str | None
    lock_info: str | None
    locked_by: str | None  # the teamgate user who took the lock (None: taken before 0008)
    # who wrote the current state, and with which API token (None: before 0012, or a password)
    written_by: str | None = None
    token_id: int | None = None

    @property
    def lock(self) -> dict[str, Any] | None:
        return json.loads(self.lock_info) if self.lock_info else None


@dataclass(frozen=True, slots=True)
class Version:
    generation: int
    blob_key: str
    size: int
    sha256: str
    created_at: str
    written_by: str | None = None  # the teamgate user (None: written before 0011/0012)
    token_id: int | None = None  # the API token they used (None: a password, or unknown)


@dataclass(frozen=True, slots=True)
class Writer:
    """Who writes a state: the teamgate user, and the id of the API token they used."""

    user: str
    token_id: int | None = None


def find_unit(conn: Connection, path: str, *, for_update: bool = False) -> Unit | None:
    """The unit at `path`; with `for_update`, its row stays locked until the transaction ends
    (PostgreSQL; SQLite write transactions are serialised already)."""
    query = select(unit).where(unit.c.path == path)
    if for_update:
        query = query.with_for_update()
    row = conn.execute(query).first()
    return Unit(**row._mapping) if row else None


def lock_or_create(conn: Connection, path: str, *, owner: str) -> Unit:
    """Lock the unit's row, creating the unit first when it does not exist (race-safe)."""
    found = find_unit(conn, path, for_update=True)
    if found is not None:
        return found
    try:
        return insert_unit(conn, path, owner=owner)
    except AlreadyExists:  # another writer created it first; wait for and lock its row
        return get_unit_locked(conn, path)


def get_unit_locked(conn: Connection, path: str) -> Unit:
    found = find_unit(conn, path, for_update=True)
    if found is None:
        raise NotFound(f"Unit '{path}' not found")
    return found


def get_unit(conn: Connection, path: str) -> Unit:
    found = find_unit(conn, path)
    if found is None:
        raise NotFound(f"Unit '{path}' not found")
    return found


def insert_unit(conn: Connection, path: str, *, owner: str) -> Unit:
    now = now_text()
    try:
        with conn.begin_nested():
            conn.execute(
                insert(unit).values(
                    path=path, owner=owner, created_at=now, updated_at=now, generation=0, size=0
                )
            )
    except IntegrityError:
        raise AlreadyExists(f"Unit '{path}' already exists") from None
    return get_unit(conn, path)


def share_ids(conn: Connection, unit_id: int) -> dict[int, str]:
    """The groups the unit is shared with: group id → the share's level."""
    query = select(unit_share.c.group_id, unit_share.c.access).where(
        unit_share.c.unit_id == unit_id
    )
    return {r.group_id: r.access for r in conn.execute(query)}


def share_names(conn: Connection, unit_id: int) -> list[tuple[str, str]]:
    """(group name, the share's level) for each group the unit is shared with, by name."""
    rows = conn.execute(
        select(access_group.c.name, unit_share.c.access)
        .join(unit_share, unit_share.c.group_id == access_group.c.id)
        .where(unit_share.c.unit_id == unit_id)
        .order_by(access_group.c.name)
    )
    return [(r.name, r.access) for r in rows]


def add_share(
    conn: Connection,
    unit_id: int,
    group_id: int,
    *,
    path: str,
    group: str,
    access: Level | None = None,
) -> str | None:
    """Share the unit with the group at `access` (None: the default level). Sharing it again
    with another level changes the level and returns the old one; without a level, or with
    the same, it is an AlreadyExists."""
    level = access or DEFAULT_LEVEL
    try:
        with conn.begin_nested():
            conn.execute(
                insert(unit_share).values(
                    unit_id=unit_id, group_id=group_id, created_at=now_text(), access=level
                )
            )
    except IntegrityError:
        where = (unit_share.c.unit_id == unit_id, unit_share.c.group_id == group_id)
        old = conn.execute(select(unit_share.c.access).where(*where)).scalar()
        if old is None or access is None or old == access:
            held = f" ({old})" if old is not None else ""
            raise AlreadyExists(
                f"Unit '{path}' is already shared with group '{group}'{held}"
            ) from None
        conn.execute(update(unit_share).where(*where).values(access=level))
        return str(old)
    return None


def remove_share(conn: Connection, unit_id: int, group_id: int, *, path: str, group: str) -> None:
    result = conn.execute(
        delete(unit_share).where(unit_share.c.unit_id == unit_id, unit_share.c.group_id == group_id)
    )
    if result.rowcount != 1:
        raise NotFound(f"Unit '{path}' is not shared with group '{group}'")


def try_lock(
    conn: Connection, unit_id: int, lock_id: str, info: dict[str, Any], *, locked_by: str
) -> bool:
    """Take the lock for user `locked_by` if it is free: one atomic UPDATE, so exactly one
    caller wins."""
    result = conn.execute(
        update(unit)
        .where(unit.c.id == unit_id, unit.c.lock_id.is_(None))
        .values(lock_id=lock_id, lock_info=json.dumps(info, sort_keys=True), locked_by=locked_by)
    )
    return result.rowcount == 1


def clear_lock(conn: Connection, unit_id: int, lock_id: str | None) -> bool:
    """Release the lock (only if it has `lock_id`, unless None: forced)."""
    condition = unit.c.id == unit_id
    if lock_id is not None:
        condition = and_(condition, unit.c.lock_id == lock_id)
    cleared = {"lock_id": None, "lock_info": None, "locked_by": None}
    result = conn.execute(update(unit).where(condition).values(**cleared))
    return result.rowcount == 1


def record_write(
    conn: Connection, current: Unit, *, blob_key: str, size: int, sha256: str, writer: Writer
) -> Unit:
    """Point the unit at new content written by `writer`, and keep the previous content as a
    version (with its own writer, carried on the unit row until now)."""
    now = now_text()
    if current.blob_key is not None and current.sha256 is not None:
        conn.execute(
            insert(unit_version).values(
                unit_id=current.id,
                generation=current.generation,
                blob_key=current.blob_key,
                size=current.size,
                sha256=current.sha256,
                created_at=current.updated_at,
                written_by=current.written_by,
                token_id=current.token_id,
            )
        )
    conn.execute(
        update(unit)
        .where(unit.c.id == current.id)
        .values(
            blob_key=blob_key,
            size=size,
            sha256=sha256,
            generation=current.generation + 1,
            updated_at=now,
            written_by=writer.user,
            token_id=writer.token_id,
        )
    )
    return get_unit(conn, current.path)


def list_versions(conn: Connection, unit_id: int) -> list[Version]:
    rows = conn.execute(
        select(unit_version)
        .where(unit_version.c.unit_id == unit_id)
        .order_by(unit_version.c.generation.desc())
    )
    return [
        Version(r.generation, r.blob_key, r.size, r.sha256, r.created_at, r.written_by, r.token_id)
        for r in rows
    ]


def prune_versions(conn: Connection, unit_id: int, *, keep: int) -> list[str]:
    """Drop all but the newest `keep` versions; return the blob keys to delete."""
    old = list_versions(conn, unit_id)[keep:]
    if old:
        conn.execute(
            delete(unit_version).where(
                unit_version.c.unit_id == unit_id,
                unit_version.c.generation.in_([v.generation for v in old]),
            )
        )
    return [v.blob_key for v in old]


def delete_unit(conn: Connection, found: Unit) -> list[str]:
    """Delete the unit and its versions; return the blob keys to delete."""
    keys = [v.blob_key for v in list_versions(conn, found.id)]
    if found.blob_key:
        keys.append(found.blob_key)
    conn.execute(delete(unit).where(unit.c.id == found.id))
    return keys


def referenced_blob_keys(conn: Connection, *, prefix: str) -> set[str]:
    """The blob keys under `prefix` that a unit or a version points at (one statement, so
    a key moving from a unit to its versions in a write is seen in one of the two)."""
    current = select(unit.c.blob_key).where(unit.c.blob_key.startswith(prefix, autoescape=True))
    kept = select(unit_version.c.blob_key).where(
        unit_version.c.blob_key.startswith(prefix, autoescape=True)
    )
    return {key for (key,) in conn.execute(current.union_all(kept))}


@dataclass(frozen=True, slots=True)
class UnitPage:
    """Units in path order; `next_cursor` continues after the last one (None at the end)."""

    items: list[Unit]
    next_cursor: str | None


def listing_query(
    dialect: str,
    *,
    visible: Visibility | None,
    prefix: str | None,
    limit: int,
    after: str | None = None,
) -> Select[Any] | None:
    """The statement of `list_units` with its values bound (for EXPLAIN in benchmarks and
    tests); None when nothing can match."""
    last = _cursor_path(after) if after else None
    query = unit_query(visible, prefix, dialect, last is not None)
    return query.params(page_parameters(count=limit + 1, after=last)) if query is not None else None


def list_units(
    conn: Connection,
    *,
    visible: Visibility | None,
    prefix: str | None,
    limit: int,
    after: str | None = None,
) -> UnitPage:
    """Up to `limit` units in path order, restricted to `visible` (None: all), under `prefix`
    (whole segments), after the cursor `after`."""
    last = _cursor_path(after) if after else None
    denied = visible is not None and visible.denies_everything
    query = None if denied else unit_query(visible, prefix, conn.dialect.name, last is not None)
    if query is None:
        return UnitPage([], None)
    rows = conn.execute(query, page_parameters(count=limit + 1, after=last)).all()
    items = [Unit(**r._mapping) for r in rows[:limit]]
    more = len(rows) > limit
    return UnitPage(items, encode_cursor({"p": items[-1].path}) if more else None)


def _cursor_path(cursor: str) -> str:
    """The unit path a unit list cursor names. Not `normalize_path`: a unit stored before a
    rule was added must still be a place to continue from."""
    path: str = decode_cursor(cursor, {"p": str})["p"]
    if len(path.encode()) > MAX_PATH_BYTES or has_control(path):
        raise invalid_cursor("it names no unit path")
    return path
