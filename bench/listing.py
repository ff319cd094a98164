"""Listing at scale: the first pages of the workflow list and of `unit ls`, over HTTP and raw.

    python bench/listing.py [--backend sqlite|postgresql|both] [--workflows 1000000]
                            [--units 100000] [--repeat 200] [--data DIR] [--explain]

Bulk-loads (executemany on SQLite, COPY on PostgreSQL) 1,000,000 workflows over 10,000 owners,
10,000 groups (each owner in 10; a quarter of the workflows shared with one group; the measured
user's 10 groups share a few thousand more) and 100,000 units under `team0..team99/`. The
measured user `bench` owns 100 workflows and 10 units and holds RBAC rules: `workflow.read` on
20 other owners' `userN/*` (one denied) and `unit.read` on `team0/*`…`team49/*` with a deny on
`team7/*`. `alice` (admin, `rbac init`: allow `*` on `*`) is measured too. A real `torc-server`
process serves each database; requests go over keep-alive HTTP (httpx), first page and the
next pages by cursor; "raw" times the storage query alone, in this process. `--data DIR` keeps
the generated SQLite file (and the PostgreSQL database) for the next run; by default both are
made in a temporary directory and dropped.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import Server, password_of, start_server, write_htpasswd

from teamgate.storage.db import units as unit_store
from teamgate.storage.db import workflows as workflow_store
from teamgate.storage.db.engine import Database, database_url
from teamgate.storage.db.listing import readable_by
from teamgate.storage.db.workflows import WorkflowFilter

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_NAME = "teamgate_bench_listing"
NOW = "2026-01-01T00:00:00.000Z"
OWNERS, GROUPS, GROUPS_PER_USER, TEAMS = 10_000, 10_000, 10, 100
EXTRA_SHARES = 300  # per group of the measured user
USER = "bench"
WORKFLOW_ALLOW = [f"user{k}/*" for k in range(100, 120)]
WORKFLOW_DENY = ["user105/*"]
UNIT_ALLOW = [f"team{t}/*" for t in range(50)]
UNIT_DENY = ["team7/*"]
PAGE = 100
NEXT_PAGES = 4


@dataclass(frozen=True, slots=True)
class Shape:
    workflows: int
    units: int

    @property
    def key(self) -> str:
        return f"w{self.workflows}-u{self.units}"


def owner(k: int) -> str:
    return USER if k == 0 else f"user{k}"


def groups_of(k: int) -> list[int]:
    """The 1-based ids of owner k's groups."""
    return [(k * 7 + j * 1013) % GROUPS + 1 for j in range(GROUPS_PER_USER)]


# -- generated rows ------------------------------------------------------------------


def workflow_rows(shape: Shape) -> Iterator[tuple[Any, ...]]:
    for i in range(1, shape.workflows + 1):
        yield (i, f"wf{i}", owner(i % OWNERS), None, NOW, None, "{}")


def group_rows() -> Iterator[tuple[Any, ...]]:
    for g in range(1, GROUPS + 1):
        yield (g, f"group{g}", None, NOW)


def membership_rows() -> Iterator[tuple[Any, ...]]:
    for k in range(OWNERS):
        for g in groups_of(k):
            yield (owner(k), g, "member", NOW)


def share_rows(shape: Shape) -> Iterator[tuple[Any, ...]]:
    seen: set[tuple[int, int]] = set()
    for i in range(4, shape.workflows + 1, 4):
        seen.add((i, (i * 2654435761) % GROUPS + 1))
    for n, g in enumerate(groups_of(0)):
        for j in range(EXTRA_SHARES):
            seen.add(((g * 7919 + j * 104729 + n) % shape.workflows + 1, g))
    for workflow_id, group_id in sorted(seen):
        yield (workflow_id, group_id, NOW)


def unit_rows(shape: Shape) -> Iterator[tuple[Any, ...]]:
    for i in range(1, shape.units + 1):
        yield (i, f"team{i % TEAMS}/app{i}/env", owner(i % OWNERS), NOW, NOW, 0, 0)


def unit_share_rows(shape: Shape) -> Iterator[tuple[Any, ...]]:
    for i in range(50, shape.units + 1, 50):
        yield (i, (i * 31) % GROUPS + 1, NOW)


TABLES: list[tuple[str, tuple[str, ...], Callable[[Shape], Iterable[tuple[Any, ...]]]]] = [
    ("access_group", ("id", "name", "description", "created_at"), lambda s: group_rows()),
    (
        "user_group_membership",
        ("user_name", "group_id", "role", "created_at"),
        lambda s: membership_rows(),
    ),
    (
        "workflow",
        ("id", "name", "user", "description", "timestamp", "project", "attributes"),
        workflow_rows,
    ),
    ("workflow_access_group", ("workflow_id", "group_id", "created_at"), share_rows),
    (
        "unit",
        ("id", "path", "owner", "created_at", "updated_at", "generation", "size"),
        unit_rows,
    ),
    ("unit_access_group", ("unit_id", "group_id", "created_at"), unit_share_rows),
]


# -- bulk loading ----------------------------------------------------------------------


def migrate(url: str) -> None:
    db = Database(database_url(url))
    db.migrate()
    db.dispose()


def load_sqlite(path: Path, shape: Shape) -> None:
    migrate(str(path))
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN")
    for table, columns, rows in TABLES:
        names = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join("?" for _ in columns)
        conn.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', rows(shape))
    conn.execute("COMMIT")
    conn.close()


def load_postgresql(url: str, shape: Shape) -> None:
    migrate(url)
    with psycopg.connect(url) as conn:
        for table, columns, rows in TABLES:
            names = ", ".join(f'"{c}"' for c in columns)
            with conn.cursor().copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
                for row in rows(shape):
                    copy.write_row(row)
        for table in ("access_group", "workflow", "unit", "user_group_membership"):
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f'(SELECT max(id) FROM "{table}"))'
            )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def prepare(backend: str, data: Path, shape: Shape) -> tuple[str, float | None]:
    """The --database value for the server; the load time (None: reused from --data)."""
    marker = data / f"{backend}-{shape.key}.loaded"
    if backend == "sqlite":
        target = str(data / f"listing-{shape.key}.db")
    else:
        target = PG_ADMIN.rsplit("/", 1)[0] + f"/{PG_NAME}"
    if marker.exists() and (backend == "sqlite" or pg_exists()):
        return target, None
    start = time.perf_counter()
    if backend == "sqlite":
        Path(target).unlink(missing_ok=True)
        load_sqlite(Path(target), shape)
    else:
        recreate_pg()
        load_postgresql(target, shape)
    marker.write_text("ok\n")
    return target, time.perf_counter() - start


def pg_exists() -> bool:
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        found = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (PG_NAME,))
        return found.fetchone() is not None


def recreate_pg() -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{PG_NAME}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{PG_NAME}"')


# -- RBAC through the API -------------------------------------------------------------


def grant_rules(server: Server) -> None:
    with httpx.Client(
        base_url=f"{server.base_url}/v1", auth=("alice", password_of("alice")), timeout=60
    ) as alice:
        if alice.get("/rbac/me").json().get("roles"):
            return  # a reused database keeps its RBAC data
        alice.post("/rbac/init").raise_for_status()
        rules = [
            *(f"allow:unit.read:{p}" for p in UNIT_ALLOW),
            *(f"deny:unit.read:{p}" for p in UNIT_DENY),
            *(f"allow:workflow.read:{p}" for p in WORKFLOW_ALLOW),
            *(f"deny:workflow.read:{p}" for p in WORKFLOW_DENY),
        ]
        alice.post("/rbac/permissions", json={"id": "bench", "rules": rules}).raise_for_status()
        alice.post("/rbac/roles", json={"id": "bench"}).raise_for_status()
        alice.post("/rbac/roles/bench/permissions", json={"permission_id": "bench"})
        alice.post("/rbac/users/assign", json={"email": USER, "role_id": "bench"})


# -- measuring --------------------------------------------------------------------------


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.95) - 1)]


def timed(
    call: Callable[[], Any], repeat: int, before: Callable[[], Any] | None = None
) -> tuple[float, float]:
    """p50/p95 in ms of `call`, each time after `before` (not timed), if given."""
    call()  # warm caches (credentials, rules, pages)
    samples = []
    for _ in range(repeat):
        if before is not None:
            before()
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return percentiles(samples)


class Writer:
    """Workflow writes by another user (alice), creating and deleting in turn: each bumps the
    shared workflows version, so the next list recounts its `total_count`."""

    def __init__(self, server: Server) -> None:
        self.client = httpx.Client(
            base_url=f"{server.base_url}/torc-service/v1",
            auth=("alice", password_of("alice")),
            timeout=60,
        )
        self.made: int | None = None

    def __call__(self) -> None:
        if self.made is None:
            self.made = _json(self.client.post("/workflows", json={"name": "bench-write"}))["id"]
        else:
            _json(self.client.delete(f"/workflows/{self.made}"))
            self.made = None


def _json(response: httpx.Response) -> Any:
    response.raise_for_status()
    return response.json()


@dataclass
class Figures:
    label: str
    first: tuple[float, float]
    following: tuple[float, float]
    visible: int
    after_write: tuple[float, float] | None = None  # the first page right after a write


def list_figures(
    client: httpx.Client, label: str, path: str, repeat: int, writer: Writer | None = None
) -> Figures:
    """p50/p95 of the first page, of the next pages by cursor (taken in turn), and with a
    `writer`, of the first page right after a write (no count to reuse)."""
    first = {"limit": PAGE, **({"offset": 0} if label == "workflows" else {})}
    cursors = [_json(client.get(path, params=first))["next_cursor"]]
    for _ in range(NEXT_PAGES - 1):
        page = _json(client.get(path, params={"limit": PAGE, "after": cursors[-1]}))
        cursors.append(page["next_cursor"])
    live = [c for c in cursors if c] or [None]
    turn = iter(range(10**9))

    def following() -> Any:
        cursor = live[next(turn) % len(live)]
        return _json(client.get(path, params={"limit": PAGE, "after": cursor} if cursor else first))

    def first_page() -> Any:
        return _json(client.get(path, params=first))

    return Figures(
        label,
        timed(first_page, repeat),
        timed(following, repeat),
        visible_count(client, label),
        None if writer is None else timed(first_page, repeat, before=writer),
    )


def visible_count(client: httpx.Client, label: str) -> int:
    """The workflow list's total_count; the units, counted by walking every page."""
    if label == "workflows":
        return int(
            _json(client.get("/torc-service/v1/workflows", params={"limit": 1}))["total_count"]
        )
    total, params = 0, {"limit": 10_000}
    while True:
        page = _json(client.get("/v1/units", params=params))
        total += int(page["count"])
        if page["next_cursor"] is None:
            return total
        params = {"limit": 10_000, "after": page["next_cursor"]}


def raw_figures(database: str, user: str, repeat: int) -> tuple[tuple[float, float], ...]:
    """The storage queries alone (first page of each list), in this process."""
    db = Database(database_url(database))
    workflows, units = _visibility(user)

    def list_workflows() -> Any:
        with db.read() as conn:
            return workflow_store.list_workflows(
                conn, visible=workflows, filters=WorkflowFilter(), offset=0, limit=PAGE
            )

    def list_units() -> Any:
        with db.read() as conn:
            return unit_store.list_units(conn, visible=units, prefix=None, limit=PAGE)

    try:
        return timed(list_workflows, repeat), timed(list_units, repeat)
    finally:
        db.dispose()


def _visibility(user: str) -> tuple[Any, Any]:
    if user != USER:  # alice: rbac init's admin role allows everything
        return (
            readable_by(user, allow=["*"]),
            readable_by(user, allow=["*"]),
        )
    return (
        readable_by(user, allow=WORKFLOW_ALLOW, deny=WORKFLOW_DENY),
        readable_by(user, allow=UNIT_ALLOW, deny=UNIT_DENY),
    )


# -- plans ------------------------------------------------------------------------------


def explain(database: str) -> None:
    """Print the query plans of the bench user's first pages and count (on PostgreSQL with
    the rows each node actually read)."""
    db = Database(database_url(database))
    workflows, units = _visibility(USER)
    with db.read() as conn:
        queries = workflow_store.listing_queries(
            db.dialect, visible=workflows, filters=WorkflowFilter(), offset=0, limit=PAGE
        )
        unit_query = unit_store.listing_query(db.dialect, visible=units, prefix=None, limit=PAGE)
        if unit_query is not None:
            queries.append(("unit page", unit_query))
        for label, query in queries:
            compiled = query.compile(conn, compile_kwargs={"literal_binds": True})
            prefix = (
                "EXPLAIN QUERY PLAN " if db.dialect == "sqlite" else "EXPLAIN (ANALYZE, COSTS OFF) "
            )
            rows = conn.execute(text(prefix + str(compiled))).all()
            print(f"-- {db.dialect}: {label}")
            for row in rows:
                print("   ", row[-1])
    db.dispose()


# -- main -------------------------------------------------------------------------------


def run_backend(backend: str, data: Path, shape: Shape, repeat: int, show_plans: bool) -> None:
    database, load_seconds = prepare(backend, data, shape)
    loaded = "reused" if load_seconds is None else f"{load_seconds:.1f} s"
    print(f"\n== {backend}: {shape.workflows:,} workflows, {shape.units:,} units (load {loaded})")
    if show_plans:
        explain(database)
    auth = write_htpasswd(data / "htpasswd", ["alice", USER])
    server = start_server(
        data / f"server-{backend}",
        *("--database", database, "--auth-file", str(auth), "--require-auth"),
        *("--enforce-access-control", "--admin-user", "alice"),
    )
    try:
        grant_rules(server)
        print_table(server, database, repeat)
    finally:
        server.stop()


def print_table(server: Server, database: str, repeat: int) -> None:
    """Per user and list: p50/p95 ms of the first page (its count reused from the previous
    request), the first page right after a write (counted afresh), the next pages, and the
    storage queries alone (page and count, nothing reused)."""
    print(
        f"{'user':<6} {'list':<10} {'visible':>9}  {'HTTP first p50/p95':>19}  "
        f"{'after a write':>17}  {'HTTP next':>17}  {'raw first':>17}   (ms)"
    )
    writer = Writer(server)
    try:
        for user in (USER, "alice"):
            _print_user(server, database, user, repeat, writer)
    finally:
        writer.client.close()


def _print_user(server: Server, database: str, user: str, repeat: int, writer: Writer) -> None:
    def pair(figures: tuple[float, float] | None) -> str:
        return f"{'n/a':>17}" if figures is None else f"{figures[0]:>8.2f} / {figures[1]:>6.2f}"

    with httpx.Client(base_url=server.base_url, auth=(user, password_of(user)), timeout=120) as c:
        ping = timed(lambda: _json(c.get("/torc-service/v1/ping")), repeat)
        figures = [
            list_figures(c, "workflows", "/torc-service/v1/workflows", repeat, writer),
            list_figures(c, "units", "/v1/units", repeat),
        ]
    raw = raw_figures(database, user, repeat)
    for fig, raw_first in zip(figures, raw, strict=True):
        print(
            f"{user:<6} {fig.label:<10} {fig.visible:>9,}  {pair(fig.first):>19}  "
            f"{pair(fig.after_write)}  {pair(fig.following)}  {pair(raw_first)}"
        )
    print(f"{user:<6} {'(ping)':<10} {'':>9}  {pair(ping):>19}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--workflows", type=int, default=1_000_000)
    parser.add_argument("--units", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--data", type=Path, help="keep (and reuse) the generated data here")
    parser.add_argument("--explain", action="store_true", help="print the query plans")
    args = parser.parse_args()
    shape = Shape(args.workflows, args.units)
    data = args.data or Path(tempfile.mkdtemp(prefix="teamgate-listing-"))
    data.mkdir(parents=True, exist_ok=True)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    try:
        for backend in backends:
            run_backend(backend, data, shape, args.repeat, args.explain)
    finally:
        if args.data is None:
            shutil.rmtree(data, ignore_errors=True)
            if "postgresql" in backends:
                with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{PG_NAME}" WITH (FORCE)')


if __name__ == "__main__":
    main()
