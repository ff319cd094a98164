"""The orphan blob sweep, on SQLite and PostgreSQL, with a real directory and a real S3 API.

Orphans are made for real: blobs written through the store that no unit row names, as a crash
between a write's blob and its row leaves them. Age comes from the file's mtime (set back with
os.utime) or, where the store's clock cannot be set back (S3), from a sweep that looks from
two hours later.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from teamgate.services import orphans
from teamgate.storage.blobs import BlobStore
from teamgate.storage.blobs.filesystem import FilesystemBlobStore
from teamgate.storage.db import units
from teamgate.storage.db.engine import Database
from tests.storage.conftest import put

LATER = 2 * 3600.0  # seconds: every blob written now is older than the safety age by then


def key(name: str) -> str:
    return f"{orphans.ORPHAN_PREFIX}{name}.tfstate"


def unit_with_history(db: Database, blobs: BlobStore, path: str, *names: str) -> None:
    """A unit whose writes stored `names` in turn: the last is current, the rest versions."""
    with db.write() as conn:
        found = units.insert_unit(conn, path, owner="ann")
        for name in names:
            info = put(blobs, key(name), b'{"version": 4}')
            found = units.record_write(
                conn,
                found,
                blob_key=info.key,
                size=info.size,
                sha256=info.sha256,
                writer=units.Writer("ann"),
            )


def keys(blobs: BlobStore) -> set[str]:
    return {found.key for found in blobs.list_blobs(orphans.ORPHAN_PREFIX)}


def test_orphans_are_removed_and_referenced_blobs_kept(
    database: Database, store: BlobStore
) -> None:
    unit_with_history(database, store, "team/app", "v1", "v2", "current")
    for name in ("crashed-write", "removed-version"):
        put(store, key(name), b"{}")
    put(store, "elsewhere/not-a-state", b"x")  # outside the prefix: not the sweep's
    assert orphans.sweep(database, store) == []  # all young: a write may be in flight
    removed = orphans.sweep(database, store, now=time.time() + LATER)
    assert sorted(removed) == [key("crashed-write"), key("removed-version")]
    assert keys(store) == {key("v1"), key("v2"), key("current")}
    assert store.read("elsewhere/not-a-state") == b"x"
    assert orphans.sweep(database, store, now=time.time() + LATER) == []


def backdate(store: FilesystemBlobStore, *names: str) -> None:
    old = time.time() - 2 * orphans.MIN_AGE_SECS
    for name in names:
        os.utime(store.root / key(name), (old, old))


def test_a_young_orphan_is_kept_for_a_later_sweep(database: Database, tmp_path: Path) -> None:
    """Blob written, row not committed yet: only its age tells it from a crash's leftover."""
    store = FilesystemBlobStore(tmp_path / "blobs")
    unit_with_history(database, store, "team/app", "current")
    put(store, key("old-orphan"), b"{}")
    backdate(store, "old-orphan", "current")
    put(store, key("in-flight"), b"{}")
    assert orphans.sweep(database, store) == [key("old-orphan")]
    assert keys(store) == {key("current"), key("in-flight")}


def test_the_sweeper_reports_each_sweep_and_survives_a_failure(
    database: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="teamgate.storage")
    store = FilesystemBlobStore(tmp_path / "blobs")
    for name in ("a", "b"):
        put(store, key(name), b"{}")
    backdate(store, "a", "b")
    heard: list[int] = []
    sweeper = orphans.Sweeper(database, store, interval_secs=3600, on_removed=heard.append)
    assert sweeper.sweep_logged() == 2
    assert "Removed 2 orphan blobs" in caplog.text
    put(store, key("c"), b"{}")
    backdate(store, "c")
    with database.write() as conn:
        conn.execute(text("DROP TABLE unit_version"))  # a real failure of the next query
    assert sweeper.sweep_logged() == 0
    assert "Sweeping orphan blobs" in caplog.text and "failed" in caplog.text
    assert heard == [2]  # a failed sweep reports nothing
    assert keys(store) == {key("c")}  # and deletes nothing


def test_list_blobs_skips_writes_in_progress(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path / "blobs")
    put(store, key("done"), b"{}")
    with store.writer(key("pending")) as pending:
        pending.write(b"{")
        assert keys(store) == {key("done")}
    with pytest.raises(Exception, match="must end with '/'"):
        list(store.list_blobs("units/new"))
