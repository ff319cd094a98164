"""Hooks through which use cases report what they decided, for the server's /metrics.

The web layer installs an observer for the duration of each request (`observing`); outside a
request, or with metrics off, reporting does nothing. A context variable, not a global, so
that several applications in one process each count their own requests.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol

from teamgate.domain.policy import Decision


class Observer(Protocol):
    def decision(self, decision: Decision) -> None: ...


_current: ContextVar[Observer | None] = ContextVar("teamgate_observer", default=None)


@contextmanager
def observing(observer: Observer | None) -> Iterator[None]:
    """Report to `observer` from everything that runs inside this block."""
    token = _current.set(observer)
    try:
        yield
    finally:
        _current.reset(token)


def decision(decision: Decision) -> None:
    """An access decision that a use case enforced."""
    observer = _current.get()
    if observer is not None:
        observer.decision(decision)
