"""How many refused sign-ins (401s with credentials) reach the audit log: a bounded number.

Recording every one let 3,000 bad requests add 3,000 rows (5.2 MB). Within a window of
`window_secs`, a client gets at most one row per (user name, scheme) it tried and at most
`rows_per_client` rows in all; the refusals left out are counted per client, and the next row
recorded for that client (in this window or a later one) says how many there were.

The login throttle still answers repeated password failures with 429 (and records each lockout
once); this bounds what the audit log keeps of the 401s themselves, for every scheme (a Bearer
flood costs no bcrypt, so the throttle never sees it).

State lives in this process's memory, in tables of at most `max_entries` keys each (the least
recently used dropped first), like the throttle's.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

WINDOW_SECS = 60.0
ROWS_PER_CLIENT = 20
MAX_ENTRIES = 10_000


@dataclass(slots=True)
class _Window:
    start: float
    rows: int = 0  # rows recorded in this window
    left_out: int = 0  # refusals not recorded since the previous row (clients only)


class RefusalLimiter:
    """Decides which refused sign-ins are recorded; counts the others."""

    def __init__(
        self,
        *,
        window_secs: float = WINDOW_SECS,
        rows_per_client: int = ROWS_PER_CLIENT,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window_secs = window_secs
        self.rows_per_client = rows_per_client
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._clients: OrderedDict[Hashable, _Window] = OrderedDict()
        self._keys: OrderedDict[Hashable, _Window] = OrderedDict()

    def admit(self, client: str | None, user: str | None, scheme: str) -> int | None:
        """None when this refusal is only counted; otherwise record it, and say that the
        returned number of refusals from `client` went unrecorded before it."""
        with self._lock:
            now = self._clock()
            by_client = self._window(self._clients, client, now)
            by_key = self._window(self._keys, (client, user, scheme), now)
            if by_key.rows >= 1 or by_client.rows >= self.rows_per_client:
                by_client.left_out += 1
                return None
            by_key.rows += 1
            by_client.rows += 1
            left_out, by_client.left_out = by_client.left_out, 0
            return left_out

    def _window(self, table: OrderedDict[Hashable, _Window], key: Hashable, now: float) -> _Window:
        """`key`'s window, made the newest; a window that has run out starts again (keeping
        the count of what was left out, which the next row reports)."""
        window = table.get(key)
        if window is None:
            window = table[key] = _Window(now)
        elif now - window.start >= self.window_secs:
            window.start, window.rows = now, 0
        table.move_to_end(key)
        while len(table) > self.max_entries:
            table.popitem(last=False)
        return window


def left_out_note(count: int) -> str:
    """What a recorded refusal says of those before it that were not recorded."""
    noun = "refusal" if count == 1 else "refusals"
    return f"{count} more {noun} from this client not recorded separately since its last record"
