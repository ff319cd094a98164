"""domain.text: the text checks that names, paths, keys and JSON values share; and that the
group and RBAC use cases refuse every control character (DEL and C1 too, not only C0)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from teamgate.domain.identity import Principal
from teamgate.domain.text import first_invisible, has_control, padded, unstorable
from teamgate.errors import Invalid
from teamgate.services import groups, rbac
from teamgate.services.context import ServiceContext
from teamgate.storage.db.engine import Database, database_url


@pytest.mark.parametrize(
    ("text", "control", "bad_for_storage"),
    [
        ("plain name", False, False),
        ("tab\there", True, False),
        ("del\x7f", True, False),
        ("next-line\x85", True, False),
        ("nul\x00", True, True),
        ("surrogate\ud800", False, True),
        ("zero\u200bwidth", False, False),
    ],
)
def test_control_and_unstorable(text: str, control: bool, bad_for_storage: bool) -> None:
    assert has_control(text) is control
    assert unstorable(text) is bad_for_storage


def test_padded_and_invisible() -> None:
    assert padded(" a") and padded("a\n") and not padded("a b")
    assert first_invisible("a b/c") is None
    assert first_invisible("a\u200bb") == ("\u200b", INVISIBLE_FORMAT)
    assert first_invisible("a\u00a0b") == ("\u00a0", "a space other than ' '")


INVISIBLE_FORMAT = "an invisible format character (zero-width, bidirectional override, BOM, …)"


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[ServiceContext]:
    db = Database(database_url(str(tmp_path / "text.db")))
    db.migrate()
    yield ServiceContext(db=db, enforce=False)
    db.dispose()


@pytest.mark.parametrize("bad", ["del\x7fx", "c1\x85x", "c0\x01x"])
def test_group_and_rbac_names_refuse_every_control_character(ctx: ServiceContext, bad: str) -> None:
    alice = Principal("alice", is_admin=True)
    with pytest.raises(Invalid, match="group name must be at most"):
        groups.create_group(ctx, alice, name=bad, description=None)
    group = groups.create_group(ctx, alice, name="team", description=None)
    with pytest.raises(Invalid, match="invalid user name"):
        groups.add_member(ctx, alice, group.id, user=bad, role="member")
    with pytest.raises(Invalid, match="user name \\(email\\) must be"):
        rbac.assign_role(ctx, alice, bad, "admin")
