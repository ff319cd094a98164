"""RBAC rules `effect:actions:resources`: parsing, validation and matching.

In a resource pattern `*` matches any run of characters (including `/`); every other
character is literal, and the pattern must match the whole name. Matching never
backtracks (`Glob`): its cost is bounded by the name's length times the pattern's.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from teamgate.domain.actions import RULE_ACTIONS
from teamgate.errors import Invalid


class Effect(StrEnum):
    ALLOW = "allow"
    DENY = "deny"


# The actions a rule may name (domain.actions is the one vocabulary).
ACTIONS: frozenset[str] = frozenset(action.value for action in RULE_ACTIONS)


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
    # Names are matched in NFC (unit paths are stored so): a pattern typed in decomposed form
    # (macOS) must still match, or a deny rule written there would never apply.
    resources = tuple(
        unicodedata.normalize("NFC", r) for r in _split_list(rule, resources_text, "resource")
    )
    return Rule(effect=effect, actions=actions, resources=resources)


def pattern_matches(pattern: str, name: str) -> bool:
    """True when `pattern` (literal characters, `*` = any run) matches all of `name`."""
    if "*" not in pattern:
        return pattern == name
    return glob(pattern).matches(name)


class Glob:
    """A resource pattern with at least one `*`, split at its stars for matching.

    Matching is the greedy wildcard algorithm: the literal text before the first star must
    start the name and the text after the last must end it; each run between stars is then
    found at its leftmost place after the previous one (`str.find`). The leftmost place is
    never worse than a later one, so there is no backtracking: the work is at most
    O(len(name) · len(pattern)), however many stars the pattern has. (A regex with `.*`
    between the pieces backtracks: `*/*/*/*/*/readme` against `"a/" * 511` froze the server.)
    """

    __slots__ = ("_head", "_least", "_middle", "_tail")

    def __init__(self, pattern: str) -> None:
        pieces = pattern.split("*")
        self._head = pieces[0]
        self._tail = pieces[-1]
        self._middle = tuple(piece for piece in pieces[1:-1] if piece)  # `**` is one `*`
        self._least = sum(map(len, pieces))  # the shortest name that can match

    def matches(self, name: str) -> bool:
        if len(name) < self._least:
            return False
        if not (name.startswith(self._head) and name.endswith(self._tail)):
            return False
        at, end = len(self._head), len(name) - len(self._tail)
        for piece in self._middle:
            found = name.find(piece, at, end)
            if found < 0:
                return False
            at = found + len(piece)
        return True


_CACHE: dict[str, Glob] = {}


def glob(pattern: str) -> Glob:
    """The split form of `pattern` (which has a `*`), kept for reuse."""
    compiled = _CACHE.get(pattern)
    if compiled is None:
        compiled = Glob(pattern)
        if len(_CACHE) < 100_000:
            _CACHE[pattern] = compiled
    return compiled


def literal_prefix(pattern: str) -> str:
    """The part of a pattern before its first `*` (the whole pattern when it has none)."""
    star = pattern.find("*")
    return pattern if star < 0 else pattern[:star]


T = TypeVar("T")


class PatternIndex(Generic[T]):
    """Patterns indexed by their literal prefix: finding a match costs a few dict lookups.

    A name can only match a pattern that starts with the pattern's literal prefix, so the
    index keeps one dict per prefix length and looks up `name[:length]` in each. Exact
    patterns (no `*`) are one dict lookup; `prefix*` patterns need no further test, and
    any other pattern is then matched by its `Glob`. Among several matches, the one added
    first wins, so answers are deterministic.
    """

    __slots__ = ("_by_length", "_exact", "_lengths")

    def __init__(self, entries: Iterable[tuple[str, T]] = ()) -> None:
        # entry: (order, value, the glob to match the rest with; None for `prefix*`)
        self._exact: dict[str, tuple[int, T]] = {}
        self._by_length: dict[int, dict[str, list[tuple[int, T, Glob | None]]]] = {}
        for order, (pattern, value) in enumerate(entries):
            star = pattern.find("*")
            if star < 0:
                self._exact.setdefault(pattern, (order, value))
                continue
            prefix = pattern[:star]
            rest = glob(pattern) if star != len(pattern) - 1 else None
            bucket = self._by_length.setdefault(len(prefix), {})
            bucket.setdefault(prefix, []).append((order, value, rest))
        self._lengths = tuple(sorted(self._by_length))

    def first(self, name: str) -> T | None:
        """The value of the earliest-added pattern that matches all of `name`, if any."""
        best_order, best = self._exact.get(name, (-1, None))
        size = len(name)
        for length in self._lengths:
            if length > size:
                break
            candidates = self._by_length[length].get(name[:length])
            if candidates is None:
                continue
            for order, value, rest in candidates:
                if best_order >= 0 and order > best_order:
                    break
                if rest is None or rest.matches(name):
                    best_order, best = order, value
                    break
        return best

    def __bool__(self) -> bool:
        return bool(self._exact or self._by_length)
