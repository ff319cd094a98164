"""Blobs no unit points at, found and deleted at start and every hour.

A unit write stores its blob first and records it in one transaction afterwards
(`services.units.finish_write`), and a removed version's or unit's blob is deleted after its
row. A crash between the two leaves a blob nothing refers to: harmless, but it holds a state
(secrets) and space for ever. Every state blob is named `units/new/<random>.tfstate`
(`begin_write`), so an orphan is a blob under that prefix that no unit or version row names
and that is older than any write in flight could be: a younger one may belong to a write
whose row is not committed yet, and is left for a later sweep.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from teamgate.services.periodic import Periodic
from teamgate.storage.blobs import BlobStore
from teamgate.storage.db import units as store
from teamgate.storage.db.engine import Database

ORPHAN_PREFIX = "units/new/"  # where begin_write names every state blob
MIN_AGE_SECS = 3600.0  # a write commits its row seconds after its blob; an hour is ample
SWEEP_INTERVAL_SECS = 3600.0

log = logging.getLogger("teamgate.storage")


def sweep(
    db: Database, blobs: BlobStore, *, now: float | None = None, min_age_secs: float = MIN_AGE_SECS
) -> list[str]:
    """Delete the orphan blobs older than `min_age_secs`; returns their keys."""
    cutoff = (time.time() if now is None else now) - min_age_secs
    # Listed before the rows are read: a blob that old is never referenced afresh (a restore
    # copies to a new key), so a row seen missing stays missing.
    old = [found.key for found in blobs.list_blobs(ORPHAN_PREFIX) if found.modified < cutoff]
    if not old:
        return []
    with db.read() as conn:
        referenced = store.referenced_blob_keys(conn, prefix=ORPHAN_PREFIX)
    orphans = [key for key in old if key not in referenced]
    for key in orphans:
        blobs.delete(key)
    if orphans:
        log.info(
            "Removed %d orphan blobs from %s (no unit or version refers to them; left by a "
            "crash during a write or a removal)",
            len(orphans),
            blobs.describe(),
        )
    return orphans


class Sweeper:
    """Runs `sweep` once when started, then every `interval_secs` in a daemon thread;
    `on_removed` hears how many blobs each sweep removed (for metrics)."""

    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        *,
        interval_secs: float = SWEEP_INTERVAL_SECS,
        on_removed: Callable[[int], None] | None = None,
    ) -> None:
        self.db = db
        self.blobs = blobs
        self.interval_secs = interval_secs
        self.on_removed = on_removed
        self._periodic = Periodic(
            self.sweep_logged, name="orphan-sweep", interval_secs=interval_secs
        )

    def sweep_logged(self) -> int:
        """One sweep; a failure is logged (the next sweep tries again), never raised."""
        try:
            removed = len(sweep(self.db, self.blobs))
        except Exception:
            log.exception(
                "Sweeping orphan blobs from %s failed; will try again later", self.blobs.describe()
            )
            return 0
        if self.on_removed is not None:
            self.on_removed(removed)
        return removed

    def start(self) -> None:
        """Sweep now (before the server answers), then periodically."""
        self._periodic.start()

    def stop(self) -> None:
        self._periodic.stop()
