"""A unit's lock as the server keeps and shows it, and the conflict its holder causes.

What a client sends as lock information is kept bounded (`bounded_lock`), so no lock makes
every unit list and conflict large. `Locked` is only data: the web layer answers it in each
API's shape and counts it there (web/lock_conflicts.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from teamgate.errors import LockConflict
from teamgate.storage.db.units import Unit

LOCK_FIELD_BYTES = 255  # ID, Operation, Who, Version, Created: Terraform's are far shorter
LOCK_INFO_BYTES = 4096  # Info: a free-text note, usually empty
LOCK_LIMITS = {
    "ID": LOCK_FIELD_BYTES,
    "Operation": LOCK_FIELD_BYTES,
    "Info": LOCK_INFO_BYTES,
    "Who": LOCK_FIELD_BYTES,
    "Version": LOCK_FIELD_BYTES,
    "Created": LOCK_FIELD_BYTES,
    "Path": 1024,  # a unit path's own limit
}


class Locked(LockConflict):
    """The unit is locked by someone else: `lock` is the holder's lock information as its
    client sent it (bounded), `locked_by` the teamgate user who took it (None: unknown).

    Only data: the web layer answers it (each API in its own shape) and counts it there.
    """

    def __init__(self, message: str, holder: Unit) -> None:
        super().__init__(message)
        self.lock = bounded_lock(holder.lock or {})
        self.locked_by = holder.locked_by


def holder_of(found: Unit) -> str:
    """Who holds the unit's lock, for messages: the teamgate user and what the client said."""
    user = f"user '{found.locked_by}'" if found.locked_by else "an unknown user"
    who = (found.lock or {}).get("Who")
    return f"{user} (lock {found.lock_id}{f', {who}' if who else ''})"


def bounded_lock(lock: Mapping[str, Any]) -> dict[str, str]:
    """A lock as the server keeps and shows it: Terraform's fields only, each cut to its
    bound (LOCK_LIMITS), so no lock makes every unit list and 423 large."""
    return {name: _cut(lock[name], limit) for name, limit in LOCK_LIMITS.items() if name in lock}


def _cut(value: Any, limit: int) -> str:
    data = str(value).encode("utf-8", "replace")
    return data[:limit].decode("utf-8", "ignore")  # "ignore" drops a character cut in two
