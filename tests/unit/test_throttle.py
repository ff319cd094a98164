"""The login throttle on a hand-driven clock: thresholds, growing delays, resets, bounded memory."""

from __future__ import annotations

import base64
import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from teamgate.auth.authenticator import Authenticator
from teamgate.auth.throttle import (
    Lockout,
    LoginThrottle,
    ThrottlePolicy,
    throttle_from_settings,
)
from teamgate.errors import ConfigError, TooManyRequests, Unauthenticated
from teamgate.settings import Settings
from tests.conftest import write_htpasswd


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def throttle(clock: Clock, **policy: float) -> LoginThrottle:
    return LoginThrottle(ThrottlePolicy(**policy), clock=clock)  # type: ignore[arg-type]


def fail(limiter: LoginThrottle, user: str, address: str | None) -> None:
    """One password check that was admitted and failed."""
    limiter.begin(user, address)
    limiter.end(user, address, ok=False)


def refusal(check: object, *args: object) -> TooManyRequests:
    with pytest.raises(TooManyRequests) as caught:
        check(*args)  # type: ignore[operator]
    return caught.value


def test_a_user_is_refused_after_its_limit_and_told_when_to_retry() -> None:
    clock = Clock()
    limiter = throttle(clock, user_failures=3, base_delay_secs=2)
    for _ in range(3):
        limiter.check_user("bob")
        fail(limiter, "bob", "10.0.0.1")
    refused = refusal(limiter.check_user, "bob")
    assert refused.retry_after == 2
    assert refused.message == (
        "Too many failed sign-in attempts for user 'bob': try again in 2 seconds"
    )
    limiter.check_user("alice")  # other users are not affected
    clock.now += 2
    limiter.check_user("bob")


def test_each_further_failure_doubles_the_delay_up_to_the_cap() -> None:
    clock = Clock()
    limiter = throttle(clock, user_failures=1, base_delay_secs=1, max_delay_secs=5)
    seen = []
    for _ in range(5):
        fail(limiter, "bob", None)
        seen.append(refusal(limiter.check_user, "bob").retry_after)
        clock.now += seen[-1]
    assert seen == [1, 2, 4, 5, 5]


def test_refusals_do_not_lengthen_the_delay() -> None:
    clock = Clock()
    limiter = throttle(clock, user_failures=1, base_delay_secs=4)
    fail(limiter, "bob", None)
    for _ in range(100):
        refusal(limiter.check_user, "bob")
    clock.now += 4
    limiter.check_user("bob")


def test_each_lock_is_reported_once_as_it_starts_never_per_refusal() -> None:
    clock = Clock()
    seen: list[Lockout] = []
    limiter = LoginThrottle(
        ThrottlePolicy(user_failures=2, address_failures=3, base_delay_secs=1, window_secs=60),
        clock=clock,
        on_lockout=seen.append,
    )
    fail(limiter, "bob", "10.0.0.1")
    fail(limiter, "bob", "10.0.0.1")
    assert seen == [Lockout("bob", "10.0.0.1", 2, 1)]
    for _ in range(50):
        refusal(limiter.check_user, "bob")
    fail(limiter, "carol", "10.0.0.1")  # the address's third failure
    assert seen[1:] == [Lockout(None, "10.0.0.1", 3, 1)]
    for number in range(50):  # refused for the address, never checked: nothing reported
        refusal(limiter.begin, f"sprayed-{number % 5}", "10.0.0.1")
    clock.now += 1
    fail(limiter, "bob", "10.0.0.2")  # let through again: a new, longer lock
    assert seen[2:] == [Lockout("bob", "10.0.0.2", 3, 2)]


def test_a_success_forgets_the_user_but_not_the_address() -> None:
    clock = Clock()
    limiter = throttle(clock, user_failures=2, address_failures=3)
    fail(limiter, "bob", "10.0.0.1")
    fail(limiter, "bob", "10.0.0.1")
    limiter.succeeded("bob")
    limiter.check_user("bob")
    fail(limiter, "carol", "10.0.0.1")
    assert "from this address" in refusal(limiter.begin, "dave", "10.0.0.1").message
    limiter.begin("carol", "10.0.0.2")
    limiter.begin("carol", None)  # no address known: nothing to count


def test_near_the_limit_one_attempt_at_a_time_is_let_through() -> None:
    clock = Clock()
    limiter = throttle(clock, address_failures=3, base_delay_secs=1)
    fail(limiter, "a", "10.0.0.1")
    limiter.begin("b", "10.0.0.1")
    limiter.begin("c", "10.0.0.1")  # 1 failure + 2 under way: the limit is reached
    assert refusal(limiter.begin, "d", "10.0.0.1").retry_after == 1
    limiter.end("b", "10.0.0.1", ok=True)
    limiter.begin("d", "10.0.0.1")
    limiter.end("c", "10.0.0.1", ok=False)
    limiter.end("d", "10.0.0.1", ok=False)  # the third failure: refused for the first delay
    assert refusal(limiter.begin, "e", "10.0.0.1").retry_after == 1
    clock.now += 1
    limiter.begin("e", "10.0.0.1")  # the one attempt after the delay ...
    refusal(limiter.begin, "f", "10.0.0.1")  # ... and no other while it is under way


def test_an_attempt_refused_for_its_address_counts_against_the_user() -> None:
    """Otherwise a refused address could try guesses against cached passwords for free."""
    clock = Clock()
    limiter = throttle(clock, user_failures=2, address_failures=1)
    fail(limiter, "carol", "10.0.0.1")
    for _ in range(2):
        refusal(limiter.begin, "bob", "10.0.0.1")
    assert "for user 'bob'" in refusal(limiter.check_user, "bob").message


def test_one_password_check_per_user_name_at_a_time() -> None:
    limiter = throttle(Clock())
    assert limiter.serial("bob") is limiter.serial("bob")


def test_failures_are_forgotten_a_window_after_the_last_one() -> None:
    clock = Clock()
    limiter = throttle(clock, user_failures=2, base_delay_secs=1000, window_secs=60)
    fail(limiter, "bob", None)
    clock.now += 59
    fail(limiter, "bob", None)
    assert refusal(limiter.check_user, "bob").retry_after == 60  # the window caps the delay
    clock.now += 60
    limiter.check_user("bob")
    fail(limiter, "bob", None)
    limiter.check_user("bob")  # counting starts again from one


def test_memory_is_bounded_and_the_oldest_entries_go_first() -> None:
    clock = Clock()
    limiter = throttle(clock, user_failures=1, max_entries=100)
    fail(limiter, "bob", "10.0.0.1")
    for number in range(1000):
        fail(limiter, f"random-{number}", f"10.1.{number // 256}.{number % 256}")
    assert len(limiter.users) == 100 and len(limiter.addresses) == 100
    limiter.check_user("bob")  # evicted: the oldest
    refusal(limiter.check_user, "random-999")


def test_long_user_names_are_kept_as_a_digest() -> None:
    clock = Clock()
    limiter = throttle(clock, user_failures=1)
    name = "x" * 100_000
    fail(limiter, name, None)
    assert refusal(limiter.check_user, name)
    assert all(len(key) < 100 for key in limiter.users._records)


def test_settings_build_the_throttle_or_turn_it_off() -> None:
    built = throttle_from_settings(Settings(login_throttle_user_failures=7))
    assert built is not None and built.policy.user_failures == 7
    assert built.policy.address_failures == Settings().login_throttle_address_failures
    assert throttle_from_settings(Settings(login_throttle=False)) is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("login_throttle_user_failures", 0),
        ("login_throttle_address_failures", 0),
        ("login_throttle_window_secs", 0.5),
        ("login_throttle_delay_secs", 0),
        ("login_throttle_max_delay_secs", 0),
        ("login_throttle_window_secs", float("nan")),
    ],
)
def test_bad_throttle_settings_are_refused_by_name(field: str, value: float) -> None:
    with pytest.raises(ConfigError, match=field):
        Settings(**{field: value}).validate()  # type: ignore[arg-type]


# -- through the Authenticator -------------------------------------------------------------


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def authenticator(tmp_path: Path) -> Authenticator:
    htpasswd = write_htpasswd(tmp_path / "htpasswd", ("alice", "bob"), cost=5)
    policy = ThrottlePolicy(user_failures=5, address_failures=50, base_delay_secs=600)
    return Authenticator(
        auth_file=htpasswd, require_auth=True, cache_ttl_secs=60, throttle=LoginThrottle(policy)
    )


@pytest.mark.parametrize("user", ["bob", "nobody"])
def test_a_burst_of_guesses_runs_bcrypt_only_up_to_the_limit(
    authenticator: Authenticator, caplog: pytest.LogCaptureFixture, user: str
) -> None:
    """Known and unknown user names alike: 16 threads, 100 guesses, 5 password checks."""

    def guess(number: int) -> str:
        try:
            authenticator.authenticate(basic(user, f"guess-{number}"), client="10.0.0.1")
        except (Unauthenticated, TooManyRequests) as exc:
            return type(exc).__name__
        return "accepted"

    with caplog.at_level(logging.WARNING, "teamgate.auth"), ThreadPoolExecutor(16) as pool:
        outcomes = Counter(pool.map(guess, range(100)))
    assert outcomes == {"Unauthenticated": 5, "TooManyRequests": 95}
    checked = [r for r in caplog.records if r.getMessage().startswith("Authentication failed")]
    assert len(checked) == 5


def test_known_good_passwords_and_parallel_first_sign_ins_pass(
    authenticator: Authenticator,
) -> None:
    """alice signs in from 16 threads at once (one bcrypt, then the cache), while her address
    is refused for guesses at other names."""

    def sign_in(_: int) -> str | None:
        return authenticator.authenticate(basic("alice", "alice_password"), client="10.0.0.1").name

    with ThreadPoolExecutor(16) as pool:
        names = set(pool.map(sign_in, range(16)))
    assert names == {"alice"}
    for number in range(50):
        with pytest.raises(Unauthenticated):
            authenticator.authenticate(basic(f"u{number}", "x"), client="10.0.0.1")
    with pytest.raises(TooManyRequests, match="from this address"):
        authenticator.authenticate(basic("bob", "bob_password"), client="10.0.0.1")
    principal = authenticator.authenticate(basic("alice", "alice_password"), client="10.0.0.1")
    assert principal.name == "alice"


def test_unknown_users_cost_a_bcrypt_of_the_file_s_own_cost(authenticator: Authenticator) -> None:
    assert authenticator._dummy_cost == 5
