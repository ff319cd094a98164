"""Workflows: create (from a REST model or a full spec), read, list, delete."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection

from teamgate.domain.actions import Action
from teamgate.domain.explanations import Explanation, explain
from teamgate.domain.identity import ANONYMOUS, Principal
from teamgate.domain.policy import NO_SHARES, Decision, Facts, Resource, decide, user_resource
from teamgate.domain.workflows import WorkflowSpec
from teamgate.errors import Invalid, NotFound
from teamgate.services import audit
from teamgate.services.context import (
    ServiceContext,
    check_page,
    facts_for,
    require,
    visible_to,
    workflows_change,
)
from teamgate.storage.db import groups as group_store
from teamgate.storage.db import workflows as store
from teamgate.storage.db.job_runs import RunState, run_states
from teamgate.storage.db.workflows import Workflow, WorkflowFilter, WorkflowPage

READ, WRITE, DELETE = Action.WORKFLOW_READ, Action.WORKFLOW_WRITE, Action.WORKFLOW_DELETE


def workflow_resource(found: Workflow, shared_with: Mapping[int, str]) -> Resource:
    """The workflow as the policy sees it; `shared_with`: group id → the share's level."""
    return Resource(
        kind="workflow",
        id=str(found.id),
        name=f"{found.user}/{found.name}",
        owner=found.user,
        shared_with=shared_with,
    )


def authorize_workflow(
    ctx: ServiceContext, principal: Principal, conn: Connection, workflow_id: int, action: str
) -> Workflow:
    """Load a workflow and require `action` on it; NotFound before Forbidden."""
    found = store.get_workflow(conn, workflow_id)
    decision = explain_workflow(ctx, principal, conn, found, action)
    require(decision)
    return found


def explain_workflow(
    ctx: ServiceContext,
    principal: Principal,
    conn: Connection,
    found: Workflow,
    action: str,
    *,
    shares: Mapping[int, str] | None = None,
) -> Decision:
    if shares is None:
        shares = group_store.workflow_group_ids(conn, found.id) if ctx.enforce else NO_SHARES
    facts = facts_for(ctx, conn, principal)
    return decide(
        principal, action, workflow_resource(found, shares), facts=facts, enforce=ctx.enforce
    )


def _owner(ctx: ServiceContext, principal: Principal, requested: str | None) -> str:
    """Who owns a new workflow: the caller, unless an administrator names someone else."""
    if requested and (principal.is_admin or not ctx.enforce):
        return requested
    return principal.display


def create_workflow(
    ctx: ServiceContext,
    principal: Principal,
    *,
    name: str,
    description: str | None,
    user: str | None = None,
    access_groups: Sequence[str] = (),
    project: str | None = None,
    attributes: dict[str, Any] | None = None,
    spec: WorkflowSpec | None = None,
) -> tuple[Workflow, int]:
    """Create a workflow (with the spec's jobs, if any) and its shares in one transaction."""
    owner = _owner(ctx, principal, user)
    with workflows_change(ctx) as conn:
        # The creator owns it, but an RBAC deny on its name still applies; and with access
        # control off, a scoped token's bound still does.
        new = _new_resource(principal, name=f"{owner}/{name}")
        facts = facts_for(ctx, conn, principal)
        require(decide(principal, WRITE, new, facts=facts, enforce=ctx.enforce))
        groups = _resolve_groups(conn, access_groups)
        created = store.insert_workflow(
            conn,
            name=name,
            user=owner,
            description=description,
            project=project,
            attributes=attributes,
        )
        jobs = store.insert_jobs(conn, created.id, spec) if spec is not None else 0
        if groups:
            facts = facts_for(ctx, conn, principal)
            resource = workflow_resource(created, NO_SHARES)
            for group_id, group_name in groups:
                decision = _require_share(ctx, principal, resource, facts, group_id)
                group_store.share_workflow(conn, created.id, group_id)
                detail = f"group {group_id} '{group_name}' (at creation)"
                audit.record(
                    conn, principal, "workflow.share", f"workflow/{created.id}", decision, detail
                )
        return created, jobs


def owner_notice(requested: str | None, created: Workflow, caller: str | None) -> str | None:
    """What the creator should hear about a spec's `user:` that is not their own name: it was
    ignored (only system administrators may create workflows for others, when access control is
    on), or, for a signed-in administrator, that the workflow now belongs to that user."""
    if not requested or requested == caller:
        return None
    if requested != created.user:
        return (
            f"user '{requested}' in the spec was ignored: the workflow belongs to "
            f"'{created.user}', who created it (only system administrators may create workflows "
            "for other users)"
        )
    if caller is None:
        return None  # no one signed in: the spec's user is the owner, as in Torc
    return (
        f"the workflow belongs to '{requested}', as the spec's user: says, not to you "
        f"('{caller}'): a system administrator may create workflows for other users"
    )


def page_details(
    ctx: ServiceContext, listed: Sequence[Workflow]
) -> tuple[dict[int, list[str]], dict[int, RunState]]:
    """The names of the groups each listed workflow is shared with, and its run state (one
    query each for a page).

    `listed` comes from list_workflows, so the caller may read every one of them, and a
    reader sees a workflow's shares and run state (as get_workflow shows them).
    """
    ids = [w.id for w in listed]
    with ctx.db.read() as conn:
        return group_store.workflow_group_names(conn, ids), run_states(conn, ids)


def _new_resource(principal: Principal, *, name: str | None = None) -> Resource:
    """A workflow `principal` is about to create; `name`: its RBAC name (`owner/name`)."""
    rbac_name = name if name is not None else f"{principal.display}/"
    return Resource(kind="workflow", id="(new)", name=rbac_name, owner=principal.name)


def _require_share(
    ctx: ServiceContext, principal: Principal, resource: Resource, facts: Facts, group_id: int
) -> Decision:
    return require(
        decide(
            principal,
            Action.WORKFLOW_SHARE,
            resource,
            facts=facts,
            enforce=ctx.enforce,
            group=group_id,
        )
    )


def _resolve_groups(conn: Connection, names: Sequence[str]) -> list[tuple[int, str]]:
    found = group_store.find_groups_by_name(conn, names)
    missing = [n for n in names if n not in found]
    if missing:
        raise NotFound(
            f"Access group '{missing[0]}' not found: create it first "
            "(torc access-groups create) or fix access_groups"
        )
    return [(found[n].id, n) for n in dict.fromkeys(names)]


def get_workflow(
    ctx: ServiceContext, principal: Principal, workflow_id: int
) -> tuple[Workflow, list[str], RunState]:
    """The workflow, the names of the groups it is shared with, and its run state."""
    with ctx.db.read_one() as conn:
        shared = store.find_shared_workflow(conn, workflow_id, group_limit=10_000)
        if shared is None:
            raise NotFound(f"Workflow not found with ID: {workflow_id}")
        found, groups = shared.workflow, shared.groups
        require(explain_workflow(ctx, principal, conn, found, READ, shares=shared.levels))
    run = RunState(workflow_id, shared.run_id, shared.is_canceled, shared.is_archived)
    return found, list(groups.values()), run


def delete_workflow(ctx: ServiceContext, principal: Principal, workflow_id: int) -> Workflow:
    with workflows_change(ctx) as conn:
        found = store.get_workflow(conn, workflow_id)
        decision = require(explain_workflow(ctx, principal, conn, found, DELETE))
        detail = f"'{found.name}' of {found.user}"
        audit.record(
            conn, principal, "workflow.delete", f"workflow/{workflow_id}", decision, detail
        )
        return store.delete_workflow(conn, workflow_id)


def list_workflows(
    ctx: ServiceContext,
    principal: Principal,
    *,
    filters: WorkflowFilter,
    offset: int,
    limit: int,
    after: str | None = None,
) -> WorkflowPage:
    """Workflows the caller may read (owner, shared groups, RBAC `workflow.read` patterns
    minus deny patterns), filtered in the query itself; `after` is a page's `next_cursor`.
    A token scoped to one workflow lists that one only; one scoped to units lists none."""
    check_page(offset, limit)
    if filters.sort_by is not None and filters.sort_by not in store.SORT_COLUMNS:
        known = ", ".join(sorted(store.SORT_COLUMNS))
        raise Invalid(f"cannot sort by '{filters.sort_by}': use one of {known}")
    if ctx.enforce and principal.name is None:
        require(decide(principal, READ, _new_resource(principal), enforce=True))
    scope = principal.scope
    if scope is not None and scope.bounds_workflows:
        only = scope.workflow if scope.unit_prefix is None else None
        return _scoped_list(ctx, principal, only, filters, offset=offset, limit=limit, after=after)
    with ctx.db.read() as conn:
        return store.list_workflows(
            conn,
            visible=visible_to(ctx, conn, principal, READ),
            filters=filters,
            offset=offset,
            limit=limit,
            after=after,
            counts=ctx.counts,
        )


def _scoped_list(
    ctx: ServiceContext,
    principal: Principal,
    only: int | None,
    filters: WorkflowFilter,
    *,
    offset: int,
    limit: int,
    after: str | None,
) -> WorkflowPage:
    """The workflow list of a token scoped to workflow `only` (None: to units, so none):
    that one workflow, when the caller may read it and it matches `filters`."""
    with ctx.db.read() as conn:
        found = store.find_workflow(conn, only) if only is not None else None
        if found is not None and not explain_workflow(ctx, principal, conn, found, READ).allowed:
            found = None
    wanted = filters.description
    if found is None or (
        (filters.name is not None and found.name != filters.name)
        or (filters.user is not None and found.user != filters.user)
        or (wanted is not None and wanted not in (found.description or ""))
    ):
        return WorkflowPage([], offset, limit, 0, False)
    items = [found] if offset == 0 and after is None else []
    return WorkflowPage(items, offset, limit, 1, False)


def _require_self_or_admin(
    ctx: ServiceContext, principal: Principal, user: str, *, verb: str
) -> None:
    """A user may ask about their own access; system administrators about anyone's."""
    action = Action.ACCESS_EXPLAIN if verb == "explain" else Action.ACCESS_CHECK
    require(decide(principal, action, user_resource(user), enforce=ctx.enforce))


def check_access(
    ctx: ServiceContext, principal: Principal, workflow_id: int, user: str
) -> Decision:
    """Would `user` (not the caller) be allowed to read the workflow when access is enforced?"""
    _require_self_or_admin(ctx, principal, user, verb="check")
    subject = Principal(name=None if user == ANONYMOUS else user)
    # The decision of `explain_access`, so that the two give the same reason (and hide the
    # same facts from a caller who may not read the workflow).
    return _explain(ctx, principal, workflow_id, subject, READ, enforce=True).decision


EXPLAINABLE = (READ, WRITE, DELETE)


def explain_access(
    ctx: ServiceContext, principal: Principal, workflow_id: int, user: str, *, action: str = READ
) -> Explanation:
    """Every check the server makes on `user` doing `action` on the workflow, and the decision.

    Unlike `check_access`, this answers for the server as configured: with access control off
    the first step says so and everything is allowed.
    """
    if action not in EXPLAINABLE:
        raise Invalid(f"cannot explain action '{action}': use one of {', '.join(EXPLAINABLE)}")
    _require_self_or_admin(ctx, principal, user, verb="explain")
    subject = Principal(name=None if user == ANONYMOUS else user, is_admin=user in ctx.admin_users)
    return _explain(ctx, principal, workflow_id, subject, action, enforce=ctx.enforce)


def _explain(
    ctx: ServiceContext,
    principal: Principal,
    workflow_id: int,
    subject: Principal,
    action: str,
    *,
    enforce: bool,
) -> Explanation:
    """`subject` doing `action` on the workflow, as `principal` may be told it.

    A caller who may not read the workflow (and is no system administrator) learns the
    decision and their own rules, never its name, owner or shares: workflow ids are
    sequential, so anything more would let anyone list whose workflow is whose.
    """
    with ctx.db.read() as conn:
        found = store.get_workflow(conn, workflow_id)
        shares = group_store.workflow_group_ids(conn, found.id) if enforce else NO_SHARES
        resource = workflow_resource(found, shares)
        hidden = _hidden_from(ctx, principal, conn, resource)
        facts = facts_for(replace(ctx, enforce=enforce), conn, subject)
    return explain(subject, action, resource, facts=facts, enforce=enforce, hidden=hidden)


def _hidden_from(
    ctx: ServiceContext, principal: Principal, conn: Connection, resource: Resource
) -> bool:
    """May `principal` not read `resource` (decided for them, as the server would)?"""
    if not ctx.enforce or principal.is_admin:
        return False
    facts = facts_for(ctx, conn, principal)
    return not decide(principal, READ, resource, facts=facts, enforce=True).allowed
