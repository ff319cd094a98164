"""What an `Authorization` header offers, read in one place for signing in and for the audit
record of a refused sign-in."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

BASIC, BEARER = "basic", "bearer"


@dataclass(frozen=True, slots=True)
class Offered:
    """The credentials of one header.

    `scheme` is as sent ("" without a header); `user` and `secret` are Basic's user name and
    password (`user` is None when Basic is not base64 of `user:password` with a user name),
    or Bearer's token as `secret`.
    """

    scheme: str
    user: str | None = None
    secret: str = ""

    @property
    def kind(self) -> str:
        """`basic`, `bearer`, `other` (a scheme this server does not take) or "" (none)."""
        lowered = self.scheme.lower()
        return lowered if lowered in (BASIC, BEARER) or not lowered else "other"


def read_authorization(header: str | None) -> Offered:
    """Split an `Authorization` header into scheme and credentials; never raises.

    Basic's bytes are decoded with `surrogateescape`, so a name that is not UTF-8 still
    reaches the check (and fails it) instead of matching another name.
    """
    scheme, _, value = (header or "").strip().partition(" ")
    kind = scheme.lower()
    if kind == BEARER:
        return Offered(scheme, secret=value.strip())
    if kind != BASIC:
        return Offered(scheme)
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8", "surrogateescape")
    except (binascii.Error, ValueError):
        return Offered(scheme)
    user, sep, password = decoded.partition(":")
    if not sep or not user:
        return Offered(scheme)
    return Offered(scheme, user=user, secret=password)
