"""Shared fixtures: the server in process (`app_factory`, tests/inprocess.py) for API behaviour,
real server processes on free ports for what the process itself does, htpasswd files, CLI runners.

`TEAMGATE_TEST_BACKEND=postgresql` (default: `sqlite`) puts every server on PostgreSQL: a server
started with `--database <file>` gets a fresh database instead of that file. The same file path
gives the same database, so a restarted server finds its data; the database is dropped once the
test (or module) that created it is over and its servers have stopped.

Tests written for one database (the storage contract's PostgreSQL half, two servers sharing one
PostgreSQL database) run unless TEAMGATE_TEST_BACKEND names the other one: `scripts/test` sets it
for each of its two passes, so each such test runs once.
"""

from __future__ import annotations

import os
import queue
import signal
import ssl
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import text

from teamgate.auth.passwords import hash_password
from teamgate.storage.db.engine import Database, database_url
from tests import pg_reuse
from tests.idp import idp, idp_factory  # noqa: F401  (fixtures: the real test IdP)
from tests.inprocess import App, running, settings_for

BIN = Path(sys.executable).parent
USERS = ("alice", "bob", "carol", "dave")
BACKEND_CHOSEN = os.environ.get("TEAMGATE_TEST_BACKEND") or None
BACKEND = BACKEND_CHOSEN or "sqlite"
PG_ADMIN = os.environ.get("TEAMGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
if BACKEND not in ("sqlite", "postgresql"):
    raise pytest.UsageError(f"TEAMGATE_TEST_BACKEND={BACKEND!r}: use sqlite or postgresql")

# Started in the background by a non-interactive shell (`.ci/run &`), the tests inherit SIGINT
# ignored, and so would every server they start: Ctrl-C is what some tests send. Python's own
# handler here; the processes started from here get the default action.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def runs_on(backend: str) -> bool:
    """Whether this run includes tests written for `backend` alone."""
    return BACKEND_CHOSEN in (None, backend)


postgresql_only = pytest.mark.skipif(
    not runs_on("postgresql"), reason="a PostgreSQL test: the TEAMGATE_TEST_BACKEND=postgresql pass"
)


def password_of(user: str) -> str:
    return f"{user}_password"


def write_htpasswd(path: Path, users: Sequence[str] = USERS, *, cost: int = 4) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{u}:{hash_password(password_of(u), cost=cost)}" for u in users]
    path.write_text("# test users\n" + "\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


@dataclass
class Server:
    process: subprocess.Popen[str]
    port: int
    log_path: Path
    stdout_lines: list[str] = field(default_factory=list)
    tls_ca: Path | None = None
    database: str | None = None  # the --database it was given: a file path or a URL

    @property
    def base_url(self) -> str:
        scheme = "https" if self.tls_ca else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def verify(self) -> ssl.SSLContext | bool:
        return ssl.create_default_context(cafile=str(self.tls_ca)) if self.tls_ca else True

    @property
    def torc_url(self) -> str:
        return f"{self.base_url}/torc-service/v1"

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class PgDatabases:
    """Fresh PostgreSQL databases, each a copy of a template this test process migrated once,
    or one a finished test gave back, emptied (tests/pg_reuse.py). Commits do not wait for the
    disk (synchronous_commit off): nothing here outlives a PostgreSQL crash.

    Databases made for a SQLite file path are kept by that path, with the servers that use them.
    """

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self._lock = threading.Lock()
        self._template: str | None = None
        self._fresh: pg_reuse.Template | None = None  # what the template holds
        self._free: list[str] = []  # given back, emptied
        self._by_path: dict[str, str] = {}
        self._servers: dict[str, list[Server]] = {}

    def url(self, name: str) -> str:
        return self.admin_url.rsplit("/", 1)[0] + f"/{name}"

    def _admin(self, statement: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5) as admin:
            admin.execute(statement)

    def create(self) -> str:
        """A new, migrated database; returns its name."""
        name = f"teamgate_test_{uuid.uuid4().hex[:12]}"
        with self._lock:  # one copy at a time: PostgreSQL refuses a template that is in use
            if self._free:
                return self._free.pop()
            if self._template is None:
                self._template = self._make_template()
                self._fresh = pg_reuse.read_template(self.url(self._template))
            self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{self._template}"')
        self._admin(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
        return name

    def _make_template(self) -> str:
        try:
            psycopg.connect(self.admin_url, connect_timeout=3).close()
        except psycopg.Error as exc:
            pytest.fail(f"PostgreSQL is not reachable at {self.admin_url}: {exc}")
        name = f"teamgate_template_{uuid.uuid4().hex[:12]}"
        self._admin(f'CREATE DATABASE "{name}"')
        db = Database(database_url(self.url(name)))
        try:
            db.migrate()
        finally:
            db.dispose()
        return name

    def drop(self, name: str) -> None:
        """Give the database back: emptied for the next test, or dropped if that cannot be."""
        self._admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            f" WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        )
        if self._fresh is not None and pg_reuse.empty(self.url(name), self._fresh):
            with self._lock:
                self._free.append(name)
        else:
            self._destroy(name)

    def _destroy(self, name: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def for_path(self, path: str) -> str:
        """The URL of the database that stands in for the SQLite file `path`."""
        key = str(Path(path).expanduser().absolute())
        with self._lock:
            name = self._by_path.get(key)
        if name is None:
            name = self.create()
            with self._lock:
                self._by_path[key] = name
                self._servers[name] = []
        return self.url(name)

    def attach(self, server: Server) -> None:
        """Remember that `server` uses its database, so it is not dropped under it."""
        with self._lock:
            for name, servers in self._servers.items():
                if server.database == self.url(name):
                    servers.append(server)

    def names(self) -> set[str]:
        with self._lock:
            return set(self._servers)

    def drop_unused(self, names: set[str]) -> None:
        """Drop those of `names` whose servers have all stopped."""
        with self._lock:
            idle = {
                name
                for name in names
                if all(s.process.poll() is not None for s in self._servers.get(name, []))
            }
            for name in idle:
                self._servers.pop(name, None)
            self._by_path = {k: v for k, v in self._by_path.items() if v not in idle}
        for name in idle:
            self.drop(name)

    def drop_all(self) -> None:
        self.drop_unused(self.names())
        with self._lock:
            leftovers, template = {*self._servers, *self._free}, self._template
            self._servers, self._by_path, self._template = {}, {}, None
            self._free, self._fresh = [], None
        for name in leftovers:
            self._destroy(name)
        if template is not None:
            self._destroy(template)


PG = PgDatabases(PG_ADMIN)


def backend_args(args: Sequence[str]) -> list[str]:
    """`torc-server run` arguments for the test backend: on PostgreSQL, `--database <file>` becomes
    a database of its own, and the blob store stays where it would be beside that file."""
    out = list(args)
    if BACKEND != "postgresql" or "--database" not in out:
        return out
    at = out.index("--database") + 1
    path = out[at]
    if "://" in path:
        return out
    out[at] = PG.for_path(path)
    if "--blob-store" not in out:
        out += ["--blob-store", str(Path(path).expanduser().parent / "blobs")]
    return out


def database_for(path: Path) -> str:
    """What to put in a config file's `database` for a server whose SQLite file is `path`."""
    return PG.for_path(str(path)) if BACKEND == "postgresql" else str(path)


def execute_sql(server: Server | App, statement: str, **params: Any) -> None:
    """Run one SQL statement (`:name` parameters) on the database behind `server`."""
    assert server.database is not None, "the server was started without --database"
    db = Database(database_url(server.database), pool_size=1)
    try:
        with db.write() as conn:
            conn.execute(text(statement), params)
    finally:
        db.dispose()


@pytest.fixture(scope="session", autouse=True)
def _drop_postgresql_databases() -> Iterator[None]:
    yield
    PG.drop_all()


@pytest.fixture(scope="module", autouse=True)
def _drop_module_databases() -> Iterator[None]:
    before = PG.names()
    yield
    PG.drop_unused(PG.names() - before)


@pytest.fixture(autouse=True)
def _drop_test_databases() -> Iterator[None]:
    before = PG.names()
    yield
    PG.drop_unused(PG.names() - before)


def start_server(
    workdir: Path,
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    tls_ca: Path | None = None,
) -> Server:
    """Start `torc-server run` on a free port and wait until it answers /healthz.

    With `tls_ca`, the server is expected to speak HTTPS with a certificate signed by it.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / f"server-{len(list(workdir.glob('server-*.log')))}.log"
    full_env = {**os.environ, **(env or {})}
    args = tuple(backend_args(args))
    database = args[args.index("--database") + 1] if "--database" in args else None
    cmd = [str(BIN / "torc-server"), "run", "--host", "127.0.0.1", "--port", "0", *args]
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=log_file,
            text=True,
            env=full_env,
            cwd=cwd or workdir,
        )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    port = None
    seen: list[str] = []
    while port is None:
        try:
            line = lines.get(timeout=60)
        except queue.Empty:
            process.kill()
            raise RuntimeError(f"server did not report its port:\n{log_path.read_text()}") from None
        if line is None:
            process.wait()
            raise RuntimeError(f"server exited ({process.returncode}):\n{log_path.read_text()}")
        seen.append(line)
        if line.startswith("TORC_SERVER_PORT="):
            port = int(line.split("=", 1)[1])
    server = Server(process, port, log_path, seen, tls_ca, database)
    PG.attach(server)
    _wait_healthy(server)
    return server


def _wait_healthy(server: Server) -> None:
    with httpx.Client(timeout=2, verify=server.verify()) as client:
        for _ in range(300):
            try:
                if client.get(f"{server.base_url}/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if server.process.poll() is not None:
                break
            threading.Event().wait(0.05)  # polling for readiness, not a race
    server.stop()
    raise RuntimeError(f"server never became healthy:\n{server.log()}")


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[object]:
    started: list[Server] = []

    def factory(*args: str, **kwargs: object) -> Server:
        server = start_server(tmp_path / "server", *args, **kwargs)  # type: ignore[arg-type]
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


def start_app(stack: ExitStack, root: Path, *, users: Sequence[str] = USERS, **values: Any) -> App:
    """The server in this process (tests/inprocess.py), kept under `root` on the test backend,
    running until `stack` closes; `users` are in its htpasswd file (none: no auth file)."""
    root.mkdir(parents=True, exist_ok=True)
    auth_file = write_htpasswd(root / "htpasswd", users) if users else None
    settings = settings_for(root, database_for(root / "torc.db"), auth_file, **values)
    return stack.enter_context(running(settings))


AppFactory = Callable[..., App]


@pytest.fixture
def app_factory(tmp_path: Path) -> Iterator[AppFactory]:
    """`app_factory(name="app", users=USERS, **settings)`: a fresh in-process server per call."""
    with ExitStack() as stack:
        yield lambda name="app", **kwargs: start_app(stack, tmp_path / name, **kwargs)


@pytest.fixture
def htpasswd(tmp_path: Path) -> Path:
    return write_htpasswd(tmp_path / "etc" / "htpasswd")


@pytest.fixture
def secured_server(server_factory, htpasswd: Path, tmp_path: Path) -> Server:  # type: ignore[no-untyped-def]
    """The tutorial's server: auth required, access control on, alice is an administrator."""
    return server_factory(  # type: ignore[no-any-return]
        "--database",
        str(tmp_path / "db" / "torc.db"),
        "--auth-file",
        str(htpasswd),
        "--require-auth",
        "--enforce-access-control",
        "--admin-user",
        "alice",
    )


@pytest.fixture
def secured_app(app_factory: AppFactory) -> App:
    """The tutorial's server, in process."""
    return app_factory(require_auth=True, enforce_access_control=True, admin_users=("alice",))


def cli_env(server: Server, user: str | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORC_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["TORC_API_URL"] = server.torc_url
    env["COLUMNS"] = "200"
    if user is not None:
        env["USER"] = user
        env["TORC_PASSWORD"] = password_of(user)
    env.update(extra)
    return env


def torc(
    server: Server, user: str | None, *args: str, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    """Run the real `torc` CLI as `user` against `server`."""
    return subprocess.run(
        [str(BIN / "torc"), *args],
        env=cli_env(server, user),
        capture_output=True,
        text=True,
        timeout=60,
        **kwargs,  # type: ignore[call-overload]
    )
