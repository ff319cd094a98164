"""The one access decision: `decide(principal, action, resource, facts=…)`.

Pure: no I/O. The service layer gathers the facts (owner, shares, the caller's groups
and effective RBAC rules) and asks here. Order when access control is on:
anonymous → deny; RBAC deny → deny; owner → allow; shared group → allow;
RBAC allow → allow; otherwise deny. A unit not created yet has no owner: before `rbac init`
its creator may create it, afterwards creating needs an RBAC allow for unit.write.

A share gives its group a level (`domain.levels`): `read`, `write` (the default) or `admin`;
a member gets what the level allows, and the reason names the group and the level that did.
RBAC rules come from the roles a user holds and the roles of the groups they are in (the
reason then says "via role 'x' of group 'y'").

Sharing (`workflow.share`, `unit.share`) needs the right to share that resource: its owner,
a group it is shared with at level `admin`, an RBAC allow for the share action on its name
(for a unit, `unit.share` or, as before `unit.share` existed, `workflow.share`), or a system
administrator (audited as such). A group's admin gets no right over what they do not
control. Unsharing (`*.unshare`, decided under the same rules) is also open to the admins of
the group losing access. Deny rules win in both. Asking who can reach a resource
(`access.who`) is for its owner, its `admin`-level groups, RBAC managers and system
administrators. Administrative actions are decided in `domain.admin_decisions`.

A runner token's caller (`Principal.workflow_scope`) is bounded before anything else: only
`SCOPED_ACTIONS` (reading the workflow, and workflow.write, which claiming, starting and
completing its jobs need) on that one workflow can be allowed, and then only if the user
could do them. A user's own token may carry a scope too (`TokenScope`: read-only, a unit
prefix, one workflow), applied the same way. Scopes belong to the credential, so they hold
with access control off too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NamedTuple

from teamgate.domain import admin_decisions as admin
from teamgate.domain.actions import SHARE_RULES, Action, DecidedBy
from teamgate.domain.admin_decisions import Verdict, allow, deny
from teamgate.domain.identity import Principal, TokenScope
from teamgate.domain.levels import allows, weakest_allowing
from teamgate.domain.rules import Effect, PatternIndex, Rule

# Short names for the actions services ask about most (see domain.actions for all of them).
ADMIN = Action.SYSTEM_ADMIN
GROUP_MEMBERS = Action.GROUP_MEMBERS
RBAC_MANAGE = Action.RBAC_MANAGE
RBAC_RESOURCE_NAME = "*"


@dataclass(frozen=True, slots=True)
class Grant:
    """A rule as one user holds it: through which permission and role, and for a role of an
    access group, through which group."""

    rule: Rule
    permission: str
    role: str
    group: str | None = None

    def describe(self) -> str:
        via = f"role '{self.role}'"
        if self.group is not None:
            via += f" of group '{self.group}'"
        return f"rule {self.rule.text} of permission '{self.permission}' via {via}"


class RuleSet:
    """A user's effective RBAC rules, indexed by effect and action for quick matching.

    Each (effect, action) pair gets a `PatternIndex` over the resource patterns of the rules
    that name the action or `*`, built the first time it is asked for; a user's RuleSet is
    cached by the server until RBAC data changes, so lookups cost a few dict probes.
    """

    __slots__ = ("_allow", "_buckets", "_deny", "grants")

    def __init__(self, grants: Iterable[Grant] = ()) -> None:
        self.grants: tuple[Grant, ...] = tuple(grants)
        # Keyed by plain strings: hashing an Enum member runs Python code on every lookup.
        self._buckets: dict[str, dict[str, list[tuple[str, Grant]]]] = {
            Effect.ALLOW.value: {},
            Effect.DENY.value: {},
        }
        self._allow: dict[str, PatternIndex[Grant]] = {}
        self._deny: dict[str, PatternIndex[Grant]] = {}
        for grant in self.grants:
            buckets = self._buckets[grant.rule.effect.value]
            for action in grant.rule.actions:
                bucket = buckets.setdefault(action, [])
                bucket.extend((pattern, grant) for pattern in grant.rule.resources)

    def _entries(self, effect: Effect, action: str) -> list[tuple[str, Grant]]:
        buckets = self._buckets[effect.value]
        named = buckets.get(action, [])
        wildcard = buckets.get("*", []) if action != "*" else []
        return named + wildcard

    def match(self, effect: Effect, action: str, resource: str) -> Grant | None:
        """The first grant of `effect` whose rule covers (action, resource), if any."""
        indexes = self._deny if effect is Effect.DENY else self._allow
        index = indexes.get(action)
        if index is None:
            index = indexes[action] = PatternIndex(self._entries(effect, action))
        return index.first(resource)

    def patterns(self, effect: Effect, action: str) -> list[str]:
        """Resource patterns of `effect` rules that cover `action` (for SQL filtering)."""
        return list(dict.fromkeys(p for p, _grant in self._entries(effect, action)))

    def __bool__(self) -> bool:
        return bool(self.grants)


EMPTY_RULES = RuleSet()


NO_SHARES: Mapping[int, str] = MappingProxyType({})


class Resource(NamedTuple):
    """What is being accessed. `name` is the RBAC resource name (unit path, `owner/name`);
    `shared_with` maps each group it is shared with to the share's level.

    A NamedTuple rather than a frozen dataclass: one is built per request and per listed
    item, and tuple construction is several times cheaper. `new`: not created yet (a unit
    about to be created has no owner; see `decide`).
    """

    kind: str  # "workflow" | "unit" | "rbac" | "user" (a question about that user)
    id: str  # as shown in messages: workflow id, unit path
    name: str
    owner: str | None = None
    shared_with: Mapping[int, str] = NO_SHARES
    new: bool = False


def user_resource(user: str) -> Resource:
    """A user as what is asked about (their access, groups or tokens): they own it."""
    return Resource(kind="user", id=user, name=user, owner=user)


@dataclass(frozen=True, slots=True)
class Facts:
    """What the server knows about the caller, beyond the principal itself."""

    groups: Mapping[int, str] = field(default_factory=dict)  # group id → name (member of)
    admin_of: frozenset[int] = frozenset()  # groups where the caller has role admin
    rules: RuleSet = EMPTY_RULES
    rbac_initialized: bool = False  # after `rbac init`, creating a unit needs unit.write
    admins_configured: bool = True  # only for rbac.init: the first caller may init without


NO_FACTS = Facts()


class Decision(NamedTuple):
    """The answer of `decide()`; true when allowed.

    It names the `action` it was asked about (for metrics and the audit log) and what
    decided it (`decided_by`, typed; `reason` says the same in words, naming the group or
    rule); a denial also names the `resource`, the way the audit log names things
    (`workflow/1`, `unit/dev/app`, `group/2`, `user/bob`; None when there is no one resource,
    as for system administration).
    """

    allowed: bool
    reason: str  # what decided, for explain/audit
    message: str = ""  # what a denied caller is told
    action: str = ""  # set by decide()
    resource: str | None = None  # set on denials only
    decided_by: DecidedBy = DecidedBy.OTHER  # set by decide()

    def __bool__(self) -> bool:
        return self.allowed


# What a runner token may be allowed, on its own workflow only: the runner's calls (claim,
# start, complete, register a compute node) are decided as workflow.write.
SCOPED_ACTIONS: frozenset[str] = frozenset({Action.WORKFLOW_READ, Action.WORKFLOW_WRITE})
# What a read-only token may be allowed: reading, questions about access, and its tokens.
READ_ACTIONS: frozenset[str] = frozenset(
    {
        Action.WORKFLOW_READ,
        Action.WORKFLOW_SHARES,
        Action.UNIT_READ,
        Action.GROUP_READ,
        Action.USER_GROUPS,
        Action.ACCESS_CHECK,
        Action.ACCESS_EXPLAIN,
        Action.ACCESS_WHO,
        Action.AUDIT_READ,
    }
)
# What a token scoped to units under a prefix, or to one workflow, may be allowed on them.
UNIT_ACTIONS: frozenset[str] = frozenset(
    {
        Action.UNIT_READ,
        Action.UNIT_WRITE,
        Action.UNIT_LOCK,
        Action.UNIT_DELETE,
        Action.UNIT_SHARE,
        Action.UNIT_UNSHARE,
        Action.ACCESS_WHO,
    }
)
WORKFLOW_ACTIONS: frozenset[str] = frozenset(
    {
        Action.WORKFLOW_READ,
        Action.WORKFLOW_WRITE,
        Action.WORKFLOW_DELETE,
        Action.WORKFLOW_SHARE,
        Action.WORKFLOW_SHARES,
        Action.WORKFLOW_UNSHARE,
        Action.ACCESS_WHO,
    }
)
# Whatever its scope, a token may list and revoke its user's tokens (ending access is safe).
_ALWAYS_IN_SCOPE: frozenset[str] = frozenset({Action.TOKEN_LIST, Action.TOKEN_REVOKE})

_SHARES: frozenset[str] = frozenset({Action.WORKFLOW_SHARE, Action.UNIT_SHARE})
_UNSHARES: frozenset[str] = frozenset({Action.WORKFLOW_UNSHARE, Action.UNIT_UNSHARE})


def decide(
    principal: Principal,
    action: str,
    resource: Resource | None = None,
    *,
    facts: Facts = NO_FACTS,
    enforce: bool,
    group: int | None = None,
) -> Decision:
    """Decide whether `principal` may do `action` on `resource` (or on `group`)."""
    allowed, by, reason, message = _decide(principal, action, resource, facts, enforce, group)
    name = None if allowed else _audit_name(resource, group)
    return Decision(allowed, reason, message, str(action), name, by)


def _audit_name(resource: Resource | None, group: int | None) -> str | None:
    """What a decision was about, named the way audit records name what changed."""
    if resource is not None:
        return f"{resource.kind}/{resource.id}"
    return f"group/{group}" if group is not None else None


def _decide(
    principal: Principal,
    action: str,
    resource: Resource | None,
    facts: Facts,
    enforce: bool,
    group: int | None,
) -> Verdict:
    # Whether or not access control is on: a runner token's scope, who administers RBAC,
    # what a token is issued on.
    if principal.workflow_scope is not None:
        outside = _outside_scope(principal.workflow_scope, action, resource)
        if outside is not None:
            return outside
    if principal.scope is not None:
        outside = outside_token_scope(principal.scope, action, resource)
        if outside is not None:
            return outside
    if action == Action.RBAC_INIT:
        return admin.decide_rbac_init(principal, admins_configured=facts.admins_configured)
    if action == Action.TOKEN_CREATE:
        return admin.decide_token(principal)
    if action in (Action.TOKEN_REVOKE, Action.TOKEN_LIST):  # else anyone could see or end
        return admin.decide_self(principal, action, _needs(action, resource).owner)
    if not enforce:
        return allow(DecidedBy.DISABLED, "access control disabled")
    if action in admin.SELF_MESSAGES:
        return admin.decide_self(principal, action, _needs(action, resource).owner)
    if principal.name is None:
        message = admin.ANON_MESSAGES.get(
            action, "Anonymous access not allowed when access control is enabled"
        )
        return deny(DecidedBy.ANONYMOUS, "anonymous", message)
    return _decide_named(principal, action, resource, facts, group)


def scope_message(scope: int) -> str:
    return (
        f"This token is scoped to workflow {scope}: it may only read that workflow and run "
        "its jobs (sign in with your password or your own token for anything else)"
    )


def _outside_scope(scope: int, action: str, resource: Resource | None) -> Verdict | None:
    """The refusal of what a token scoped to workflow `scope` may never do; None when the
    call is within the scope (the normal decision still applies)."""
    if (
        action in SCOPED_ACTIONS
        and resource is not None
        and resource.kind == "workflow"
        and resource.id == str(scope)
        and not resource.new
    ):
        return None
    return deny(DecidedBy.SCOPE, f"token scoped to workflow {scope}", scope_message(scope))


def outside_token_scope(
    scope: TokenScope, action: str, resource: Resource | None
) -> Verdict | None:
    """The refusal of what a token with `scope` may never do; None when the call is within
    it (the normal decision still applies)."""
    if action in _ALWAYS_IN_SCOPE:
        return None
    if scope.read_only and action not in READ_ACTIONS:
        return _out_of_scope(scope, "it may only read")
    if scope.unit_prefix is not None and not (
        action in UNIT_ACTIONS
        and resource is not None
        and resource.kind == "unit"
        and scope.holds_unit(resource.name)
    ):
        return _out_of_scope(scope, f"it reaches only units under '{scope.unit_prefix}'")
    if scope.workflow is not None and not (
        action in WORKFLOW_ACTIONS
        and resource is not None
        and resource.kind == "workflow"
        and resource.id == str(scope.workflow)
        and not resource.new
    ):
        return _out_of_scope(scope, f"it reaches only workflow {scope.workflow}")
    return None


def _out_of_scope(scope: TokenScope, why: str) -> Verdict:
    message = (
        f"This token is scoped ({scope.describe()}): {why}; use a token with a wider scope, "
        "or sign in with your password"
    )
    return deny(DecidedBy.SCOPE, f"token scope: {scope.describe()}", message)


def _decide_named(
    principal: Principal,
    action: str,
    resource: Resource | None,
    facts: Facts,
    group: int | None,
) -> Verdict:
    """The decision for a signed-in caller with access control on."""
    if action in admin.ADMIN_ACTIONS:
        return admin.decide_admin(principal)
    if action == Action.GROUP_MEMBERS:
        return admin.decide_group_admin(principal, group, facts.admin_of)
    if action == Action.GROUP_READ:
        return admin.decide_group_read(principal, group, facts.groups)
    if action == Action.RBAC_MANAGE and principal.is_admin:
        return allow(DecidedBy.ADMIN, "system administrator")
    resource = _needs(action, resource)
    if action in _SHARES:
        return _decide_share(principal, resource, facts)
    if action in _UNSHARES:
        return _decide_unshare(principal, resource, group, facts)
    if action == Action.ACCESS_WHO:
        return _decide_who(principal, resource, facts)
    if action == Action.WORKFLOW_SHARES:
        # A system administrator manages sharing, so sees a workflow's shares (not its content).
        if principal.is_admin:
            return allow(DecidedBy.ADMIN, "system administrator")
        return _decide_resource(principal, Action.WORKFLOW_READ, resource, facts)
    return _decide_resource(principal, action, resource, facts)


def _needs(action: str, resource: Resource | None) -> Resource:
    if resource is None:
        raise ValueError(f"action {action!r} needs a resource")
    return resource


def _share_rule(facts: Facts, effect: Effect, resource: Resource) -> Grant | None:
    """The first rule of `effect` on sharing `resource` (for a unit, unit.share or, as
    before unit.share existed, workflow.share)."""
    kinds = SHARE_RULES.get(resource.kind)
    if kinds is None:
        raise ValueError(f"a {resource.kind} cannot be shared")
    for action in kinds:
        grant = facts.rules.match(effect, action, resource.name)
        if grant is not None:
            return grant
    return None


def _decide_share(principal: Principal, resource: Resource, facts: Facts) -> Verdict:
    """Sharing gives a whole group access, so it needs the right to share this resource:
    its owner, an RBAC allow to share it, or a system administrator (audited as such).
    Being a group's admin gives no right over what the admin does not control."""
    denied = _share_rule(facts, Effect.DENY, resource)
    if denied is not None:
        reason = f"explicit deny by {denied.describe()}"
        return deny(DecidedBy.DENY_RULE, reason, _no_share(principal, resource))
    if resource.owner is not None and resource.owner == principal.name:
        return allow(DecidedBy.OWNER, "owner")
    via_group = _group_allowing(resource, facts, _share_action(resource))
    if via_group is not None:
        return via_group
    allowed = _share_rule(facts, Effect.ALLOW, resource)
    if allowed is not None:
        return allow(DecidedBy.RULE, allowed.describe())
    if principal.is_admin:
        return allow(DecidedBy.ADMIN, "system administrator")
    return deny(DecidedBy.NO_GRANT, "no matching grant", _no_share(principal, resource))


def _share_action(resource: Resource) -> str:
    return Action.UNIT_SHARE if resource.kind == "unit" else Action.WORKFLOW_SHARE


def _group_allowing(resource: Resource, facts: Facts, action: str) -> Verdict | None:
    """The allow by the first group (by id) that the resource is shared with, that the
    caller is in, and whose share level allows `action`; None when there is none."""
    if not resource.shared_with or not facts.groups:
        return None
    for group_id in sorted(resource.shared_with):
        name = facts.groups.get(group_id)
        level = resource.shared_with[group_id]
        if name is not None and allows(level, resource.kind, action):
            return allow(DecidedBy.GROUP, f"group '{name}' ({level})")
    return None


def _decide_who(principal: Principal, resource: Resource, facts: Facts) -> Verdict:
    """Who can reach a resource: its owner, its admin-level groups, RBAC managers and system
    administrators may ask."""
    if resource.owner is not None and resource.owner == principal.name:
        return allow(DecidedBy.OWNER, "owner")
    via_group = _group_allowing(resource, facts, Action.ACCESS_WHO)
    if via_group is not None:
        return via_group
    if principal.is_admin:
        return allow(DecidedBy.ADMIN, "system administrator")
    rules = facts.rules
    manager = rules.match(Effect.ALLOW, Action.RBAC_MANAGE, RBAC_RESOURCE_NAME)
    if manager is not None and not rules.match(Effect.DENY, RBAC_MANAGE, RBAC_RESOURCE_NAME):
        return allow(DecidedBy.RULE, manager.describe())
    message = (
        f"User '{principal.name}' may not ask who can reach {_what(resource)}: only its "
        "owner, its admin-level groups, RBAC managers and system administrators may"
    )
    return deny(DecidedBy.NO_GRANT, "no matching grant", message)


def _decide_unshare(
    principal: Principal, resource: Resource, group: int | None, facts: Facts
) -> Verdict:
    """Removing access is safe: besides whoever may share the resource, the admins of the
    group it is removed from may."""
    denied = _share_rule(facts, Effect.DENY, resource)
    if denied is not None:
        reason = f"explicit deny by {denied.describe()}"
        return deny(DecidedBy.DENY_RULE, reason, _no_unshare(principal, resource, group))
    if resource.owner is not None and resource.owner == principal.name:
        return allow(DecidedBy.OWNER, "owner")
    if group is not None and group in facts.admin_of:
        return allow(DecidedBy.GROUP_ADMIN, f"admin of group {group}")
    unshare = Action.UNIT_UNSHARE if resource.kind == "unit" else Action.WORKFLOW_UNSHARE
    via_group = _group_allowing(resource, facts, unshare)
    if via_group is not None:
        return via_group
    allowed = _share_rule(facts, Effect.ALLOW, resource)
    if allowed is not None:
        return allow(DecidedBy.RULE, allowed.describe())
    if principal.is_admin:
        return allow(DecidedBy.ADMIN, "system administrator")
    message = _no_unshare(principal, resource, group)
    return deny(DecidedBy.NO_GRANT, "no matching grant", message)


def _decide_resource(
    principal: Principal, action: str, resource: Resource, facts: Facts
) -> Verdict:
    denied = facts.rules.match(Effect.DENY, action, resource.name)
    if denied is not None:
        reason = f"explicit deny by {denied.describe()}"
        return deny(DecidedBy.DENY_RULE, reason, _no_access(principal, action, resource))
    if resource.owner is not None and resource.owner == principal.name:
        return allow(DecidedBy.OWNER, "owner")
    if resource.new and action == Action.UNIT_WRITE and not facts.rbac_initialized:
        # Before `rbac init` anyone may create a unit and owns it (SPEC §3.3).
        return allow(DecidedBy.CREATOR, "creator (RBAC not initialised)")
    via_group = _group_allowing(resource, facts, action)
    if via_group is not None:
        return via_group
    allowed = facts.rules.match(Effect.ALLOW, action, resource.name)
    if allowed is not None:
        return allow(DecidedBy.RULE, allowed.describe())
    held = [
        f"group '{facts.groups[g]}' ({level})"
        for g, level in sorted(resource.shared_with.items())
        if g in facts.groups
    ]
    if held:  # shared with the caller, at a level too low for this action
        needed = weakest_allowing(resource.kind, action)
        message = (
            f"User '{principal.name}' may not do {action} on {_what(resource)}: it is shared "
            f"with {', '.join(held)}, and {action} needs "
            f"{f'level {needed.value}' if needed else 'its owner or an RBAC grant'}"
        )
        return deny(DecidedBy.NO_GRANT, f"{', '.join(held)}: too low for {action}", message)
    return deny(DecidedBy.NO_GRANT, "no matching grant", _no_access(principal, action, resource))


def _what(resource: Resource) -> str:
    if resource.kind == "workflow":
        return f"workflow {resource.id}"
    return f"{resource.kind} '{resource.id}'"


def _no_access(principal: Principal, action: str, resource: Resource) -> str:
    if resource.kind == "rbac":
        return f"User '{principal.name}' may not manage RBAC (needs permission rbac.manage)"
    if resource.new and resource.kind == "unit":
        return (
            f"User '{principal.name}' may not create unit '{resource.id}': creating a unit "
            f"needs {action} on its path; ask an RBAC administrator for a permission"
        )
    return f"User '{principal.name}' does not have access to {_what(resource)}"


def _no_share(principal: Principal, resource: Resource) -> str:
    rule = SHARE_RULES[resource.kind][0]
    # A unit is named by the caller's own path; a workflow by its id only: its owner/name is
    # not the refused caller's to learn (ids are sequential, so it would list everyone's).
    name = f"'{resource.name}'" if resource.name == resource.id else "its name"
    return (
        f"User '{principal.name}' may not share {_what(resource)}: only its owner, a system "
        f"administrator or a holder of {rule} on {name} may share it"
    )


def _no_unshare(principal: Principal, resource: Resource, group: int | None) -> str:
    return (
        f"User '{principal.name}' may not remove {_what(resource)} from "
        f"{'that group' if group is None else f'group {group}'}: only its owner, an admin of "
        "that group or a system administrator may"
    )
