"""Small helpers shared by the repositories."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_text(moment: datetime) -> str:
    """A time as teamgate stores and shows it, as Torc writes it: UTC,
    `YYYY-MM-DDTHH:MM:SS.mmmZ` (fixed width, so it sorts as text)."""
    utc = moment.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="milliseconds") + "Z"


def now_text() -> str:
    """The current time as `utc_text` writes it."""
    return utc_text(datetime.now(UTC))
