"""Short-lived memory of successful password checks, so requests do not pay bcrypt each time.

Keys are HMAC-SHA256 of (user, password, stored hash) under a random per-process key: a memory
dump does not give an attacker fast offline guesses, and an entry made against a hash the
htpasswd file no longer holds (password changed, user removed) can never match again, even if
it was remembered while the file was being reloaded. Failures are never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable

MAX_ENTRIES = 10_000


class CredentialCache:
    def __init__(self, ttl_secs: float, *, on_lookup: Callable[[bool], None] | None = None) -> None:
        self.ttl = ttl_secs
        self._key = secrets.token_bytes(32)
        self._entries: dict[bytes, float] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.on_lookup = on_lookup  # told hit (True) or miss, for metrics

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    def _digest(self, user: str, password: str, hashed: str = "") -> bytes:
        message = b"\0".join(
            part.encode("utf-8", "surrogateescape") for part in (user, password, hashed)
        )
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def contains(self, user: str, password: str, *, hashed: str = "", count: bool = True) -> bool:
        """True when this exact pair was verified against `hashed` less than `ttl` seconds ago.

        `count=False` looks again without counting a second lookup (for hits and misses).
        """
        if not self.enabled:
            return False
        # A dict lookup is not constant-time, but its key is an HMAC under a key no caller
        # knows, so how long it takes tells nothing about any password.
        digest = self._digest(user, password, hashed)
        expires = self._entries.get(digest)
        hit = expires is not None and expires > time.monotonic()
        if not count:
            return hit
        if hit:
            self.hits += 1
        else:
            self.misses += 1
        if self.on_lookup is not None:
            self.on_lookup(hit)
        return hit

    def remember(self, user: str, password: str, *, hashed: str = "") -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries = {k: v for k, v in self._entries.items() if v > now}
                if len(self._entries) >= MAX_ENTRIES:
                    self._entries.clear()
            self._entries[self._digest(user, password, hashed)] = now + self.ttl

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
