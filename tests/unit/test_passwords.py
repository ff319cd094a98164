"""bcrypt hashing and verification (teamgate.auth.passwords)."""

from __future__ import annotations

import threading

import bcrypt
import pytest

from teamgate.auth import passwords
from teamgate.auth.passwords import (
    dummy_verify,
    hash_password,
    is_bcrypt_hash,
    verify_password,
)
from teamgate.errors import Invalid

# Test vectors from Openwall's crypt_blowfish, made long before this project existed.
KNOWN = [
    ("U*U", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"),
    ("U*U*", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK"),
    ("", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.7uG0VCzI2bS7j6ymqJi9CdcdxiRTWNy"),
]


def test_default_cost_is_12_and_prefix_is_2b() -> None:
    hashed = hash_password("secret")
    assert hashed.startswith("$2b$12$")
    assert is_bcrypt_hash(hashed)


@pytest.mark.parametrize("cost", [4, 5, 10])
def test_cost_is_written_as_two_digits(cost: int) -> None:
    assert hash_password("secret", cost=cost).startswith(f"$2b${cost:02d}$")


@pytest.mark.parametrize("cost", [-1, 0, 3, 32, 100])
def test_cost_outside_4_to_31_is_invalid(cost: int) -> None:
    with pytest.raises(Invalid, match=r"^cost must be between 4 and 31$"):
        hash_password("secret", cost=cost)


def test_hashes_are_salted() -> None:
    assert hash_password("secret", cost=4) != hash_password("secret", cost=4)


def test_verify_right_and_wrong_password() -> None:
    hashed = hash_password("correct horse", cost=4)
    assert verify_password("correct horse", hashed) is True
    assert verify_password("correct horsE", hashed) is False
    assert verify_password("", hashed) is False


@pytest.mark.parametrize(("password", "hashed"), KNOWN)
@pytest.mark.parametrize("prefix", ["$2a$", "$2b$", "$2y$"])
def test_known_vectors_verify_under_every_prefix(password: str, hashed: str, prefix: str) -> None:
    assert verify_password(password, prefix + hashed[4:]) is True
    assert verify_password(password + "x", prefix + hashed[4:]) is False


@pytest.mark.parametrize("prefix", ["$2a$", "$2y$"])
def test_own_hash_verifies_with_other_prefixes(prefix: str) -> None:
    hashed = hash_password("pw", cost=4)
    assert verify_password("pw", prefix + hashed[4:]) is True


@pytest.mark.parametrize(
    "hashed",
    [
        "",
        "garbage",
        "$1$abcdefgh$0123456789abcdefghij",  # md5-crypt
        "$apr1$abcdefgh$0123456789abcdefghij",  # Apache MD5
        "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=",
        "$2x$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",  # $2x$ is not accepted
        "$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOe",  # one character short
        "$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeWW",  # one too many
        "$2b$99$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",  # cost out of range
        "$2b$5$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeWx",  # one-digit cost
        "$2b$05$CCCCCCCCCCCCCCCCCCCCC!E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",  # not bcrypt base64
        "$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOé",
        " $2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
    ],
)
def test_malformed_hash_is_false_not_an_error(hashed: str) -> None:
    assert verify_password("U*U", hashed) is False


def test_non_string_hash_is_false() -> None:
    assert verify_password("pw", None) is False  # type: ignore[arg-type]  # callers may be untyped


def test_passwords_longer_than_72_bytes_are_truncated_consistently() -> None:
    long = "a" * 72 + "tail one"
    hashed = hash_password(long, cost=4)
    assert verify_password(long, hashed)
    assert verify_password("a" * 72 + "another tail", hashed)
    assert verify_password("a" * 72, hashed)
    assert not verify_password("a" * 71, hashed)


def test_long_password_matches_what_apache_and_torc_store() -> None:
    # Apache htpasswd and Torc hash only the first 72 bytes; such hashes must keep verifying.
    long = "p" * 100
    foreign = bcrypt.hashpw(long.encode()[:72], bcrypt.gensalt(rounds=4)).decode()
    assert verify_password(long, foreign)


def test_truncation_counts_utf8_bytes() -> None:
    password = "é" * 40  # 80 bytes
    hashed = hash_password(password, cost=4)
    assert verify_password("é" * 36 + "different", hashed)
    assert not verify_password("é" * 35, hashed)


def test_non_ascii_and_nul_passwords() -> None:
    for password in ["pässwörd", "密码", "with\x00nul"]:
        hashed = hash_password(password, cost=4)
        assert verify_password(password, hashed)
    assert not verify_password("with", hash_password("with\x00nul", cost=4))


def test_password_bytes_from_surrogateescape_round_trip() -> None:
    # A password read from argv or stdin with undecodable bytes arrives as lone surrogates.
    password = b"caf\xe9".decode("utf-8", "surrogateescape")
    hashed = hash_password(password, cost=4)
    assert bcrypt.checkpw(b"caf\xe9", hashed.encode())
    assert verify_password(password, hashed)


def test_unencodable_password_is_invalid_for_hash_and_false_for_verify() -> None:
    with pytest.raises(Invalid, match="UTF-8"):
        hash_password("\ud800", cost=4)
    assert verify_password("\ud800", hash_password("x", cost=4)) is False


def test_dummy_verify_returns_nothing_and_never_raises() -> None:
    assert dummy_verify("anything") is None  # type: ignore[func-returns-value]
    assert dummy_verify("\ud800" + "x" * 200) is None  # type: ignore[func-returns-value]


def test_dummy_hash_is_cost_12_and_made_once_across_threads() -> None:
    seen: list[bytes] = []
    threads = [
        threading.Thread(target=lambda: seen.append(passwords._get_dummy_hash())) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == 1
    assert seen[0].startswith(b"$2b$12$")
