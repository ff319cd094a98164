"""Waiting for what a real process does: poll with a deadline, never a bare sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


def until(what: str, check: Callable[[], T], deadline: float = 60.0, step: float = 0.05) -> T:
    """Poll `check` until it returns something true, and return that; fail naming `what`
    after `deadline` seconds."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        found = check()
        if found:
            return found
        time.sleep(step)  # polling with a deadline, not a race
    pytest.fail(f"timed out after {deadline:.0f} s waiting for {what}")
