"""Token lifetimes (`parse_ttl`), what a scope leaves of a unit list (`units_under`), and how
often a token's use is written (`TokenService.touch`: once a minute per token, per process)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from teamgate.auth import tokens
from teamgate.domain.identity import TokenScope
from teamgate.errors import Invalid
from teamgate.storage.db.engine import Database


@pytest.mark.parametrize(
    ("text", "ttl"),
    [
        ("12h", timedelta(hours=12)),
        ("1h", timedelta(hours=1)),
        (" 30D ", timedelta(days=30)),
        ("2w", timedelta(weeks=2)),
        ("1y", timedelta(days=365)),
        ("365d", timedelta(days=365)),
    ],
)
def test_lifetimes(text: str, ttl: timedelta) -> None:
    assert tokens.parse_ttl(text) == ttl


@pytest.mark.parametrize("text", ["", "0h", "366d", "2y", "30", "d", "1.5d", "30m", "9" * 20])
def test_bad_lifetimes(text: str) -> None:
    with pytest.raises(Invalid):
        tokens.parse_ttl(text)


@pytest.mark.parametrize(
    ("scope", "asked", "answer"),
    [
        (TokenScope(), None, (True, None)),
        (TokenScope(read_only=True), "prod", (True, "prod")),
        (TokenScope(workflow=3), None, (False, None)),
        (TokenScope(unit_prefix="dev"), None, (True, "dev")),
        (TokenScope(unit_prefix="dev"), "dev", (True, "dev")),
        (TokenScope(unit_prefix="dev"), "dev/app", (True, "dev/app")),
        (TokenScope(unit_prefix="dev/app"), "dev", (True, "dev/app")),
        (TokenScope(unit_prefix="dev"), "development", (False, "development")),
        (TokenScope(unit_prefix="development"), "dev", (False, "dev")),
        (TokenScope(unit_prefix="dev"), "prod", (False, "prod")),
    ],
)
def test_what_a_scope_leaves_of_a_unit_list(
    scope: TokenScope, asked: str | None, answer: tuple[bool, str | None]
) -> None:
    assert scope.units_under(asked) == answer


def test_a_tokens_use_is_written_once_a_minute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(f"sqlite:///{tmp_path / 't.db'}")
    db.migrate()
    writes: list[int] = []
    monkeypatch.setattr(tokens.store, "touch_token", lambda _c, i, *, at: writes.append(i))
    clock = [1000.0]
    monkeypatch.setattr(tokens.time, "monotonic", lambda: clock[0])
    service = tokens.TokenService(db)
    for _ in range(5):
        service.touch(1)
    service.touch(2)
    clock[0] += tokens.TOKEN_TOUCH_SECS - 1
    service.touch(1)
    assert writes == [1, 2]
    clock[0] += 1
    service.touch(1)
    assert writes == [1, 2, 1]
