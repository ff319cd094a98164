"""Explanations: the decision `decide()` makes, with every check on its path.

Pure, like `domain.policy`: the steps only describe the facts a decision looked at; the
decision itself always comes from `decide()`.
"""

from __future__ import annotations

from dataclasses import dataclass

from teamgate.domain.actions import DecidedBy
from teamgate.domain.identity import Principal
from teamgate.domain.levels import allows as level_allows
from teamgate.domain.policy import NO_FACTS, Decision, Facts, Grant, Resource, decide
from teamgate.domain.rules import Effect


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
    hidden: bool = False,
) -> Explanation:
    """The decision `decide()` makes, with every check on its path and what each found.

    The decision itself always comes from `decide()`; the steps only describe the facts it
    looked at (all matching rules, not just the first), in the order it looks at them.

    `hidden`: whoever asks may not read `resource` (and is no system administrator), so the
    answer tells nothing they could not read anyway: the decision, and the rules of
    `principal`, but not the resource's owner or shares, nor, for a resource asked about by
    id (a workflow), its name or which rules match that name (that would spell it out).
    """
    decision = decide(principal, action, resource, facts=facts, enforce=enforce)
    steps = [Step("access control", not enforce, "on" if enforce else "off: everything allowed")]
    if not enforce:
        return Explanation(decision, tuple(steps))
    who = principal.name or "anonymous (not authenticated)"
    admin = " (system administrator)" if principal.is_admin else ""
    target = f"{resource.kind} {resource.id}" if hidden else resource.name
    steps.append(Step("caller", False, f"{who}{admin}; action {action} on {target}"))
    if principal.name is None:
        return Explanation(decision, tuple(steps))
    if hidden:
        steps.extend(_hidden_steps(principal, action, resource, facts))
        return Explanation(_hidden_decision(decision, principal, resource, facts), tuple(steps))
    steps.extend(_resource_steps(principal, action, resource, facts))
    return Explanation(decision, tuple(steps))


def _named(resource: Resource) -> bool:
    """Did the asker name the resource itself (a unit's path), not just an id?"""
    return resource.name == resource.id


def _hidden_steps(
    principal: Principal, action: str, resource: Resource, facts: Facts
) -> list[Step]:
    """The checks of `_resource_steps` that need nothing but what the asker already knows."""
    shown = "owner and groups" if _named(resource) else "name, owner and groups"
    withheld = Step(
        "resource",
        False,
        f"hidden: you may not read {resource.kind} {resource.id}, so its {shown} are not "
        "shown (a system administrator can explain it in full)",
    )
    if _named(resource):  # the asker can match their own rules against the name they gave
        denies = matching_grants(facts, Effect.DENY, action, resource.name)
        allows = matching_grants(facts, Effect.ALLOW, action, resource.name)
        return [
            Step("deny rules", bool(denies), _grants_text(denies)),
            withheld,
            Step("allow rules", bool(allows), _grants_text(allows)),
        ]
    held = [g for g in facts.rules.grants if g.rule.covers_action(action)]
    rules = (
        f"{principal.name} holds " + "; ".join(g.describe() for g in held)
        if held
        else f"{principal.name} holds no rule for {action}"
    )
    return [Step("rules", False, f"{rules} (which of them match is not shown)"), withheld]


HIDDEN_ALLOWED = "allowed (what allows it is not shown: you may not read it)"


def _hidden_decision(
    decision: Decision, principal: Principal, resource: Resource, facts: Facts
) -> Decision:
    """`decision` with a reason that names no hidden fact.

    Ownership and shares are always hidden. For a resource known only by its id, a deny rule
    is reported as "no matching grant" too: "explicit deny by rule …:alice/*" would tell
    that the hidden name matches `alice/*`, and asking about every id would list whose
    workflows are whose.
    """
    if decision.allowed:
        by_resource = resource.owner == principal.name or any(
            group in facts.groups for group in resource.shared_with
        )
        if _named(resource) and not by_resource:
            return decision  # a rule the asker can match against the name they gave
        return decision._replace(reason=HIDDEN_ALLOWED, decided_by=DecidedBy.OTHER)
    if _named(resource):
        return decision
    return decision._replace(reason="no matching grant", decided_by=DecidedBy.NO_GRANT)


def _resource_steps(
    principal: Principal, action: str, resource: Resource, facts: Facts
) -> list[Step]:
    denies = matching_grants(facts, Effect.DENY, action, resource.name)
    allows = matching_grants(facts, Effect.ALLOW, action, resource.name)
    owner = resource.owner or ("nobody: not created yet" if resource.new else "nobody")
    levels = resource.shared_with
    shared = sorted(levels)
    mine = [gid for gid in shared if gid in facts.groups]
    enough = [gid for gid in mine if level_allows(levels[gid], resource.kind, action)]
    groups = (
        "not shared with any group"
        if not shared
        else "shared with group(s) "
        + ", ".join(f"{g} ({levels[g]})" for g in shared)
        + "; "
        + (
            f"{principal.name} belongs to "
            + ", ".join(f"'{facts.groups[g]}' ({g}, {levels[g]})" for g in mine)
            if mine
            else f"{principal.name} belongs to none of them"
        )
    )
    if mine and not enough:
        groups += f"; no level of theirs allows {action}"
    return [
        Step("deny rules", bool(denies), _grants_text(denies)),
        Step("owner", resource.owner == principal.name, f"owned by {owner}"),
        Step("groups", bool(enough), groups),
        Step("allow rules", bool(allows), _grants_text(allows)),
    ]


def _grants_text(grants: list[Grant]) -> str:
    if not grants:
        return "none match"
    return "; ".join(g.describe() for g in grants)
