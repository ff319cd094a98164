"""Small helpers shared by the repositories."""

from __future__ import annotations

from datetime import UTC, datetime


def now_text() -> str:
    """Current UTC time as Torc writes it: `YYYY-MM-DDTHH:MM:SS.mmmZ`."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
