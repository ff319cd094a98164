"""The authenticator without a server: which headers it refuses, what it checks unknown names
at, and what it logs of a huge user name."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest

from teamgate.auth.authenticator import Authenticator
from teamgate.auth.passwords import hash_password
from teamgate.auth.throttle import LoginThrottle, ThrottlePolicy, shorten
from teamgate.errors import TooManyRequests, Unauthenticated
from tests.conftest import password_of, write_htpasswd


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def make(path: Path, *, require_auth: bool = False) -> Authenticator:
    return Authenticator(auth_file=path, require_auth=require_auth, cache_ttl_secs=60)


@pytest.fixture
def optional_auth(tmp_path: Path) -> Authenticator:
    """An auth file without --require-auth: no credentials means anonymous."""
    return make(write_htpasswd(tmp_path / "htpasswd", ("alice", "bob")))


@pytest.mark.parametrize(
    "header",
    [
        'Digest username="alice", realm="Torc", nonce="x", response="y"',
        "Negotiate YIIGhgYGKwYBBQUCoIIGejCCBnag",
        "Token tg_0123456789abcdef_secret",
        "NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAO5CAAAADw==",
        "alice:alice_password",  # no scheme at all
        "Basic",  # Basic with nothing after it
    ],
)
def test_credentials_it_cannot_use_are_refused_not_anonymous(
    optional_auth: Authenticator, header: str
) -> None:
    with pytest.raises(Unauthenticated):
        optional_auth.authenticate(header)


def test_no_credentials_stay_anonymous_without_require_auth(optional_auth: Authenticator) -> None:
    for header in (None, "", "   "):
        assert optional_auth.authenticate(header).name is None
    alice = optional_auth.authenticate(basic("alice", password_of("alice")))
    assert (alice.name, alice.method) == ("alice", "password")


def test_without_an_auth_file_every_caller_is_anonymous() -> None:
    """No file, no users: nothing to check a header against (documented in the module)."""
    open_server = Authenticator(auth_file=None, require_auth=False, cache_ttl_secs=60)
    assert open_server.authenticate("Digest x").name is None
    assert open_server.authenticate(basic("alice", "anything")).name is None


def test_signing_in_as_anonymous_is_never_the_anonymous_caller(
    optional_auth: Authenticator,
) -> None:
    with pytest.raises(Unauthenticated):
        optional_auth.authenticate(basic("anonymous", ""))


def test_unknown_names_cost_the_file_s_highest_bcrypt_cost(tmp_path: Path) -> None:
    """Most entries at cost 4 and one at 6: a wrong password for the cost-6 user must not be
    slower than an unknown name (the most common cost, 4, made it so)."""
    path = write_htpasswd(tmp_path / "htpasswd", ("alice", "bob", "carol"), cost=4)
    with path.open("a") as stream:
        stream.write(f"dave:{hash_password('dave-pw', cost=6)}\n")
    authenticator = make(path)
    assert authenticator.dummy_cost == 6
    write_htpasswd(path, ("alice",), cost=5)  # recomputed on reload
    authenticator.reload()
    assert authenticator.dummy_cost == 5


def test_a_huge_user_name_makes_no_huge_log_line(
    optional_auth: Authenticator, caplog: pytest.LogCaptureFixture
) -> None:
    user = "m" * 1_000_000
    with caplog.at_level(logging.INFO, "teamgate.auth"), pytest.raises(Unauthenticated):
        optional_auth.authenticate(basic(user, "x"))
    lines = [record.getMessage() for record in caplog.records]
    assert lines and max(map(len, lines)) < 300, [len(line) for line in lines]
    assert "…(1000000 bytes)" in lines[0]


def test_shorten_keeps_short_text_and_marks_what_it_cuts() -> None:
    assert shorten("alice") == "alice"
    assert shorten("x" * 100) == "x" * 100
    assert shorten("é" * 101) == "é" * 100 + "…(202 bytes)"
    assert shorten("abcdef", 3) == "abc…(6 bytes)"


def test_the_cached_path_answers_only_what_authenticate_would_and_never_refuses(
    tmp_path: Path,
) -> None:
    """`authenticate_cached` (used on the event loop) gives a Principal only for a password the
    cache remembers; every other case, and every refusal, is left to `authenticate`."""
    policy = ThrottlePolicy(user_failures=2, address_failures=50, base_delay_secs=600)
    auth = Authenticator(
        auth_file=write_htpasswd(tmp_path / "htpasswd", ("alice", "bob")),
        require_auth=True,
        cache_ttl_secs=60,
        throttle=LoginThrottle(policy),
    )
    right = basic("alice", password_of("alice"))
    assert auth.authenticate_cached(right) is None  # not yet proved: bcrypt, in the pool
    full = auth.authenticate(right)
    assert auth.authenticate_cached(right) == full
    for header in (None, basic("alice", "wrong"), basic("carol", "x"), "Bearer tg_1_x"):
        assert auth.authenticate_cached(header) is None
    # bob proves his password, then his name is locked by failures: refused, not cached
    bob = basic("bob", password_of("bob"))
    auth.authenticate(bob)
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            auth.authenticate(basic("bob", "wrong"))
    assert auth.authenticate_cached(bob) is None
    with pytest.raises(TooManyRequests):
        auth.authenticate(bob)
    open_server = Authenticator(auth_file=None, require_auth=False, cache_ttl_secs=60)
    cached = open_server.authenticate_cached(right)
    assert cached == open_server.authenticate(right)
    assert cached is not None and cached.name is None
