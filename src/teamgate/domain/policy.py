"""The one access decision: `decide(principal, action, resource, facts=…)`.

Pure: no I/O. The service layer gathers the facts (owner, shares, the caller's groups
and effective RBAC rules) and asks here. Order when access control is on:
anonymous → deny; RBAC deny → deny; owner → allow; shared group → allow;
RBAC allow → allow; otherwise deny.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from teamgate.domain.identity import Principal
from teamgate.domain.rules import Effect, PatternIndex, Rule

# Administrative actions (not RBAC rule actions).
ADMIN = "system.admin"  # create/delete access groups, RBAC administration
GROUP_MEMBERS = "group.members"  # add/remove members of one group
SHARE = "workflow.share"  # add/remove a resource to/from a group (the rule action for both)
UNIT_SHARE = "unit.share"  # how a decision on sharing a unit names its action
RBAC_MANAGE = "rbac.manage"
RBAC_RESOURCE_NAME = "*"


@dataclass(frozen=True, slots=True)
class Grant:
    """A rule as one user holds it: through which permission and role."""

    rule: Rule
    permission: str
    role: str

    def describe(self) -> str:
        return f"rule {self.rule.text} of permission '{self.permission}' via role '{self.role}'"


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


class Resource(NamedTuple):
    """What is being accessed. `name` is the RBAC resource name (unit path, `owner/name`).

    A NamedTuple rather than a frozen dataclass: one is built per request and per listed
    item, and tuple construction is several times cheaper.
    """

    kind: str  # "workflow" | "unit"
    id: str  # as shown in messages: workflow id, unit path
    name: str
    owner: str | None = None
    shared_with: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class Facts:
    """What the server knows about the caller, beyond the principal itself."""

    groups: Mapping[int, str] = field(default_factory=dict)  # group id → name (member of)
    admin_of: frozenset[int] = frozenset()  # groups where the caller has role admin
    rules: RuleSet = EMPTY_RULES


NO_FACTS = Facts()


class Decision(NamedTuple):
    """The answer of `decide()`; true when allowed.

    It names the `action` it was asked about (for metrics and the audit log); a denial also
    names the `resource`, the way the audit log names things (`workflow/1`, `unit/dev/app`,
    `group/2`; None when there is no one resource, as for system administration).
    """

    allowed: bool
    reason: str  # what decided, for explain/audit
    message: str = ""  # what a denied caller is told
    action: str = ""  # set by decide(); empty on decisions made by hand
    resource: str | None = None  # set on denials only

    def __bool__(self) -> bool:
        return self.allowed


_Verdict = tuple[bool, str, str]  # allowed, reason, message: what decide() makes a Decision of


def _allow(reason: str) -> _Verdict:
    return (True, reason, "")


def _deny(reason: str, message: str) -> _Verdict:
    return (False, reason, message)


_ANON_MESSAGES = {
    ADMIN: "Anonymous access not allowed for admin operations",
    GROUP_MEMBERS: "Anonymous access not allowed for group management",
    SHARE: "Anonymous access not allowed for workflow-group operations",
}


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
    allowed, reason, message = _decide(principal, action, resource, facts, enforce, group)
    name = None if allowed else _audit_name(resource, group)
    if action == SHARE and resource is not None and resource.kind == "unit":
        action = UNIT_SHARE  # its rules say workflow.share; its audit records say unit.share
    return Decision(allowed, reason, message, action, name)


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
) -> _Verdict:
    if not enforce:
        return _allow("access control disabled")
    if principal.name is None:
        message = _ANON_MESSAGES.get(
            action, "Anonymous access not allowed when access control is enabled"
        )
        return _deny("anonymous", message)
    if action == ADMIN:
        return _decide_admin(principal)
    if action == GROUP_MEMBERS:
        return _decide_group_admin(principal, group, facts)
    if action == RBAC_MANAGE and principal.is_admin:
        return _allow("system administrator")
    if resource is None:
        raise ValueError(f"action {action!r} needs a resource")
    if action == SHARE:
        return _decide_share(principal, resource, group, facts)
    return _decide_resource(principal, action, resource, facts)


def _decide_admin(principal: Principal) -> _Verdict:
    if principal.is_admin:
        return _allow("system administrator")
    return _deny(
        "not a system administrator",
        f"User '{principal.name}' is not a system administrator",
    )


def _decide_group_admin(principal: Principal, group: int | None, facts: Facts) -> _Verdict:
    if principal.is_admin:
        return _allow("system administrator")
    if group is not None and group in facts.admin_of:
        return _allow(f"admin of group {group}")
    return _deny(
        "not a group administrator",
        f"User '{principal.name}' is not an admin of group {group}",
    )


def _decide_share(
    principal: Principal, resource: Resource, group: int | None, facts: Facts
) -> _Verdict:
    denied = facts.rules.match(Effect.DENY, SHARE, resource.name)
    if denied is not None:
        return _deny(f"explicit deny by {denied.describe()}", _no_access(principal, resource))
    if resource.owner == principal.name:
        return _allow("owner")
    return _decide_group_admin(principal, group, facts)


def _decide_resource(
    principal: Principal, action: str, resource: Resource, facts: Facts
) -> _Verdict:
    denied = facts.rules.match(Effect.DENY, action, resource.name)
    if denied is not None:
        return _deny(f"explicit deny by {denied.describe()}", _no_access(principal, resource))
    if resource.owner is not None and resource.owner == principal.name:
        return _allow("owner")
    if resource.shared_with and facts.groups:
        for group_id in sorted(resource.shared_with):
            name = facts.groups.get(group_id)
            if name is not None:
                return _allow(f"group '{name}'")
    allowed = facts.rules.match(Effect.ALLOW, action, resource.name)
    if allowed is not None:
        return _allow(allowed.describe())
    return _deny("no matching grant", _no_access(principal, resource))


def _no_access(principal: Principal, resource: Resource) -> str:
    if resource.kind == "rbac":
        return f"User '{principal.name}' may not manage RBAC (needs permission rbac.manage)"
    if resource.kind == "workflow":
        return f"User '{principal.name}' does not have access to workflow {resource.id}"
    return f"User '{principal.name}' does not have access to {resource.kind} '{resource.id}'"


@dataclass(frozen=True, slots=True)
class Step:
    """One check on the way to a decision, for `explain()`."""

    check: str  # "access control", "caller", "deny rules", "owner", "groups", "allow rules"
    matched: bool  # did this check grant (or, for deny rules, refuse) access?
    detail: str


@dataclass(frozen=True, slots=True)
class Explanation:
    decision: Decision
    steps: tuple[Step, ...]


def matching_grants(facts: Facts, effect: Effect, action: str, name: str) -> list[Grant]:
    """Every grant of `effect` that covers (action, name), in order (explain, not hot)."""
    return [
        g for g in facts.rules.grants if g.rule.effect is effect and g.rule.matches(action, name)
    ]


def explain(
    principal: Principal,
    action: str,
    resource: Resource,
    *,
    facts: Facts = NO_FACTS,
    enforce: bool,
) -> Explanation:
    """The decision `decide()` makes, with every check on its path and what each found.

    The decision itself always comes from `decide()`; the steps only describe the facts it
    looked at (all matching rules, not just the first), in the order it looks at them.
    """
    decision = decide(principal, action, resource, facts=facts, enforce=enforce)
    steps = [Step("access control", not enforce, "on" if enforce else "off: everything allowed")]
    if not enforce:
        return Explanation(decision, tuple(steps))
    who = principal.name or "anonymous (not authenticated)"
    admin = " (system administrator)" if principal.is_admin else ""
    steps.append(Step("caller", False, f"{who}{admin}; action {action} on {resource.name}"))
    if principal.name is None:
        return Explanation(decision, tuple(steps))
    steps.extend(_resource_steps(principal, action, resource, facts))
    return Explanation(decision, tuple(steps))


def _resource_steps(
    principal: Principal, action: str, resource: Resource, facts: Facts
) -> list[Step]:
    denies = matching_grants(facts, Effect.DENY, action, resource.name)
    allows = matching_grants(facts, Effect.ALLOW, action, resource.name)
    owner = resource.owner or "nobody"
    shared = sorted(resource.shared_with)
    mine = [gid for gid in shared if gid in facts.groups]
    groups = (
        "not shared with any group"
        if not shared
        else f"shared with group(s) {', '.join(map(str, shared))}; "
        + (
            f"{principal.name} belongs to " + ", ".join(f"'{facts.groups[g]}' ({g})" for g in mine)
            if mine
            else f"{principal.name} belongs to none of them"
        )
    )
    return [
        Step("deny rules", bool(denies), _grants_text(denies)),
        Step("owner", resource.owner == principal.name, f"owned by {owner}"),
        Step("groups", bool(mine), groups),
        Step("allow rules", bool(allows), _grants_text(allows)),
    ]


def _grants_text(grants: list[Grant]) -> str:
    if not grants:
        return "none match"
    return "; ".join(g.describe() for g in grants)
