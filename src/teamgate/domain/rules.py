"""RBAC rules `effect:actions:resources`: parsing, validation and matching.

In a resource pattern `*` matches any run of characters (including `/`); every other
character is literal, and the pattern must match the whole name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from teamgate.errors import Invalid


class Effect(StrEnum):
    ALLOW = "allow"
    DENY = "deny"


ACTIONS: frozenset[str] = frozenset(
    {
        "unit.read",
        "unit.write",
        "unit.lock",
        "unit.delete",
        "rbac.manage",
        "workflow.read",
        "workflow.write",
        "workflow.delete",
        "workflow.share",
        "*",
    }
)


@dataclass(frozen=True, slots=True)
class Rule:
    """One parsed rule. `text` is its canonical string form."""

    effect: Effect
    actions: tuple[str, ...]
    resources: tuple[str, ...]

    @property
    def text(self) -> str:
        return f"{self.effect.value}:{','.join(self.actions)}:{','.join(self.resources)}"

    def covers_action(self, action: str) -> bool:
        return "*" in self.actions or action in self.actions

    def matches(self, action: str, resource: str) -> bool:
        return self.covers_action(action) and any(
            pattern_matches(p, resource) for p in self.resources
        )


def _split_list(rule: str, part: str, what: str) -> tuple[str, ...]:
    items = tuple(item.strip() for item in part.split(","))
    if not items or any(not item for item in items):
        raise Invalid(f"invalid rule '{rule}': empty {what} in the list")
    return items


def parse_rule(rule: str) -> Rule:
    """Parse `effect:actions:resources`; raise Invalid quoting the rule and the problem."""
    parts = rule.strip().split(":", 2)
    if len(parts) != 3:
        raise Invalid(
            f"invalid rule '{rule}': expected 'effect:actions:resources', "
            "e.g. 'allow:unit.read,unit.write:dev/*'"
        )
    effect_text, actions_text, resources_text = (p.strip() for p in parts)
    try:
        effect = Effect(effect_text)
    except ValueError:
        raise Invalid(
            f"invalid rule '{rule}': unknown effect '{effect_text}' (use 'allow' or 'deny')"
        ) from None
    actions = _split_list(rule, actions_text, "action")
    unknown = [a for a in actions if a not in ACTIONS]
    if unknown:
        raise Invalid(
            f"invalid rule '{rule}': unknown action '{unknown[0]}' "
            f"(known: {', '.join(sorted(ACTIONS))})"
        )
    resources = _split_list(rule, resources_text, "resource")
    return Rule(effect=effect, actions=actions, resources=resources)


def pattern_matches(pattern: str, name: str) -> bool:
    """True when `pattern` (literal characters, `*` = any run) matches all of `name`."""
    if "*" not in pattern:
        return pattern == name
    if pattern == "*":
        return True
    return _compiled(pattern).fullmatch(name) is not None


_CACHE: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    compiled = _CACHE.get(pattern)
    if compiled is None:
        regex = ".*".join(re.escape(piece) for piece in pattern.split("*"))
        compiled = re.compile(regex, re.DOTALL)
        if len(_CACHE) < 100_000:
            _CACHE[pattern] = compiled
    return compiled


def literal_prefix(pattern: str) -> str:
    """The part of a pattern before its first `*` (the whole pattern when it has none)."""
    star = pattern.find("*")
    return pattern if star < 0 else pattern[:star]
