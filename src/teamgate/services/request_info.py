"""Which request a use case runs for (its id and the client's address), for the audit log.

The web layer binds it for the duration of each request (`bound`); services read it with
`current()` and never import the web layer. Outside a request it is None.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RequestInfo:
    id: str  # random, one per request
    client: str | None  # the peer's address (no port)


_current: ContextVar[RequestInfo | None] = ContextVar("teamgate_request", default=None)


@contextmanager
def bound(info: RequestInfo) -> Iterator[None]:
    """Make `info` the current request for everything that runs inside this block."""
    token = _current.set(info)
    try:
        yield
    finally:
        _current.reset(token)


def current() -> RequestInfo | None:
    return _current.get()
