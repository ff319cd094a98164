"""Who can reach a workflow or unit (`torc access who`, `taco unit access`), and how.

Nothing here decides by itself: the answer is `decide()`'s, asked for every candidate and every
action of the resource's kind, over the same facts the server enforces with (the resource's
owner and shares as every request on it loads them; each user's groups and effective RBAC
rules, direct or through a group's role, from the access cache). So a user is listed with an
action exactly when a request of theirs for that action would be allowed by the policy.

The candidates are everyone who could possibly be allowed: the owner, the members of the
groups the resource is shared with, users holding an RBAC role, members of groups holding
one, and the system administrators. At most `MAX_CANDIDATES` are asked about (the answer
says when there were more). A system administrator is listed as a user only for what a share,
ownership or a rule gives them; what they may do only as administrators (share, unshare) is
listed apart, under `administrators`.

A deny rule that takes an action from someone who would otherwise have it (by ownership, a
share or an allow rule) is listed under that user's `blocked`, with what it overrides. The
answer is about users signed in with their password: a token's scope only narrows it.

Only the resource's owner, its `admin`-level groups, RBAC managers and system administrators
may ask (`Action.ACCESS_WHO`); a missing resource is 404 first. Asking changes nothing and,
like `access explain` and `rbac test`, is not audited (a refusal is, by the web layer).
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from sqlalchemy import Connection

from teamgate.domain.actions import Action, DecidedBy
from teamgate.domain.identity import Principal
from teamgate.domain.levels import allows
from teamgate.domain.policy import Facts, Resource, RuleSet, decide
from teamgate.domain.rules import Effect
from teamgate.domain.units import normalize_path
from teamgate.errors import NotFound, TooManyRequests
from teamgate.services import units
from teamgate.services.context import ServiceContext, facts_for, require
from teamgate.services.workflows import workflow_resource
from teamgate.storage.db import groups as group_store
from teamgate.storage.db import reach as store
from teamgate.storage.db import workflows as workflow_store

MAX_CANDIDATES = 10_000
# Answers computed at once per process, and how long another waits for its turn: one answer
# may load thousands of users' facts (seconds with a cold cache), so however many callers
# ask, they use at most this many threads and never the whole pool.
MAX_AT_ONCE = 2
WAIT_SECS: float = 30
_TURNS = threading.BoundedSemaphore(MAX_AT_ONCE)

ACTIONS: dict[str, tuple[str, ...]] = {
    "workflow": (
        Action.WORKFLOW_READ,
        Action.WORKFLOW_WRITE,
        Action.WORKFLOW_DELETE,
        Action.WORKFLOW_SHARE,
    ),
    "unit": (
        Action.UNIT_READ,
        Action.UNIT_WRITE,
        Action.UNIT_LOCK,
        Action.UNIT_DELETE,
        Action.UNIT_SHARE,
    ),
}


@dataclass(frozen=True, slots=True)
class Allowed:
    action: str
    reason: str  # decide()'s: "owner", "group 'x' (read)", "rule … via role 'r' of group 'g'"


@dataclass(frozen=True, slots=True)
class Blocked:
    action: str
    rule: str  # the deny rule, as decide() names it
    overrides: str  # what would allow the action without the deny rule


@dataclass(frozen=True, slots=True)
class UserReach:
    user: str
    actions: list[str]  # allowed, in the kind's order
    via: list[Allowed]  # one per allowed action
    blocked: list[Blocked] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class AdminReach:
    user: str
    actions: list[str]  # allowed only because they are a system administrator


@dataclass(frozen=True, slots=True)
class GroupReach:
    id: int
    name: str
    level: str
    members: int
    actions: list[str]  # what the level allows, of the kind's actions


@dataclass(frozen=True, slots=True)
class Reach:
    kind: str
    id: str
    name: str
    owner: str | None
    access_control: bool  # False: the server lets everyone do everything (answer: as if on)
    actions: list[str]  # the actions asked about, for every candidate
    groups: list[GroupReach]
    users: list[UserReach]
    administrators: list[AdminReach]
    candidates: int  # users asked about
    truncated: bool  # more candidates than MAX_CANDIDATES: some users may be missing

    def as_json(self) -> dict[str, Any]:
        """The REST answer (see `who_workflow`)."""
        body = asdict(self)
        kind, id, name = body.pop("kind"), body.pop("id"), body.pop("name")
        return {"resource": {"kind": kind, "id": id, "name": name}, **body}


def who_workflow(ctx: ServiceContext, principal: Principal, workflow_id: int) -> Reach:
    """Who can reach workflow `workflow_id`, and how (NotFound, then Forbidden).

    As JSON (`Reach.as_json`; a unit's is the same with unit actions):

        {"resource": {"kind": "workflow", "id": "1", "name": "alice/ml"},
         "owner": "alice", "access_control": true,
         "actions": ["workflow.read", "workflow.write", "workflow.delete", "workflow.share"],
         "groups": [{"id": 1, "name": "readers", "level": "read", "members": 2,
                     "actions": ["workflow.read"]}],
         "users": [{"user": "bob", "actions": ["workflow.read"],
                    "via": [{"action": "workflow.read", "reason": "group 'readers' (read)"}],
                    "blocked": [{"action": "workflow.write", "rule": "explicit deny by …",
                                 "overrides": "group 'writers' (write)"}]}],
         "administrators": [{"user": "root", "actions": ["workflow.share"]}],
         "candidates": 7, "truncated": false}

    `users` holds everyone with an allowed action or a blocked one, by name; `groups` the
    shares, by group id; `administrators` what system administrators may do as such only.
    """
    with ctx.db.read() as conn:
        found = workflow_store.get_workflow(conn, workflow_id)
        resource = workflow_resource(found, group_store.workflow_group_ids(conn, found.id))
        return _reach(ctx, principal, conn, resource)


def who_unit(ctx: ServiceContext, principal: Principal, raw_path: str) -> Reach:
    """Who can reach the unit at `raw_path`, and how (NotFound, then Forbidden)."""
    path = normalize_path(raw_path)
    with ctx.db.read() as conn:
        found, resource = units.unit_resource(replace(ctx, enforce=True), conn, path)
        if found is None:
            raise NotFound(f"Unit '{path}' not found")
        return _reach(ctx, principal, conn, resource)


def _reach(
    ctx: ServiceContext, principal: Principal, conn: Connection, resource: Resource
) -> Reach:
    facts = facts_for(ctx, conn, principal)
    require(decide(principal, Action.ACCESS_WHO, resource, facts=facts, enforce=ctx.enforce))
    if not _TURNS.acquire(timeout=WAIT_SECS):
        raise TooManyRequests(
            "Other questions of who can reach what are being answered: try again shortly",
            retry_after=max(1, round(WAIT_SECS)),
        )
    try:
        return _answer(ctx, conn, resource)
    finally:
        _TURNS.release()


def _answer(ctx: ServiceContext, conn: Connection, resource: Resource) -> Reach:
    actions = ACTIONS[resource.kind]
    names, truncated = store.candidates(conn, resource.shared_with, limit=MAX_CANDIDATES)
    everyone = sorted({*names, *([resource.owner] if resource.owner else []), *ctx.admin_users})
    users: list[UserReach] = []
    administrators: list[AdminReach] = []
    for user in everyone:
        subject = Principal(name=user, is_admin=user in ctx.admin_users, method="password")
        found, as_admin = _user_reach(subject, resource, ctx.access.facts_for(conn, user), actions)
        if found is not None:
            users.append(found)
        if as_admin:
            administrators.append(AdminReach(user, as_admin))
    groups = [
        GroupReach(
            g.id,
            g.name,
            resource.shared_with[g.id],
            g.members,
            [a for a in actions if allows(resource.shared_with[g.id], resource.kind, a)],
        )
        for g in store.groups_with_sizes(conn, resource.shared_with)
    ]
    return Reach(
        kind=resource.kind,
        id=resource.id,
        name=resource.name,
        owner=resource.owner,
        access_control=ctx.enforce,
        actions=list(actions),
        groups=groups,
        users=users,
        administrators=administrators,
        candidates=len(everyone),
        truncated=truncated,
    )


def _user_reach(
    subject: Principal, resource: Resource, facts: Facts, actions: tuple[str, ...]
) -> tuple[UserReach | None, list[str]]:
    """What `subject` may do (None: nothing, and no deny rule takes anything from them), and
    the actions they may do only as a system administrator."""
    via: list[Allowed] = []
    blocked: list[Blocked] = []
    as_admin: list[str] = []
    for action in actions:
        decision = decide(subject, action, resource, facts=facts, enforce=True)
        if decision.allowed:
            if decision.decided_by is DecidedBy.ADMIN:
                as_admin.append(action)
            else:
                via.append(Allowed(action, decision.reason))
        elif decision.decided_by is DecidedBy.DENY_RULE:
            otherwise = _without_denies(subject, action, resource, facts)
            if otherwise is not None:
                blocked.append(Blocked(action, decision.reason, otherwise))
    if not via and not blocked:
        return None, as_admin
    return UserReach(subject.name or "", [a.action for a in via], via, blocked), as_admin


def _without_denies(
    subject: Principal, action: str, resource: Resource, facts: Facts
) -> str | None:
    """What would allow `action` if the user's deny rules were gone (None: nothing would)."""
    allow_only = RuleSet(g for g in facts.rules.grants if g.rule.effect is Effect.ALLOW)
    decision = decide(
        subject, action, resource, facts=replace(facts, rules=allow_only), enforce=True
    )
    return decision.reason if decision.allowed else None
