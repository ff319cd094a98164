"""Database errors a caller should hear about by name instead of as a 500."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError

from teamgate.errors import InsufficientStorage

SQLITE_FULL = 13  # "database or disk is full" (also max_page_count reached)
PG_DISK_FULL = "53100"  # SQLSTATE disk_full


def storage_full(exc: BaseException) -> InsufficientStorage | None:
    """InsufficientStorage if `exc`, or an error it arose from, is the database saying its
    disk is full, else None. SQLite undoes a transaction that fills the disk, so rolling back
    to a savepoint in it fails next ("no such savepoint"): the full disk is that error's
    context."""
    seen: BaseException | None = exc
    for _ in range(8):  # a chain is short; never loop on a cycle
        if seen is None:
            return None
        if isinstance(seen, DBAPIError) and _is_full(seen.orig):
            first_line = str(seen.orig).strip().splitlines()[0]
            return InsufficientStorage(
                f"The server's database is out of space ({first_line}). "
                "Nothing was changed; an operator must free space, then try again"
            )
        seen = seen.__cause__ or seen.__context__
    return None


def _is_full(orig: BaseException | None) -> bool:
    return (
        getattr(orig, "sqlite_errorcode", None) == SQLITE_FULL
        or getattr(orig, "sqlstate", None) == PG_DISK_FULL
        or "database or disk is full" in str(orig)
    )
