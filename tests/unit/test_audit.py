"""Audit log pieces without a server: times in filters, safe text, what a failed login keeps,
the retention setting."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from teamgate.errors import ConfigError, Invalid
from teamgate.services.audit import clean, parse_time
from teamgate.settings import Settings, load_settings
from teamgate.storage.db.util import utc_text
from teamgate.web.errors import attempted_login


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("2024-05-01", "2024-05-01T00:00:00.000Z"),
        ("2024-05-01T12:00:00Z", "2024-05-01T12:00:00.000Z"),
        ("2024-05-01T12:00:00", "2024-05-01T12:00:00.000Z"),  # no zone: UTC
        ("2024-05-01T12:00:00+02:00", "2024-05-01T10:00:00.000Z"),
        ("2024-05-01T23:30:00-01:00", "2024-05-02T00:30:00.000Z"),
        ("2024-05-01T12:00:00.123456Z", "2024-05-01T12:00:00.123Z"),
        (" 2024-05-01 12:00 ", "2024-05-01T12:00:00.000Z"),
        ("0999-01-01", "0999-01-01T00:00:00.000Z"),  # four-digit years keep text order
    ],
)
def test_filter_times_become_the_stored_form(given: str, stored: str) -> None:
    assert parse_time("since", given) == stored


@pytest.mark.parametrize(
    "bad", ["yesterday", "2024-13-01", "2024-05-01T25:00", "", "0001-01-01T00:00:00+05:00"]
)
def test_bad_filter_times_are_invalid_and_named(bad: str) -> None:
    with pytest.raises(Invalid, match=r"until must be an ISO 8601 time .*2024-05-01T12:00:00Z"):
        parse_time("until", bad)


def test_stamps_sort_as_text() -> None:
    moments = [datetime(y, 1, 1, tzinfo=UTC) for y in (5, 999, 1999, 2024)]
    assert sorted(utc_text(m) for m in moments) == [utc_text(m) for m in moments]
    late = datetime(2024, 5, 1, 12, 0, 0, 999_999, tzinfo=UTC)
    assert utc_text(late) == "2024-05-01T12:00:00.999Z"
    assert utc_text(late.astimezone(timezone(timedelta(hours=2)))) == "2024-05-01T12:00:00.999Z"


def test_clean_escapes_control_characters_and_undecodable_bytes() -> None:
    assert clean(None, 10) is None
    assert clean("alice", 10) == "alice"
    assert clean("a\nb\x00c\x1b[31m", 100) == "a\\x0ab\\x00c\\x1b[31m"
    assert clean("bob\udcff", 100) == "bob\\udcff"  # from a header decoded with surrogateescape
    assert clean("é ü ✓", 100) == "é ü ✓"
    assert clean("x" * 300, 255) == "x" * 254 + "…"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


SECRET = "hunter2-secret"
TOKEN = f"tg_0123456789abcdef_{'s' * 43}"


@pytest.mark.parametrize(
    ("header", "user", "how"),
    [
        (basic("bob", SECRET), "bob", "basic"),
        (basic("bob", TOKEN), "bob", "basic with token tg_0123456789abcdef"),
        (basic("bob", f"tg_{SECRET}_x"), "bob", "basic with a value that is not a teamgate token"),
        (f"Bearer {TOKEN}", None, "bearer token tg_0123456789abcdef"),
        (f"bearer {SECRET}", None, "bearer a value that is not a teamgate token"),
        (f"Bearer tg_{SECRET}_{SECRET}", None, "bearer a value that is not a teamgate token"),
        ("Basic !!!not-base64", None, "basic, malformed"),
        ("Basic " + base64.b64encode(SECRET.encode()).decode(), None, "basic, malformed"),
        ("Basic " + base64.b64encode(f":{SECRET}".encode()).decode(), None, "basic, malformed"),
        (f"Digest {SECRET}", None, "an unsupported scheme"),
        (SECRET, None, "an unsupported scheme"),
    ],
)
def test_a_failed_login_keeps_the_user_name_never_the_secret(
    header: str, user: str | None, how: str
) -> None:
    assert attempted_login(header) == (user, how)
    assert SECRET not in repr(attempted_login(header))
    assert "s" * 43 not in repr(attempted_login(header))


def test_retention_setting(tmp_path: Path) -> None:
    assert Settings().audit_retention_days == 90
    config = tmp_path / "config.toml"
    config.write_text("[server]\naudit_retention_days = 0\n")
    assert load_settings(config, {}).audit_retention_days == 0
    assert load_settings(config, {"audit_retention_days": 7}).audit_retention_days == 7
    config.write_text("[server]\naudit_retention_days = '30'\n")
    with pytest.raises(ConfigError, match=r"'server\.audit_retention_days' must be an integer"):
        load_settings(config, {})
    config.write_text("[server]\naudit_retention_days = -1\n")
    with pytest.raises(ConfigError, match="audit_retention_days must be between 0"):
        load_settings(config, {})
