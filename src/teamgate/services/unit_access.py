"""What a user may do with units, explained from the facts the server enforces with.

`taco rbac test` asks here: about one unit (its real owner and shares, loaded by
`units.unit_resource` as every unit request does), or about what `unit ls` would show.
Nothing here decides by itself: the decisions are `decide()`'s, over the same facts.
"""

from __future__ import annotations

from dataclasses import replace

from teamgate.domain.actions import DecidedBy
from teamgate.domain.explanations import Explanation, Step, explain
from teamgate.domain.identity import Principal
from teamgate.domain.policy import Decision, Facts, Grant, Resource
from teamgate.domain.rules import Effect
from teamgate.domain.units import normalize_path
from teamgate.services import units
from teamgate.services.context import ServiceContext, facts_for
from teamgate.storage.db import units as store
from teamgate.storage.db.listing import readable_by

READ, WRITE, LOCK = units.READ, units.WRITE, units.LOCK


def explain_unit(
    ctx: ServiceContext, caller: Principal, subject: Principal, raw_path: str, action: str
) -> Explanation:
    """`subject` doing `action` on the unit, as access control on would decide it.

    A caller who may not read the unit (and is no system administrator) is told the
    decision and the subject's rules on the path they gave, not the unit's owner or shares.
    """
    path = normalize_path(raw_path)
    enforced = replace(ctx, enforce=True)
    with ctx.db.read() as conn:
        found, resource = units.unit_resource(enforced, conn, path)
        facts = facts_for(enforced, conn, subject)
        hidden = (
            found is not None
            and not caller.is_admin
            and not units.decide_on_unit(ctx, caller, conn, path, READ)[1].allowed
        )
    if found is None and action == LOCK:
        return _lock_new(subject, resource, facts)
    return explain(subject, action, resource, facts=facts, enforce=True, hidden=hidden)


def _lock_new(subject: Principal, resource: Resource, facts: Facts) -> Explanation:
    """Locking a missing unit creates it (unit.write, as the server checks first); its
    creator then owns it, and the lock is decided on that."""
    creating = explain(subject, WRITE, resource, facts=facts, enforce=True)
    verdict = "allowed" if creating.decision.allowed else "denied"
    step = Step(
        "create",
        creating.decision.allowed,
        f"{resource.id} does not exist yet: locking it creates it, which needs {WRITE}: "
        f"{verdict} ({creating.decision.reason})",
    )
    if not creating.decision.allowed:
        return Explanation(creating.decision, (*creating.steps, step))
    owned = resource._replace(owner=subject.name, new=False)
    locking = explain(subject, LOCK, owned, facts=facts, enforce=True)
    return Explanation(locking.decision, (*locking.steps[:2], step, *locking.steps[2:]))


def explain_listing(ctx: ServiceContext, subject: Principal, prefix: str | None) -> Explanation:
    """Would `unit ls [prefix]` show `subject` anything, and through what?

    Allowed when the listing shows at least one unit now, or when an allow rule for
    unit.read could match a unit there (none may exist yet); the reason says which.
    """
    assert subject.name is not None  # rbac test names a user
    clean = normalize_path(prefix) if prefix and prefix.strip("/") else None
    enforced = replace(ctx, enforce=True)
    shown = bool(units.list_units(enforced, subject, clean, limit=1).items)
    with ctx.db.read() as conn:
        facts = facts_for(enforced, conn, subject)
        denied = facts.rules.patterns(Effect.DENY, READ)
        visible = readable_by(subject.name, deny=denied)  # owned or shared only
        own = bool(store.list_units(conn, visible=visible, prefix=clean, limit=1).items)
    denies = _grants(facts, Effect.DENY)
    blanket = next((g for g in denies if "*" in g.rule.resources), None)
    allows = [
        g
        for g in _grants(facts, Effect.ALLOW)
        if blanket is None and any(_could_list(p, clean) for p in g.rule.resources)
    ]
    decision = _listing_decision(subject.name, shown, own, allows, blanket)
    where = f"the units under {clean} (unit ls {clean})" if clean else "every unit (unit ls)"
    under = f" under {clean}" if clean else ""
    ownership = (
        f"{subject.name} owns units{under} or has some shared with their groups"
        if own
        else f"{subject.name} owns no unit{under} and has none shared with their groups"
    )
    admin = " (system administrator)" if subject.is_admin else ""
    steps = (
        Step("access control", False, "on"),
        Step("caller", False, f"{subject.name}{admin}; action {READ} on {where}"),
        Step("deny rules", blanket is not None, _text(denies, "they hide what they match")),
        Step("owner or groups", own, ownership),
        Step("allow rules", bool(allows), _text(allows, "")),
        Step(
            "listing",
            shown,
            f"unit ls{' ' + clean if clean else ''} shows {subject.name} "
            + ("at least one unit" if shown else "no unit now"),
        ),
    )
    return Explanation(decision, steps)


def _grants(facts: Facts, effect: Effect) -> list[Grant]:
    return [g for g in facts.rules.grants if g.rule.effect is effect and g.rule.covers_action(READ)]


def _could_list(pattern: str, prefix: str | None) -> bool:
    """Could `pattern` match a unit under `prefix` (whole segments)? Errs towards yes."""
    if prefix is None:
        return True
    head, star, _ = pattern.partition("*")
    if not star:
        return pattern == prefix or pattern.startswith(prefix + "/")
    return head.startswith(prefix + "/") or (prefix + "/").startswith(head)


def _text(grants: list[Grant], note: str) -> str:
    if not grants:
        return "none"
    text = "; ".join(g.describe() for g in grants)
    return f"{text} ({note})" if note else text


def _listing_decision(
    user: str, shown: bool, own: bool, allows: list[Grant], blanket: Grant | None
) -> Decision:
    if blanket is not None:
        reason = f"explicit deny by {blanket.describe()}"
        return Decision(False, reason, "", READ, "unit/*", DecidedBy.DENY_RULE)
    grounds = [f"{user} owns units or has some shared with their groups"] if own else []
    grounds += [g.describe() for g in allows]
    if not grounds:
        return Decision(False, "no matching grant", "", READ, "unit/*", DecidedBy.NO_GRANT)
    reason = "; ".join(grounds) + ("" if shown else " (no unit matches yet)")
    return Decision(True, reason, "", READ, None, DecidedBy.OWNER if own else DecidedBy.RULE)
