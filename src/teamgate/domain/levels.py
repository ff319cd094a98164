"""Share levels: what a group a workflow or unit is shared with may do with it.

`read` reads it (a workflow with its jobs, results, events and status; a unit's state and
versions); `write` adds changing it (running, canceling, resetting a workflow; writing,
locking and restoring a unit); `admin` adds deleting it, re-sharing it and asking who can
reach it. A share made without a level (the torc client's body-less call, shares made before
levels existed) is `write`: the tutorial's "see and interact".
"""

from __future__ import annotations

from enum import StrEnum

from teamgate.domain.actions import Action
from teamgate.errors import Invalid


class Level(StrEnum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


DEFAULT_LEVEL = Level.WRITE
LEVELS: tuple[Level, ...] = (Level.READ, Level.WRITE, Level.ADMIN)  # weakest first

_READ: dict[str, frozenset[str]] = {
    "workflow": frozenset({Action.WORKFLOW_READ, Action.WORKFLOW_SHARES}),
    "unit": frozenset({Action.UNIT_READ}),
}
_WRITE: dict[str, frozenset[str]] = {
    "workflow": _READ["workflow"] | {Action.WORKFLOW_WRITE},
    "unit": _READ["unit"] | {Action.UNIT_WRITE, Action.UNIT_LOCK},
}
_ADMIN: dict[str, frozenset[str]] = {
    "workflow": _WRITE["workflow"]
    | {
        Action.WORKFLOW_DELETE,
        Action.WORKFLOW_SHARE,
        Action.WORKFLOW_UNSHARE,
        Action.ACCESS_WHO,
    },
    "unit": _WRITE["unit"]
    | {Action.UNIT_DELETE, Action.UNIT_SHARE, Action.UNIT_UNSHARE, Action.ACCESS_WHO},
}
LEVEL_ACTIONS: dict[Level, dict[str, frozenset[str]]] = {
    Level.READ: _READ,
    Level.WRITE: _WRITE,
    Level.ADMIN: _ADMIN,
}


def parse_level(value: str | None) -> Level:
    """The level named by `value` (None: the default); Invalid names the choices."""
    if value is None:
        return DEFAULT_LEVEL
    try:
        return Level(value.strip().lower())
    except ValueError:
        choices = ", ".join(level.value for level in LEVELS)
        raise Invalid(f"access level must be one of {choices}, got {value!r}") from None


def allows(level: str, kind: str, action: str) -> bool:
    """Whether a share of `level` on a resource of `kind` allows `action`."""
    granted = LEVEL_ACTIONS.get(level)  # type: ignore[call-overload]
    return granted is not None and action in granted.get(kind, frozenset())


def actions_of(level: str, kind: str) -> list[str]:
    """The actions a share of `level` allows on a resource of `kind`, in a stable order."""
    granted = LEVEL_ACTIONS.get(level, {}).get(kind, frozenset())  # type: ignore[call-overload]
    return sorted(str(action) for action in granted)


def weakest_allowing(kind: str, action: str) -> Level | None:
    """The lowest level that allows `action` on `kind` (None: no share level does)."""
    return next((level for level in LEVELS if action in LEVEL_ACTIONS[level][kind]), None)
