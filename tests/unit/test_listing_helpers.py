"""The pure helpers of the list queries: prefix bounds, ranges, cursors, pruned patterns."""

from __future__ import annotations

import pytest

from teamgate.domain.rules import pattern_matches
from teamgate.errors import Invalid
from teamgate.storage.db.listing import (
    TextRange,
    Visibility,
    decode_cursor,
    encode_cursor,
    may_share_prefix,
    upper_bound,
)


@pytest.mark.parametrize(
    ("prefix", "upper"),
    [
        ("", None),
        ("dev/", "dev0"),
        ("a", "b"),
        ("a\U0010ffff", "b"),
        ("\U0010ffff", None),
        ("x\ud7ff", "x\ue000"),  # never a surrogate
    ],
)
def test_upper_bound_is_above_every_string_with_the_prefix(prefix: str, upper: str | None) -> None:
    assert upper_bound(prefix) == upper
    if upper is not None:
        for tail in ("", "\x01", "~", "\U0010ffff" * 3):
            assert prefix + tail < upper


def test_ranges_intersect_and_know_when_empty() -> None:
    dev = TextRange.starting_with("dev/")
    assert dev.within(TextRange.starting_with("dev/a")) == TextRange("dev/a", "dev/b")
    assert dev.within(TextRange.starting_with("prod/")).empty
    assert not TextRange().empty and TextRange().within(dev) == dev
    assert TextRange("b", "b").empty


@pytest.mark.parametrize(
    ("head", "prefix", "may"),
    [("dev/", "dev/a", True), ("dev/a", "dev/", True), ("dev/", "devops/", False), ("", "x", True)],
)
def test_may_share_prefix(head: str, prefix: str, may: bool) -> None:
    assert may_share_prefix(head, prefix) is may


def test_allow_patterns_that_a_deny_cancels_are_dropped() -> None:
    seen = Visibility("u", ("dev/*", "dev/app*", "prod/*", "dev/x", "a*b"), ("dev/*", "a*"))
    assert seen.live_allow() == ["prod/*"]
    # what was dropped is matched by the deny pattern whatever the name
    for allow in ("dev/*", "dev/app*", "dev/x", "a*b"):
        for name in ("dev/", "dev/x", "dev/app/1", "ab", "a/b"):
            if pattern_matches(allow, name):
                assert any(pattern_matches(d, name) for d in seen.deny)
    assert Visibility("u", ("*",), ("*",)).denies_everything
    assert Visibility("u", ("x", "*")).allows_everything


def test_cursors_round_trip_and_refuse_anything_else() -> None:
    fields = {"p": "a/ü/☃", "i": 3}
    assert decode_cursor(encode_cursor(fields)) == fields
    for bad in ("", "!!", "bm90IGpzb24", encode_cursor([1])):  # type: ignore[arg-type]
        with pytest.raises(Invalid, match="cursor"):
            decode_cursor(bad)
