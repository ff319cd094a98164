"""The records around a run — files, user data, resource requirements, compute nodes and events —
each decided on its own workflow through the one gate.

Reading a record or a list needs `workflow.read` on the workflow; creating, changing or deleting
one needs `workflow.write`. A record is loaded first (an unknown id is 404), then decided on the
workflow it belongs to, then changed, all in one transaction: a refused write changes nothing. A
record never moves to another workflow, and job ids in a request must name jobs of the record's
own workflow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection
from sqlalchemy.exc import IntegrityError

from teamgate.domain.actions import Action
from teamgate.domain.identity import Principal
from teamgate.domain.spec_values import memory_bytes, runtime_seconds
from teamgate.errors import AlreadyExists, Conflict, Invalid
from teamgate.services.context import ServiceContext, check_page
from teamgate.services.workflows import authorize_workflow
from teamgate.storage.db import run_records as store
from teamgate.storage.db.events import event_category
from teamgate.storage.db.groups import Page
from teamgate.storage.db.run_records import (
    EVENTS,
    RESOURCE_REQUIREMENTS,
    USER_DATA,
    Kind,
)

READ, WRITE = Action.WORKFLOW_READ, Action.WORKFLOW_WRITE
DEFAULT_RR = "default"  # every workflow has one; jobs naming none use it

Record = dict[str, Any]
# A change's last check before it is stored: gets the connection, the record as it is (None
# when creating) and the new values; returns the values to store (raises to refuse).
Check = Callable[[Connection, Record | None, Record], Record]


def get_record(ctx: ServiceContext, principal: Principal, kind: Kind, record_id: int) -> Record:
    with ctx.db.read() as conn:
        found = store.get(conn, kind, record_id)
        authorize_workflow(ctx, principal, conn, found["workflow_id"], READ)
        return found


def list_records(
    ctx: ServiceContext,
    principal: Principal,
    kind: Kind,
    workflow_id: int,
    where: Sequence[ColumnElement[bool]] = (),
    *,
    offset: int,
    limit: int,
    sort_by: str | None = None,
    reverse: bool = False,
) -> Page[Record]:
    """One page of the workflow's records; the caller must be able to read the workflow."""
    check_page(offset, limit)
    with ctx.db.read() as conn:
        authorize_workflow(ctx, principal, conn, workflow_id, READ)
        return store.page(
            conn,
            kind,
            workflow_id,
            where,
            offset=offset,
            limit=limit,
            sort_by=sort_by,
            reverse=reverse,
        )


def create_record(
    ctx: ServiceContext,
    principal: Principal,
    kind: Kind,
    values: Record,
    *,
    check: Check | None = None,
    then: Callable[[Connection, Record], None] | None = None,
) -> Record:
    """Store a new record in `values["workflow_id"]`, which the caller must be able to write;
    `then` runs after the insert, in the same transaction (links to jobs)."""
    with ctx.db.write() as conn:
        authorize_workflow(ctx, principal, conn, values["workflow_id"], WRITE)
        if check is not None:
            values = check(conn, None, values)

        def write() -> Record:
            created = store.insert_record(conn, kind, values)
            if then is not None:  # in the savepoint: a job deleted meanwhile is a 409 too
                then(conn, created)
            return created

        return _stored(conn, kind, write)


def update_record(
    ctx: ServiceContext,
    principal: Principal,
    kind: Kind,
    record_id: int,
    values: Record,
    *,
    check: Check | None = None,
) -> Record:
    """Change the fields in `values`; the record stays in its workflow."""
    with ctx.db.write() as conn:
        found = store.get(conn, kind, record_id)
        workflow_id = found["workflow_id"]
        authorize_workflow(ctx, principal, conn, workflow_id, WRITE)
        moved = values.pop("workflow_id", workflow_id)
        if moved != workflow_id:
            raise Invalid(
                f"workflow_id: {kind.noun.lower()} {record_id} belongs to workflow "
                f"{workflow_id} and cannot be moved to workflow {moved}"
            )
        if check is not None:
            values = check(conn, found, values)
        return _stored(conn, kind, lambda: store.update_record(conn, kind, record_id, values))


def delete_record(
    ctx: ServiceContext,
    principal: Principal,
    kind: Kind,
    record_id: int,
    *,
    check: Callable[[Record], None] | None = None,
) -> Record:
    with ctx.db.write() as conn:
        found = store.get(conn, kind, record_id)
        authorize_workflow(ctx, principal, conn, found["workflow_id"], WRITE)
        if check is not None:
            check(found)
        store.require_unused(conn, kind, record_id)
        return store.delete_record(conn, kind, record_id)


def _stored(conn: Connection, kind: Kind, write: Callable[[], Record]) -> Record:
    """`write()` in a savepoint: a name taken or a workflow deleted meanwhile (by a concurrent
    request, after this one's checks) is 409, not a server error."""
    try:
        with conn.begin_nested():
            return write()
    except IntegrityError:
        if kind is RESOURCE_REQUIREMENTS:
            raise AlreadyExists("name: resource requirements of this name already exist") from None
        raise Conflict(f"{kind.noun} changed concurrently by another request: try again") from None


# -- user data -------------------------------------------------------------------------------


def create_user_data(
    ctx: ServiceContext,
    principal: Principal,
    values: Record,
    *,
    consumer_job_id: int | None = None,
    producer_job_id: int | None = None,
) -> Record:
    """New user data, read by `consumer_job_id` and written by `producer_job_id` (jobs of the
    same workflow) when given."""

    def check(conn: Connection, _found: Record | None, new: Record) -> Record:
        jobs = (("consumer_job_id", consumer_job_id), ("producer_job_id", producer_job_id))
        for field, job_id in jobs:
            if job_id is not None:
                store.require_job_in_workflow(conn, job_id, new["workflow_id"], field)
        return new

    def link(conn: Connection, created: Record) -> None:
        store.link_user_data(
            conn, created, consumer_job_id=consumer_job_id, producer_job_id=producer_job_id
        )

    return create_record(ctx, principal, USER_DATA, values, check=check, then=link)


# -- resource requirements ---------------------------------------------------------------------


def _check_resource_requirements(conn: Connection, found: Record | None, new: Record) -> Record:
    """`default` is reserved (every workflow has one, made with it); names are unique in a
    workflow; `memory` and `runtime` are stored parsed too, for claims."""
    workflow_id = new.get("workflow_id", found["workflow_id"] if found else None)
    name = new.get("name")
    if found is not None and found["name"] == DEFAULT_RR and name not in (None, DEFAULT_RR):
        raise Conflict(f"resource requirements '{DEFAULT_RR}' cannot be renamed")
    if name is not None and (found is None or name != found["name"]):
        if name == DEFAULT_RR:
            raise Conflict(
                f"name: '{DEFAULT_RR}' is reserved: every workflow has its own, used by jobs "
                "that name none"
            )
        assert workflow_id is not None
        if store.resource_requirements_named(conn, workflow_id, name) is not None:
            raise AlreadyExists(
                f"name: resource requirements '{name}' already exist in workflow {workflow_id}"
            )
    out = dict(new)
    if "memory" in new:
        out["memory_bytes"] = memory_bytes(new["memory"])
    if "runtime" in new:
        out["runtime_s"] = runtime_seconds(new["runtime"])
    return out


def _refuse_default_delete(found: Record) -> None:
    if found["name"] == DEFAULT_RR:
        raise Conflict(
            f"resource requirements '{DEFAULT_RR}' cannot be deleted: jobs that name none use it"
        )


def create_resource_requirements(
    ctx: ServiceContext, principal: Principal, values: Record
) -> Record:
    return create_record(
        ctx, principal, RESOURCE_REQUIREMENTS, values, check=_check_resource_requirements
    )


def update_resource_requirements(
    ctx: ServiceContext, principal: Principal, record_id: int, values: Record
) -> Record:
    return update_record(
        ctx, principal, RESOURCE_REQUIREMENTS, record_id, values, check=_check_resource_requirements
    )


def delete_resource_requirements(
    ctx: ServiceContext, principal: Principal, record_id: int
) -> Record:
    return delete_record(
        ctx, principal, RESOURCE_REQUIREMENTS, record_id, check=_refuse_default_delete
    )


# -- events ---------------------------------------------------------------------------------


def create_event(ctx: ServiceContext, principal: Principal, values: Mapping[str, Any]) -> Record:
    record = {**values, "category": event_category(values.get("data"))}
    return create_record(ctx, principal, EVENTS, record)
