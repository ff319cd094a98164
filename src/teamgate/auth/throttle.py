"""Failed sign-in throttling, per user name and per client address, before bcrypt runs.

After `user_failures` failed password attempts for one user name (or `address_failures` from
one client address), further attempts are refused with TooManyRequests until a delay has
passed: `base_delay_secs`, doubled for every failure after that, at most `max_delay_secs` (or
the first delay, when that is longer). A record is forgotten `window_secs` after its last
failure; a success for a user name clears that user's record. Refusals do not lengthen the
delay (a burst of attempts while refused changes nothing); only failures that were checked do.

Each lock that a failure starts is logged and reported to `on_lockout` (the server records it
in the audit log); refusals are not, so a flood of refused attempts writes nothing.

State lives in this process's memory: with `--workers N`, each worker counts on its own. Each
table holds at most `max_entries` keys; the least recently failed is dropped first, so random
user names cannot make memory grow.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from teamgate.errors import TooManyRequests
from teamgate.settings import Settings

log = logging.getLogger("teamgate.auth")

MAX_ENTRIES = 100_000
MAX_KEY_CHARS = 256  # a longer user name is kept as its SHA-256, so keys stay small
SERIAL_LOCKS = 256
MAX_SHOWN_CHARS = 100


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    user_failures: int = 10
    address_failures: int = 50
    window_secs: float = 900
    base_delay_secs: float = 1
    max_delay_secs: float = 300
    max_entries: int = MAX_ENTRIES


@dataclass(frozen=True, slots=True)
class Lockout:
    """A lock that a failed attempt has just started: of `user`, or (user None) of `address`."""

    user: str | None
    address: str | None  # where the failure that started it came from
    failures: int  # in the window, this one included
    retry_after: int  # seconds until the next attempt is let through


@dataclass(slots=True)
class _Record:
    failures: int
    last: float  # clock time of the latest failure (or of the first reservation)
    pending: int = 0  # attempts admitted and not yet decided


class FailureTable:
    """Failures per key (a user name or an address), bounded in size.

    Attempts under way can be reserved, so that concurrent attempts cannot all slip past the
    limit before the first of them fails: near the limit only one is let through at a time.
    """

    def __init__(self, limit: int, policy: ThrottlePolicy) -> None:
        self.limit = limit
        self.policy = policy
        self._records: OrderedDict[str, _Record] = OrderedDict()

    def wait(self, key: str, now: float) -> float:
        """Seconds until `key` may try again; 0 when it may try now."""
        record = self._live(key, now)
        if record is None or record.failures + record.pending < self.limit:
            return 0.0
        if record.pending:
            return self.policy.base_delay_secs  # the attempts under way decide what comes next
        until = record.last + min(self._delay(record.failures), self.policy.window_secs)
        return max(0.0, until - now)

    def fail(self, key: str, now: float) -> int:
        """Count one failure for `key`; the number of failures in its window so far."""
        record = self._touch(key, now)
        record.failures += 1
        record.last = now
        return record.failures

    def reserve(self, key: str, now: float) -> None:
        """Count an attempt that is about to be checked, until `release`."""
        self._touch(key, now).pending += 1

    def release(self, key: str, now: float, *, failed: bool) -> int:
        """End a reserved attempt; the failures counted for `key` so far."""
        record = self._records.get(key)
        if record is not None and record.pending:
            record.pending -= 1
        if failed:
            return self.fail(key, now)
        if record is not None and record.failures == record.pending == 0:
            del self._records[key]
        return record.failures if record is not None else 0

    def delay_after(self, failures: int) -> float:
        """The delay that `failures` failures earn (0 below the limit)."""
        return 0.0 if failures < self.limit else self._delay(failures)

    def forget(self, key: str) -> None:
        self._records.pop(key, None)

    def __len__(self) -> int:
        return len(self._records)

    def _delay(self, failures: int) -> float:
        base, cap = self.policy.base_delay_secs, self.policy.max_delay_secs
        doublings = min(failures - self.limit, 64)  # 2**64 × any base is past every cap
        return float(min(base * 2**doublings, max(cap, base)))

    def _live(self, key: str, now: float) -> _Record | None:
        record = self._records.get(key)
        if record is None or record.pending or now - record.last < self.policy.window_secs:
            return record
        del self._records[key]
        return None

    def _touch(self, key: str, now: float) -> _Record:
        """`key`'s record, made the newest; the oldest records go beyond `max_entries`."""
        record = self._live(key, now)
        if record is None:
            record = self._records[key] = _Record(0, now)
        self._records.move_to_end(key)
        while len(self._records) > self.policy.max_entries:
            self._records.popitem(last=False)
        return record


class LoginThrottle:
    """Per-user and per-address failure counts, checked before a password is verified.

    For one password check: `check_user`; then, unless the password is known to be right,
    under `serial(user)` (one check per user name at a time, so a burst of guesses cannot all
    pass the check before the first fails) `check_user` again, `begin`, bcrypt, `end`.
    """

    def __init__(
        self,
        policy: ThrottlePolicy,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_lockout: Callable[[Lockout], None] | None = None,
    ) -> None:
        self.policy = policy
        self.on_lockout = on_lockout  # called in the request that failed, outside any lock
        self.users = FailureTable(policy.user_failures, policy)
        self.addresses = FailureTable(policy.address_failures, policy)
        self._clock = clock
        self._lock = threading.Lock()
        self._serial = tuple(threading.Lock() for _ in range(SERIAL_LOCKS))

    def check_user(self, user: str) -> None:
        """Raise TooManyRequests while password attempts for `user` are refused."""
        with self._lock:
            wait = self.users.wait(_key(user), self._clock())
        if wait > 0:
            raise _refusal(f"for user '{shorten(user)}'", wait)

    def serial(self, user: str) -> threading.Lock:
        """The lock that keeps password checks for `user` one at a time."""
        # str hashes are salted per process, so no one can pick names that share a lock.
        return self._serial[hash(_key(user)) % SERIAL_LOCKS]

    def begin(self, user: str, address: str | None) -> None:
        """Admit a password check from `address` (reserved until `end`), or raise
        TooManyRequests; a refused attempt still counts against `user`: it was a guess."""
        with self._lock:
            now = self._clock()
            wait = self.addresses.wait(address, now) if address is not None else 0.0
            if wait <= 0:
                if address is not None:
                    self.addresses.reserve(address, now)
                return
            by_user = self.users.fail(_key(user), now)
        # Logged, not reported: these locks cost the attacker no bcrypt (the address is
        # locked already, and its lock was reported), so reporting them could flood the log.
        self._started(self.users, by_user, user=user, address=address, report=False)
        raise _refusal("from this address", wait)

    def end(self, user: str, address: str | None, *, ok: bool) -> None:
        """The result of a check that `begin` admitted."""
        with self._lock:
            now = self._clock()
            by_address = 0
            if address is not None:
                by_address = self.addresses.release(address, now, failed=not ok)
            if ok:
                self.users.forget(_key(user))
                return
            by_user = self.users.fail(_key(user), now)
        self._started(self.users, by_user, user=user, address=address)
        self._started(self.addresses, by_address, user=None, address=address)

    def succeeded(self, user: str) -> None:
        """A correct password for `user`: its failures are forgotten (not the address's)."""
        with self._lock:
            self.users.forget(_key(user))

    def _started(
        self,
        table: FailureTable,
        failures: int,
        *,
        user: str | None,
        address: str | None,
        report: bool = True,
    ) -> None:
        """Log (and report) the lock that `failures` failures start, if they start one.

        A lock starts only when a failure is counted, and none is counted for a key while it
        is locked: each lock is reported once, as it starts, at most one per key per delay.
        """
        delay = min(table.delay_after(failures), self.policy.window_secs)
        if delay <= 0:
            return
        if user is not None:
            what = f"for user '{printable(shorten(user))}'"
        else:
            what = f"from address {address}"
        log.warning(
            "%d failed sign-in attempts %s; refusing further attempts for %g s",
            failures,
            what,
            delay,
        )
        if report and self.on_lockout is not None:
            self.on_lockout(Lockout(user, address, failures, _seconds(delay)))


def throttle_from_settings(
    settings: Settings, *, on_lockout: Callable[[Lockout], None] | None = None
) -> LoginThrottle | None:
    """The throttle `settings` ask for, telling `on_lockout` of each lockout; None when
    `login_throttle` is off."""
    if not settings.login_throttle:
        return None
    return LoginThrottle(
        ThrottlePolicy(
            user_failures=settings.login_throttle_user_failures,
            address_failures=settings.login_throttle_address_failures,
            window_secs=settings.login_throttle_window_secs,
            base_delay_secs=settings.login_throttle_delay_secs,
            max_delay_secs=settings.login_throttle_max_delay_secs,
        ),
        on_lockout=on_lockout,
    )


def printable(text: str) -> str:
    """`text` with control characters and quotes escaped, so it cannot forge a log line."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


def shorten(text: str, limit: int = MAX_SHOWN_CHARS) -> str:
    """`text` as messages and logs show it: past `limit` characters, cut short with a marker
    that gives its full size (`…(1048576 bytes)`), so a huge user name makes no huge line."""
    if len(text) <= limit:
        return text
    size = len(text.encode("utf-8", "surrogateescape"))
    return f"{text[:limit]}…({size} bytes)"


def _key(user: str) -> str:
    if len(user) <= MAX_KEY_CHARS:
        return user
    digest = hashlib.sha256(user.encode("utf-8", "surrogateescape")).hexdigest()
    return f"sha256:{digest}"


def _seconds(wait: float) -> int:
    """A wait as Retry-After gives it: whole seconds, rounded up, at least one."""
    return max(1, math.ceil(wait))


def _refusal(what: str, wait: float) -> TooManyRequests:
    seconds = _seconds(wait)
    unit = "second" if seconds == 1 else "seconds"
    return TooManyRequests(
        f"Too many failed sign-in attempts {what}: try again in {seconds} {unit}",
        retry_after=seconds,
    )
