"""Crash safety: `kill -9` a real server in the middle of concurrent writes, restart it on the
same database and blob directory, and nothing that was acknowledged is lost or damaged.

Client threads push states (some under a held lock, through both APIs), take and release
locks, edit access groups and RBAC, and create workflows. Each records in a `Ledger` what every
acknowledged (2xx) request wrote, and the one request it has in flight. The thread whose
acknowledgement reaches a set count kills the server (SIGKILL) there and then. After the restart:

- SQLite says `integrity_check` ok and no foreign key is broken (on PostgreSQL the hash checks
  below stand in for it);
- every unit's current blob and every version blob exists with its recorded size and SHA-256,
  no key names a temp file, and the startup sweep has removed every temp file;
- each unit's history (versions, oldest first, then the current state) is the tail of the
  pushes its thread acknowledged, or of those plus the push in flight, and its generation
  counts them: a push acknowledged is never lost, nothing unsent appears;
- each lock, group, membership, permission, role, assignment and workflow is as the last
  acknowledged request left it, or as the request in flight would have left it;
- the restarted server serves every state and accepts new writes.

Also here: the startup sweep of temp files (a writer's lock tells a live writer from a dead
one) and a commit whose answer is lost, which must not delete the blob it committed.
"""

from __future__ import annotations

import fcntl
import hashlib
import itertools
import json
import os
import random
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Connection, event, select

from teamgate.domain.identity import Principal
from teamgate.domain.rules import parse_rule
from teamgate.services import orphans, units
from teamgate.services.context import ServiceContext
from teamgate.storage.blobs.filesystem import TEMP_SUFFIX, FilesystemBlobStore
from teamgate.storage.db import tables as t
from teamgate.storage.db.engine import Database, database_url
from tests.conftest import BACKEND, PG, Server, password_of, start_server, write_htpasswd
from tests.storage.conftest import put

MAX_VERSIONS = 3
KILL_POINTS = (4, 60, 180)  # acknowledged writes before the kill: early, busy, later
PUSH_SIZES = (700, 90_000, 1_400_000)  # bytes; the largest spans two of the server's batches
TRAFFIC_DEADLINE_SECS = 90  # the kill comes long before this on any machine

Key = tuple[str, ...]
ABSENT = "<absent>"
ANY = "<present, any value>"
PRESENT = "<present>"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def state(path: str, serial: int) -> bytes:
    """A Terraform-like state, different for every (path, serial), of one of PUSH_SIZES."""
    size = PUSH_SIZES[serial % len(PUSH_SIZES)]
    padding = random.Random(f"{path}#{serial}").randbytes(size // 2).hex()
    body = {"version": 4, "serial": serial, "lineage": path, "padding": padding}
    return json.dumps(body).encode()


class Killed(Exception):
    """The server is gone (or the test is stopping after an error); the thread stops."""


@dataclass
class Ledger:
    """What the clients were told: the state each key had after its last acknowledged change,
    and the state a request still in flight would give it. Kills the server at `kill_at`."""

    kill_at: int
    server: Server
    acked: dict[Key, Any] = field(default_factory=dict)
    in_flight: dict[Key, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    count: int = 0
    killed: threading.Event = field(default_factory=threading.Event)
    stopping: threading.Event = field(default_factory=threading.Event)  # after an error
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(
        self,
        key: Key,
        value: Any,
        request: Callable[[], httpx.Response],
        *,
        expect: int = 200,
        acked_value: Callable[[httpx.Response], Any] | None = None,
    ) -> httpx.Response:
        """Run `request`, which sets `key` to `value` (known or not before the answer).

        Threads go on sending after the kill, until the server is gone, so that many
        requests are under way when it dies.
        """
        if self.stopping.is_set():
            raise Killed
        with self.lock:
            self.in_flight[key] = value
        try:
            response = request()
        except httpx.TransportError as exc:
            if not self.killed.is_set():
                self.error(f"{key}: {exc!r} before the kill")
            raise Killed from None  # stays in flight: it may or may not have committed
        if response.status_code != expect:
            self.error(f"{key}: {response.status_code} {response.text[:300]}")
            raise Killed
        with self.lock:
            del self.in_flight[key]
            self.acked[key] = acked_value(response) if acked_value else value
            self.count += 1
            if self.count == self.kill_at:
                os.kill(self.server.process.pid, signal.SIGKILL)
                self.killed.set()
        return response

    def error(self, message: str) -> None:
        """Record a failure and stop every thread (the test fails on it)."""
        with self.lock:
            self.errors.append(message)
        self.stopping.set()

    def allowed(self, key: Key) -> list[Any]:
        """The states `key` may have after the crash."""
        values = [self.acked.get(key, ABSENT)]
        if key in self.in_flight:
            values.append(self.in_flight[key])
        return values


# -- traffic ----------------------------------------------------------------------------


def pusher(path: str, *, api: str, lock_id: str | None) -> Callable[[httpx.Client, Ledger], None]:
    """Push states 1, 2, … to `path` one after the other (holding `lock_id` when given)."""

    def push(c: httpx.Client, data: bytes) -> httpx.Response:
        if api == "backend":
            params = {"ID": lock_id} if lock_id else None
            return c.post(f"/v1/backend/{path}", params=params, content=data)
        params = {"lock_id": lock_id} if lock_id else None
        return c.put(f"/v1/state/{path}", params=params, content=data)

    def run(c: httpx.Client, ledger: Ledger) -> None:
        if lock_id is not None:
            ledger.send(("lock", path), lock_id, partial(take_lock, c, path, lock_id, api=api))
        history: tuple[str, ...] = ()
        for serial in itertools.count(1):
            data = state(path, serial)
            value = (*history, sha(data))
            ledger.send(("history", path), value, partial(push, c, data))
            history = value

    return run


def take_lock(c: httpx.Client, path: str, lock_id: str, *, api: str) -> httpx.Response:
    if api == "backend":
        body = {"ID": lock_id, "Operation": "OperationTypeApply", "Who": "crash-test"}
        return c.request("LOCK", f"/v1/backend/{path}", json=body)
    return c.post(f"/v1/locks/{path}", json={"id": lock_id, "who": "crash-test"})


def release_lock(c: httpx.Client, path: str, lock_id: str, *, api: str) -> httpx.Response:
    if api == "backend":
        return c.request("UNLOCK", f"/v1/backend/{path}", json={"ID": lock_id})
    return c.delete(f"/v1/locks/{path}", params={"lock_id": lock_id})


def locker(path: str, *, api: str) -> Callable[[httpx.Client, Ledger], None]:
    """Lock and unlock `path` over and over, each time with a new lock ID."""

    def run(c: httpx.Client, ledger: Ledger) -> None:
        for i in itertools.count():
            lock_id = f"{path.replace('/', '-')}-{i}"
            ledger.send(("lock", path), lock_id, partial(take_lock, c, path, lock_id, api=api))
            ledger.send(("lock", path), ABSENT, partial(release_lock, c, path, lock_id, api=api))

    return run


def grouper(c: httpx.Client, ledger: Ledger) -> None:
    """Create groups; add bob and carol (admin) to each, then remove bob."""
    for i in itertools.count():
        name = f"crash-group-{i}"
        created = ledger.send(
            ("group", name),
            ANY,
            partial(c.post, "/torc-service/v1/access_groups", json={"name": name}),
            acked_value=lambda r: r.json()["id"],
        )
        members = f"/torc-service/v1/access_groups/{created.json()['id']}/members"
        for user, role in (("bob", "member"), ("carol", "admin")):
            body = {"user_name": user, "role": role}
            ledger.send(("member", name, user), role, partial(c.post, members, json=body))
        ledger.send(("member", name, "bob"), ABSENT, partial(c.delete, f"{members}/bob"))


def rbac_editor(c: httpx.Client, ledger: Ledger) -> None:
    """Create permissions and roles, give each role its permission and a user the role."""
    for i in itertools.count():
        permission, role, user = f"crash-perm-{i}", f"crash-role-{i}", f"user{i}@example.com"
        rules = (parse_rule(f"allow:unit.read,unit.lock:crash/{i}/*").text,)
        body = {"id": permission, "rules": list(rules)}
        post = partial(c.post, "/v1/rbac/permissions", json=body)
        ledger.send(("permission", permission), rules, post, expect=201)
        post = partial(c.post, "/v1/rbac/roles", json={"id": role})
        ledger.send(("role", role), PRESENT, post, expect=201)
        link = {"permission_id": permission}
        post = partial(c.post, f"/v1/rbac/roles/{role}/permissions", json=link)
        ledger.send(("role-permission", role, permission), PRESENT, post)
        assignment = {"email": user, "role_id": role}
        post = partial(c.post, "/v1/rbac/users/assign", json=assignment)
        ledger.send(("assignment", user, role), PRESENT, post)


def workflow_creator(c: httpx.Client, ledger: Ledger) -> None:
    for i in itertools.count():
        name = f"crash-workflow-{i}"
        post = partial(c.post, "/torc-service/v1/workflows", json={"name": name})
        ledger.send(("workflow", name), PRESENT, post)


PUSHED = {  # unit path: (owner, API, lock held while pushing)
    "crash/alice-state": ("alice", "state", None),
    "crash/bob-state-locked": ("bob", "state", "bob-holds-this"),
    "crash/carol-backend": ("carol", "backend", None),
    "crash/dave-backend-locked": ("dave", "backend", "dave-holds-this"),
}
LOCKED = {"crash/locks/alice": ("alice", "state"), "crash/locks/bob": ("bob", "backend")}


def workers() -> list[tuple[str, Callable[[httpx.Client, Ledger], None]]]:
    """(user, work) for every client thread."""
    found: list[tuple[str, Callable[[httpx.Client, Ledger], None]]] = [
        (user, pusher(path, api=api, lock_id=lock_id))
        for path, (user, api, lock_id) in PUSHED.items()
    ]
    found += [(user, locker(path, api=api)) for path, (user, api) in LOCKED.items()]
    found += [("alice", grouper), ("alice", rbac_editor), ("bob", workflow_creator)]
    return found


def client(server: Server, user: str) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, auth=(user, password_of(user)), timeout=30)


def run_until_killed(server: Server, ledger: Ledger) -> None:
    """Run every worker in its own thread until the ledger kills the server."""
    threads = []
    clients = [(client(server, user), work) for user, work in workers()]

    def run(c: httpx.Client, work: Callable[[httpx.Client, Ledger], None]) -> None:
        try:
            work(c, ledger)
        except Killed:
            pass
        except BaseException as exc:  # a broken test must not hang waiting for the kill
            ledger.error(f"{work}: {exc!r}")
            raise
        finally:
            c.close()

    for c, work in clients:
        threads.append(threading.Thread(target=run, args=(c, work), daemon=True))
        threads[-1].start()
    deadline = time.monotonic() + TRAFFIC_DEADLINE_SECS
    for thread in threads:  # each ends when the server has gone, or after an error
        thread.join(max(0.0, deadline - time.monotonic()))
    if any(thread.is_alive() for thread in threads):
        ledger.error(f"{ledger.count} of {ledger.kill_at} writes acknowledged in time")
        for thread in threads:
            thread.join(60)


# -- what is on disk after the crash ------------------------------------------------------


@dataclass
class Snapshot:
    """The state the database and the blob directory hold, keyed like the ledger."""

    values: dict[Key, Any]
    problems: list[str]


def snapshot(server: Server, blob_root: Path) -> Snapshot:
    assert server.database is not None
    db = Database(database_url(server.database), pool_size=1)
    try:
        with db.read() as conn:
            values, problems = _units(conn, blob_root)
            values.update(_access(conn))
    finally:
        db.dispose()
    return Snapshot(values, problems)


def _units(conn: Connection, blob_root: Path) -> tuple[dict[Key, Any], list[str]]:
    values: dict[Key, Any] = {}
    problems: list[str] = []
    versions: dict[int, list[Any]] = {}
    for v in conn.execute(select(t.unit_version).order_by(t.unit_version.c.generation)):
        versions.setdefault(v.unit_id, []).append(v)
        problems += _blob_problems(blob_root, v.blob_key, v.size, v.sha256, f"version {v}")
    for u in conn.execute(select(t.unit)):
        mine = versions.pop(u.id, [])
        if u.lock_id is not None:
            info = json.loads(u.lock_info)
            if info.get("ID") != u.lock_id:
                problems.append(f"{u.path}: lock {u.lock_id} has lock info {info}")
        values["lock", u.path] = u.lock_id or ABSENT
        if u.blob_key is None:
            values["history", u.path] = ABSENT
            if mine or u.generation != 0:
                problems.append(f"{u.path}: no state, generation {u.generation}, {mine}")
            continue
        problems += _blob_problems(blob_root, u.blob_key, u.size, u.sha256, f"unit {u.path}")
        generations = [v.generation for v in mine]
        if generations != list(range(u.generation - len(mine), u.generation)):
            problems.append(f"{u.path}: generation {u.generation} with versions {generations}")
        values["history", u.path] = (u.generation, (*(v.sha256 for v in mine), u.sha256))
    if versions:
        problems.append(f"versions of units that do not exist: {versions}")
    return values, problems


def _blob_problems(root: Path, key: str, size: int, digest: str, what: str) -> list[str]:
    if any(part.startswith(".") or part.endswith(TEMP_SUFFIX) for part in key.split("/")):
        return [f"{what} names a temporary file: {key}"]
    try:
        data = root.joinpath(*key.split("/")).read_bytes()
    except FileNotFoundError:
        return [f"{what}: blob {key} is missing"]
    if len(data) != size or sha(data) != digest:
        return [f"{what}: blob {key} has {len(data)} bytes, SHA-256 {sha(data)}"]
    return []


def _access(conn: Connection) -> dict[Key, Any]:
    values: dict[Key, Any] = {}
    groups = {g.id: g.name for g in conn.execute(select(t.access_group))}
    values.update({("group", name): id for id, name in groups.items()})
    for m in conn.execute(select(t.membership)):
        values["member", groups[m.group_id], m.user_name] = m.role
    rules: dict[str, list[str]] = {}
    for p in conn.execute(select(t.rbac_permission)):
        rules[p.id] = []
    for r in conn.execute(
        select(t.rbac_permission_rule).order_by(t.rbac_permission_rule.c.position)
    ):
        rules[r.permission_id].append(r.rule)
    values.update({("permission", id): tuple(found) for id, found in rules.items()})
    for role in conn.execute(select(t.rbac_role)):
        values["role", role.id] = PRESENT
    for link in conn.execute(select(t.rbac_role_permission)):
        values["role-permission", link.role_id, link.permission_id] = PRESENT
    for a in conn.execute(select(t.rbac_user_role)):
        values["assignment", a.user_name, a.role_id] = PRESENT
    for w in conn.execute(select(t.workflow)):
        values["workflow", w.name] = PRESENT
    return values


def matches(actual: Any, expected: Any, key: Key) -> bool:
    if key[0] == "history" and expected is not ABSENT and actual is not ABSENT:
        generation, shas = actual  # the pushes since the unit was made, the newest kept
        return bool(generation == len(expected) and shas == expected[-(MAX_VERSIONS + 1) :])
    if expected is ANY:
        return actual is not ABSENT
    return bool(actual == expected)


def brief(key: Key, value: Any, *, ledger: bool = False) -> Any:
    """A history as its generation and short hashes (the ledger's: all pushes so far)."""
    if key[0] != "history" or value is ABSENT:
        return value
    generation, shas = (len(value), value) if ledger else value
    return (generation, [digest[:8] for digest in shas[-(MAX_VERSIONS + 1) :]])


def check_against_ledger(found: Snapshot, ledger: Ledger) -> list[str]:
    problems = list(found.problems)
    for key in sorted(set(ledger.acked) | set(ledger.in_flight)):
        actual = found.values.get(key, ABSENT)
        allowed = ledger.allowed(key)
        if not any(matches(actual, expected, key) for expected in allowed):
            shown = [brief(key, expected, ledger=True) for expected in allowed]
            problems.append(f"{key}: found {brief(key, actual)}, expected one of {shown}")
    for key, actual in found.values.items():  # nothing appeared that no request asked for
        if actual is ABSENT or key in ledger.acked or key in ledger.in_flight:
            continue
        if key[0] in ("history", "lock", "workflow") or "crash" in "".join(key):
            problems.append(f"{key} = {actual} was never written")
    return problems


# -- the test -----------------------------------------------------------------------------


def server_args(root: Path) -> list[str]:
    auth_file = root / "htpasswd"
    if not auth_file.exists():
        write_htpasswd(auth_file)
    return [
        "--database", str(root / "db" / "torc.db"),
        "--blob-store", str(root / "blobs"),
        "--auth-file", str(auth_file),
        "--require-auth",
        "--enforce-access-control",
        "--admin-user", "alice",
        "--max-versions", str(MAX_VERSIONS),
    ]  # fmt: skip


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def check_sqlite_file(path: Path) -> None:
    """The file as the killed server left it (opening it replays the WAL, as a server would)."""
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    conn.close()


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob(f"*{TEMP_SUFFIX}") if p.name.startswith(".")]


def check_restarted_server(server: Server, found: Snapshot) -> None:
    """Every state reads back as recorded, and every unit takes a new write."""
    for path, (user, _api, _lock_id) in PUSHED.items():
        with client(server, user) as c:
            history = found.values.get(("history", path), ABSENT)
            response = c.get(f"/v1/state/{path}")
            if history is ABSENT:
                assert response.status_code in (204, 404), response.text
            else:
                assert response.status_code == 200, response.text
                assert sha(response.content) == history[1][-1]
            held = found.values.get(("lock", path), ABSENT)
            params = {"lock_id": held} if held is not ABSENT else None
            written = c.put(f"/v1/state/{path}", content=b"{}", params=params)
            assert written.status_code == 200, written.text


def plant_temp_files(blobs: Path) -> tuple[Path, Path]:
    """A temp file a dead writer left, and one another process is writing (holds locked)."""
    folder = blobs / "units" / "new"
    folder.mkdir(parents=True, exist_ok=True)
    dead, held = folder / ".0123abcd.tfstate.k2j3h4.tmp", folder / ".4567ef.tfstate.held.tmp"
    dead.write_bytes(b'{"half": "a st')
    held.write_bytes(b"{")
    return dead, held


def let_create_units(admin: httpx.Client, users: tuple[str, ...]) -> None:
    """Once RBAC is initialised, creating a unit needs unit.write on its path: the pushers and
    lockers get it under crash/ (their units are theirs once made)."""
    rule = "allow:unit.read,unit.write,unit.lock:crash/*"
    calls = [
        ("/v1/rbac/permissions", {"id": "unit-makers", "rules": [rule]}),
        ("/v1/rbac/roles", {"id": "unit-makers"}),
        ("/v1/rbac/roles/unit-makers/permissions", {"permission_id": "unit-makers"}),
    ]
    calls += [("/v1/rbac/users/assign", {"email": u, "role_id": "unit-makers"}) for u in users]
    for path, body in calls:
        response = admin.post(path, json=body)
        assert response.is_success, response.text


@pytest.mark.parametrize("kill_at", KILL_POINTS)
def test_kill_9_during_traffic_loses_no_acknowledged_write(
    kill_at: int, tmp_path: Path, servers: list[Server]
) -> None:
    args, blobs = server_args(tmp_path), tmp_path / "blobs"
    servers.append(server := start_server(tmp_path / "server", *args))
    with client(server, "alice") as alice:
        assert alice.post("/v1/rbac/init").status_code == 200
        let_create_units(alice, ("bob", "carol", "dave"))

    ledger = Ledger(kill_at, server)
    run_until_killed(server, ledger)
    assert not ledger.errors, ledger.errors
    assert server.process.wait(timeout=30) == -signal.SIGKILL
    assert ledger.count >= kill_at
    if BACKEND == "sqlite":
        check_sqlite_file(tmp_path / "db" / "torc.db")

    dead, held = plant_temp_files(blobs)
    with held.open("rb") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)
        servers.append(restarted := start_server(tmp_path / "server", *args))
        assert not dead.exists()
        assert temp_files(blobs) == [held]  # and the crash's own are gone
    found = snapshot(restarted, blobs)
    assert check_against_ledger(found, ledger) == []
    check_restarted_server(restarted, found)


# -- the temp file sweep ---------------------------------------------------------------


def test_sweep_removes_dead_writers_temp_files_only(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path / "blobs")
    kept = put(store, "units/new/kept.tfstate", b'{"kept": true}')
    live = store.writer("units/new/live.tfstate")  # a writer of this or any other process
    live.write(b'{"live": ')
    dead = [*plant_temp_files(tmp_path / "blobs"), tmp_path / "blobs" / "other" / ".x.tmp"]
    dead[-1].parent.mkdir()
    dead[-1].write_bytes(b"")
    not_ours = tmp_path / "blobs" / "units" / "notes.tmp"  # no leading dot: not a temp name
    not_ours.write_bytes(b"")

    assert store.remove_abandoned_temp_files() == 3
    assert not any(p.exists() for p in dead)
    assert not_ours.exists()
    assert store.read(kept.key) == b'{"kept": true}'
    live.write(b"true}")
    assert live.commit().size == len(b'{"live": true}')
    assert store.read("units/new/live.tfstate") == b'{"live": true}'
    assert store.remove_abandoned_temp_files() == 0
    assert temp_files(tmp_path / "blobs") == []


# -- the orphan blob sweep --------------------------------------------------------------


def test_a_restart_removes_old_orphan_blobs_and_counts_them(
    tmp_path: Path, servers: list[Server]
) -> None:
    """A blob a crash left between its write and its row (planted through the store, as old
    as any real one would be after an hour) is gone once the restarted server answers; the
    unit's current state and versions, and a young orphan (a write in flight), stay."""
    args, blobs = server_args(tmp_path), tmp_path / "blobs"
    servers.append(server := start_server(tmp_path / "server", *args))
    with client(server, "alice") as alice:
        for serial in (1, 2):
            pushed = alice.put("/v1/state/kept/unit", content=state("kept/unit", serial))
            assert pushed.status_code == 200, pushed.text
    server.stop()
    store = FilesystemBlobStore(blobs)
    referenced = {b.key for b in store.list_blobs(orphans.ORPHAN_PREFIX)}
    assert len(referenced) == 2  # the state and its one version
    crashed = put(store, f"{orphans.ORPHAN_PREFIX}crashed.tfstate", b'{"secret": "left"}')
    old = time.time() - 2 * orphans.MIN_AGE_SECS
    for key in (*referenced, crashed.key):
        os.utime(blobs / key, (old, old))
    young = put(store, f"{orphans.ORPHAN_PREFIX}in-flight.tfstate", b"{}")

    servers.append(restarted := start_server(tmp_path / "server", *args))
    assert {b.key for b in store.list_blobs(orphans.ORPHAN_PREFIX)} == {*referenced, young.key}
    with client(restarted, "alice") as alice:
        assert alice.get("/v1/state/kept/unit").content == state("kept/unit", 2)
        versions = alice.get("/v1/versions/kept/unit")
        assert versions.status_code == 200 and len(versions.json()["versions"]) == 1
        exposition = alice.get("/metrics").text
    assert "teamgate_orphan_blobs_removed_total 1.0" in exposition.splitlines()
    assert "Removed 1 orphan blobs" in restarted.log()


# -- a commit whose answer is lost ------------------------------------------------------


def test_a_commit_that_fails_after_committing_keeps_its_blob(tmp_path: Path) -> None:
    """The database committed but the server saw an error (a connection lost during COMMIT):
    the unit points at the new blob, which must not have been deleted as a failed write's."""
    name = PG.create() if BACKEND == "postgresql" else None
    db = Database(database_url(PG.url(name) if name else str(tmp_path / "torc.db")))
    try:
        db.migrate()
        store = FilesystemBlobStore(tmp_path / "blobs")
        ctx = ServiceContext(db=db, enforce=False, blobs=store)
        alice = Principal("alice", method="password")
        data = state("lost/answer", 1)

        pending = units.begin_write(ctx, alice, "lost/answer", lock_id=None)
        info = put(store, pending.key, data)

        @event.listens_for(db.engine, "commit")
        def commit_then_fail(conn: Connection) -> None:
            dbapi = conn.connection.dbapi_connection
            assert dbapi is not None
            dbapi.commit()
            raise ConnectionResetError("the connection dropped before COMMIT was answered")

        with pytest.raises(ConnectionResetError):
            units.finish_write(ctx, alice, pending, info, lock_id=None)
        event.remove(db.engine, "commit", commit_then_fail)
        found, chunks = units.open_state(ctx, alice, "lost/answer")
        assert found.blob_key == info.key
        assert chunks is not None and b"".join(chunks) == data
    finally:
        db.dispose()
        if name:
            PG.drop(name)
