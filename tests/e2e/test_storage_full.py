"""A full disk is a 507 that says so, the connection stays usable and nothing changes.

The faults are real: a file size limit (RLIMIT_FSIZE, set on the running server with
prlimit) makes the blob store's writes fail with EFBIG as a full disk fails them with ENOSPC;
SQLite's max_page_count makes the database answer SQLITE_FULL ("database or disk is full"),
as it does when its disk fills. PostgreSQL's disk_full (53100) cannot be caused without
filling the machine's disk, so it is recognised from its SQLSTATE alone.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import resource
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from teamgate.errors import InsufficientStorage
from teamgate.settings import Settings
from teamgate.storage.blobs.filesystem import FilesystemBlobStore, FilesystemBlobWriter
from teamgate.storage.db.engine import Database, database_url
from teamgate.storage.db.faults import storage_full
from teamgate.web.app import create_app
from tests.conftest import BACKEND, Server, start_server

KiB = 1024


def state(serial: int, pad: int = 0) -> bytes:
    return json.dumps({"version": 4, "serial": serial, "padding": "x" * pad}).encode()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    started = start_server(
        tmp_path / "server",
        "--database", str(tmp_path / "torc.db"),
        "--blob-store", str(tmp_path / "blobs"),
    )  # fmt: skip
    yield started
    started.stop()


def request(conn: http.client.HTTPConnection, method: str, path: str, body: bytes = b"") -> Any:
    conn.request(method, path, body=body or None)
    response = conn.getresponse()
    return response.status, response.read(), response.getheader("connection")


def largest_file(root: Path) -> int:
    return max(p.stat().st_size for p in root.rglob("*") if p.is_file())


def test_a_full_blob_store_is_507_and_the_connection_and_old_state_survive(
    server: Server, tmp_path: Path
) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    assert request(conn, "PUT", "/v1/state/full/unit", state(1))[0] == 200
    socket_before = conn.sock
    limit = largest_file(tmp_path) + 256 * KiB  # the database may still grow a little
    pid, (_soft, hard) = (
        server.process.pid,
        resource.prlimit(server.process.pid, resource.RLIMIT_FSIZE),
    )
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (limit, hard))
    try:
        status, body, connection = request(conn, "PUT", "/v1/state/full/unit", state(2, limit))
        assert status == 507, body
        answer = json.loads(body)
        assert answer["error"] == "InsufficientStorage"
        assert "full" in answer["message"] and "Nothing was changed" in answer["message"]
        assert connection != "close"
        status, body, _ = request(conn, "GET", "/v1/state/full/unit")
        assert (status, json.loads(body)["serial"]) == (200, 1)  # the old state, same socket
        assert conn.sock is socket_before
        status, body, _ = request(conn, "GET", "/v1/versions/full/unit")
        assert status == 200 and json.loads(body)["versions"] == []
    finally:
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (hard, hard))
    assert not [p for p in (tmp_path / "blobs").rglob(".*.tmp")]  # the failed write's is gone
    assert request(conn, "PUT", "/v1/state/full/unit", state(3, limit))[0] == 200
    conn.close()


def test_a_blob_writer_meeting_a_full_device_raises_insufficient_storage(tmp_path: Path) -> None:
    """/dev/full answers every write with ENOSPC, as a full disk does."""
    store = FilesystemBlobStore(tmp_path / "blobs")
    fd = os.open("/dev/full", os.O_WRONLY)
    target = store.root / "units" / "x.tfstate"
    writer = FilesystemBlobWriter("units/x.tfstate", target, tmp_path / "pending.tmp", fd)
    with pytest.raises(InsufficientStorage, match="No space left on device"):
        writer.write(b"x" * (1 << 20))  # larger than the buffer: written at once
    writer.abort()
    fd = os.open("/dev/full", os.O_WRONLY)
    small = FilesystemBlobWriter("units/x.tfstate", target, tmp_path / "pending.tmp", fd)
    small.write(b"{}")  # buffered: the disk is met when the blob is made durable
    with pytest.raises(InsufficientStorage, match="blob storage"):
        small.commit()
    assert not target.exists()


@pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite's page limit; PostgreSQL: see below")
def test_a_full_sqlite_database_is_507_and_changes_nothing(tmp_path: Path) -> None:
    """In process: the limit is a pragma on the server's own connections."""
    db = Database(database_url(str(tmp_path / "torc.db")))
    settings = Settings(database=str(tmp_path / "torc.db"), blob_store=str(tmp_path / "blobs"))
    app = create_app(settings, database=db)

    def no_new_pages(dbapi: Any, _record: Any) -> None:
        pages = dbapi.execute("PRAGMA page_count").fetchone()[0]
        dbapi.execute(f"PRAGMA max_page_count = {pages}")

    async def scenario() -> tuple[list[httpx.Response], httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://teamgate") as client:
            assert (await client.post("/v1/units", json={"path": "before/full"})).status_code == 201
            event.listen(db.engine, "connect", no_new_pages)
            db.engine.dispose()  # every connection from now on has the limit
            paths = [f"full/{i:03}" + "x" * 900 for i in range(40)]  # long: pages fill fast
            answers = [await client.post("/v1/units", json={"path": path}) for path in paths]
            return answers, await client.get("/v1/units")

    try:
        answers, listed = asyncio.run(scenario())
    finally:
        db.dispose()
    statuses = {r.status_code for r in answers}
    assert statuses <= {201, 507} and 507 in statuses, statuses
    full = next(r for r in answers if r.status_code == 507).json()
    assert full["error"] == "InsufficientStorage"
    assert "database or disk is full" in full["message"]
    created = {r.json()["path"] for r in answers if r.status_code == 201}
    assert listed.status_code == 200
    assert {u["path"] for u in listed.json()["units"]} == {"before/full", *created}


def test_postgresql_disk_full_is_insufficient_storage() -> None:
    orig = psycopg.errors.DiskFull("could not extend file: No space left on device")
    found = storage_full(OperationalError("INSERT …", {}, orig))
    assert isinstance(found, InsufficientStorage)
    assert "No space left on device" in found.message
    other = psycopg.errors.UniqueViolation("duplicate key")
    assert storage_full(OperationalError("INSERT …", {}, other)) is None
