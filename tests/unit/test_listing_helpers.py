"""The pure helpers of the list queries: prefix bounds, ranges, cursors, pruned patterns."""

from __future__ import annotations

import base64

import pytest

from teamgate.domain.rules import pattern_matches
from teamgate.errors import Invalid
from teamgate.storage.db.listing import (
    MAX_CURSOR_CHARS,
    MAX_CURSOR_TEXT,
    ROW_IDS,
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


SPEC = {"p": str, "i": int}


def test_cursors_round_trip_and_refuse_anything_else() -> None:
    fields = {"p": "a/ü/☃/😀", "i": 3}
    assert decode_cursor(encode_cursor(fields), SPEC) == fields
    assert decode_cursor(encode_cursor({"i": 2**63 - 1}), {"i": int}, {"p": str}) == {
        "i": 2**63 - 1
    }
    for bad in ("", "!!", "bm90IGpzb24", encode_cursor([1])):  # type: ignore[arg-type]
        with pytest.raises(Invalid, match=r"invalid cursor .* not one this server returned"):
            decode_cursor(bad, SPEC)


def raw_cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("cursor", "problem"),
    [
        (encode_cursor({"p": "a", "i": 2**63}), "whole number from -9223372036854775808"),
        (encode_cursor({"p": "a", "i": -(2**63) - 1}), "whole number"),
        (encode_cursor({"p": "a", "i": True}), "whole number"),
        (encode_cursor({"p": "a", "i": 1.0}), "whole number"),
        (raw_cursor('{"p":"a","i":1' + "0" * 5000 + "}"), "not one this server returned"),
        (raw_cursor('{"p":"a","i":NaN}'), "whole number"),
        (raw_cursor('{"p":"a\\ud800","i":1}'), "lone surrogate"),
        (raw_cursor('{"p":"a\\u0000","i":1}'), "NUL"),
        (encode_cursor({"p": "x" * (MAX_CURSOR_TEXT + 1), "i": 1}), "longer than 4096"),
        (encode_cursor({"p": 1, "i": 1}), "field 'p' is not of type str"),
        (encode_cursor({"p": "a"}), "not a cursor of this list"),
        (encode_cursor({"p": "a", "i": 1, "x": 1}), "not a cursor of this list"),
        (raw_cursor("[" * 20_000 + "]" * 20_000), "longer than"),
        (raw_cursor("[" * 5_000 + "]" * 5_000), "not one this server returned"),
        ("A" * (MAX_CURSOR_CHARS + 1), "longer than"),
    ],
)
def test_cursors_with_values_sql_cannot_hold_are_invalid(cursor: str, problem: str) -> None:
    with pytest.raises(Invalid, match="invalid cursor") as caught:
        decode_cursor(cursor, SPEC)
    assert problem in caught.value.message
    assert "use the next_cursor of a previous page" in caught.value.message


def test_row_id_ranges_bound_cursor_ids() -> None:
    assert decode_cursor(encode_cursor({"i": 2**31 - 1}), {"i": ROW_IDS}) == {"i": 2**31 - 1}
    for bad in (2**31, -1):
        with pytest.raises(Invalid, match="whole number from 0 to 2147483647"):
            decode_cursor(encode_cursor({"i": bad}), {"i": ROW_IDS})
