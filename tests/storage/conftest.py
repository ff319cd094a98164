"""One storage contract, run on a real SQLite file and on the machine's PostgreSQL, and one
blob store contract, run on a real directory and on a real S3 API (a moto server process)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import httpx
import pytest

from teamgate.errors import NotFound
from teamgate.storage.blobs import BlobInfo, BlobStore
from teamgate.storage.blobs.filesystem import FilesystemBlobStore
from teamgate.storage.blobs.s3 import S3BlobStore
from teamgate.storage.db.engine import Database, database_url
from tests.conftest import PG, runs_on

BUCKET = "teamgate-test"


# Both databases unless TEAMGATE_TEST_BACKEND picks one (scripts/test runs a pass for each).
@pytest.fixture(params=[b for b in ("sqlite", "postgresql") if runs_on(b)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        db = Database(database_url(str(tmp_path / "torc.db")))
        db.migrate()
        yield db
        db.dispose()
        return
    name = PG.create()
    db = Database(database_url(PG.url(name)))
    try:
        db.migrate()  # a no-op on the migrated copy; what a server does when it starts
        yield db
    finally:
        db.dispose()
        PG.drop(name)


@dataclass(frozen=True)
class MotoServer:
    endpoint: str
    bucket: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_answering(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited ({process.returncode}):\n{log.read_text()}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)  # polling for readiness, not a race
    raise RuntimeError(f"moto_server did not answer at {url}:\n{log.read_text()}")


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """A real moto S3 server on a free port, with one bucket and dummy credentials."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", "test")
        env.setenv("AWS_SECRET_ACCESS_KEY", "test")
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
            env.delenv(name, raising=False)
        script = Path(sys.executable).parent / "moto_server"
        command = [str(script)] if script.exists() else [sys.executable, "-m", "moto.server"]
        port = _free_port()
        log = tmp_path_factory.mktemp("moto") / "moto_server.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [*command, "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=out
            )
        try:
            endpoint = f"http://127.0.0.1:{port}"
            _wait_answering(endpoint, process, log)
            admin = boto3.session.Session().client("s3", endpoint_url=endpoint)
            admin.create_bucket(Bucket=BUCKET)
            yield MotoServer(endpoint, BUCKET)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(params=["filesystem", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "filesystem":
        return FilesystemBlobStore(tmp_path / "blobs")
    moto: MotoServer = request.getfixturevalue("moto_server")
    prefix = f"test-{uuid.uuid4().hex[:8]}"  # one bucket for the session; a prefix per test
    return S3BlobStore(moto.bucket, prefix, endpoint_url=moto.endpoint, region="us-east-1")


def put(store: BlobStore, key: str, data: bytes) -> BlobInfo:
    """Write a whole blob as the server does, through a writer."""
    with store.writer(key) as writer:
        writer.write(data)
        return writer.commit()


def exists(store: BlobStore, key: str) -> bool:
    """Whether a committed blob can be read at `key`."""
    try:
        store.read(key)
    except NotFound:
        return False
    return True
