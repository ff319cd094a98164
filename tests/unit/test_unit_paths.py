"""Unit paths: one stored spelling (NFC, single slashes) and no invisible look-alikes."""

from __future__ import annotations

import unicodedata

import pytest

from teamgate.domain.units import MAX_PATH_BYTES, normalize_path
from teamgate.errors import Invalid


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("myapp/prod", "myapp/prod"),
        ("//a///b/", "a/b"),
        ("cafe\u0301/prod", "caf\u00e9/prod"),  # NFD (macOS) becomes NFC
        ("caf\u00e9/prod", "caf\u00e9/prod"),
        ("\u1100\u1161", "\uac00"),  # Hangul jamo compose
        ("team a/ü/☃/😀", "team a/ü/☃/😀"),
        ("\u212b", "\u00c5"),  # ANGSTROM SIGN is the letter Å in NFC
    ],
)
def test_paths_are_stored_in_nfc(raw: str, stored: str) -> None:
    assert normalize_path(raw) == stored
    assert unicodedata.is_normalized("NFC", normalize_path(raw))


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ("a\u200bb", "U+200B ZERO WIDTH SPACE"),
        ("\u202e", "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("prod\u202dved", "U+202D LEFT-TO-RIGHT OVERRIDE"),
        ("\ufeffprod", "U+FEFF ZERO WIDTH NO-BREAK SPACE"),
        ("a\u2066b", "U+2066 LEFT-TO-RIGHT ISOLATE"),
        ("soft\u00adhyphen", "U+00AD SOFT HYPHEN"),
        ("tag\U000e0041", "U+E0041 TAG LATIN CAPITAL LETTER A"),
        ("a\x00b", "U+0000"),
        ("a\x1fb", "U+001F"),
        ("a\x7fb", "U+007F"),
        ("a\x85b", "U+0085"),
        ("a\ud800", "U+D800"),
        ("a\ue000b", "U+E000"),
        ("a\u0378b", "U+0378"),
        ("a\u2028b", "U+2028 LINE SEPARATOR"),
        ("a\u00a0b", "U+00A0 NO-BREAK SPACE"),
        ("a\u3000b", "U+3000 IDEOGRAPHIC SPACE"),
    ],
)
def test_invisible_and_control_characters_are_refused_by_code_point(raw: str, named: str) -> None:
    with pytest.raises(Invalid, match="unit path must not contain") as caught:
        normalize_path(raw)
    assert named in caught.value.message
    assert "use visible characters only" in caught.value.message


def test_the_byte_limit_applies_to_the_stored_spelling() -> None:
    nfd = "e\u0301" * (MAX_PATH_BYTES // 2)  # 3 bytes each in NFD, 2 in NFC
    assert len(nfd.encode()) > MAX_PATH_BYTES
    assert len(normalize_path(nfd).encode()) == MAX_PATH_BYTES
    with pytest.raises(Invalid, match="longer than"):
        normalize_path("é" * (MAX_PATH_BYTES // 2 + 1))
