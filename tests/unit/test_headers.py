"""auth.headers: one reading of an Authorization header for signing in and for the audit log."""

from __future__ import annotations

import base64

import pytest

from teamgate.auth.headers import Offered, read_authorization


def basic(raw: bytes) -> str:
    return "Basic " + base64.b64encode(raw).decode()


@pytest.mark.parametrize(
    ("header", "offered", "kind"),
    [
        (None, Offered(""), ""),
        ("  ", Offered(""), ""),
        (basic(b"alice:pw:with:colons"), Offered("Basic", "alice", "pw:with:colons"), "basic"),
        (basic(b"alice:"), Offered("Basic", "alice", ""), "basic"),
        ("bAsIc " + basic(b"a:b")[6:], Offered("bAsIc", "a", "b"), "basic"),
        ("Basic !!!", Offered("Basic"), "basic"),
        (basic(b"no-colon"), Offered("Basic"), "basic"),
        (basic(b":pw"), Offered("Basic"), "basic"),
        ("Bearer  tg_abc_def ", Offered("Bearer", secret="tg_abc_def"), "bearer"),
        ("Digest x", Offered("Digest"), "other"),
        # not UTF-8: kept byte for byte (surrogateescape), never equal to a real name
        (basic(b"bob\xff:pw"), Offered("Basic", "bob\udcff", "pw"), "basic"),
    ],
)
def test_read_authorization(header: str | None, offered: Offered, kind: str) -> None:
    assert read_authorization(header) == offered
    assert read_authorization(header).kind == kind
