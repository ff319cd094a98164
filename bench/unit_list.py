"""`unit ls` with 10,000 units: REST and CLI wall time, for an owner and for an RBAC reader.

    python bench/unit_list.py [--units 10000] [--repeat 20]

Units are inserted straight into the server's SQLite database (through the storage layer)
before the real `torc-server` starts; bob reads through 50 RBAC allow patterns and one deny.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import BIN, password_of, start_server, write_htpasswd

from teamgate.storage.db.engine import Database, database_url
from teamgate.storage.db.tables import unit


def seed(db_path: Path, count: int) -> None:
    db = Database(database_url(str(db_path)))
    db.migrate()
    now = "2026-01-01T00:00:00.000Z"
    rows = [
        {
            "path": f"team{i % 100}/app{i}/env",
            "owner": "alice",
            "created_at": now,
            "updated_at": now,
            "generation": 0,
            "size": 0,
        }
        for i in range(count)
    ]
    with db.write() as conn:
        conn.execute(insert(unit), rows)
    db.dispose()


def every_unit(client: httpx.Client) -> list[object]:
    """All units the client may read: the list's pages of 10,000, following next_cursor."""
    found: list[object] = []
    params: dict[str, object] = {"limit": 10_000}
    while True:
        response = client.get("/units", params=params)
        response.raise_for_status()
        body = response.json()
        found.extend(body["units"])
        if body["next_cursor"] is None:
            return found
        params = {"limit": 10_000, "after": body["next_cursor"]}


def timed(call: object, repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()  # type: ignore[operator]
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="teamgate-ls-"))
    seed(work / "torc.db", args.units)
    auth = write_htpasswd(work / "htpasswd", ["alice", "bob"])
    server = start_server(
        work / "server",
        "--database",
        str(work / "torc.db"),
        "--auth-file",
        str(auth),
        "--enforce-access-control",
        "--admin-user",
        "alice",
    )
    try:
        with httpx.Client(
            base_url=f"{server.base_url}/v1", auth=("alice", password_of("alice")), timeout=60
        ) as alice:
            alice.post("/rbac/init").raise_for_status()
            rules = [f"allow:unit.read:team{i}/*" for i in range(50)] + ["deny:unit.read:team7/*"]
            alice.post("/rbac/permissions", json={"id": "teams", "rules": rules}).raise_for_status()
            alice.post("/rbac/roles", json={"id": "reader"}).raise_for_status()
            alice.post("/rbac/roles/reader/permissions", json={"permission_id": "teams"})
            alice.post("/rbac/users/assign", json={"email": "bob", "role_id": "reader"})
        print(f"{args.units} units; wall time in ms (median, p95)")
        for user in ("alice", "bob"):
            with httpx.Client(
                base_url=f"{server.base_url}/v1", auth=(user, password_of(user)), timeout=60
            ) as client:
                count = len(every_unit(client))
                page = client.get("/units", params={"prefix": "team3"}).json()["count"]
                full = timed(lambda c=client: every_unit(c), args.repeat)
                prefixed = timed(
                    lambda c=client: c.get("/units", params={"prefix": "team3"}), args.repeat
                )
            env = {
                **os.environ,
                "OPENTACO_SERVER": server.base_url,
                "OPENTACO_USERNAME": user,
                "OPENTACO_PASSWORD": password_of(user),
                "XDG_CONFIG_HOME": str(work / user),
            }
            cli = timed(
                lambda e=env: subprocess.run(
                    [str(BIN / "taco"), "unit", "ls"], env=e, capture_output=True, check=True
                ),
                5,
            )
            print(
                f"{user:<6} sees {count:>6}: REST all pages {full[0]:7.1f} / {full[1]:7.1f}   "
                f"REST prefix ({page:>4}) {prefixed[0]:6.1f} / {prefixed[1]:6.1f}   "
                f"taco unit ls {cli[0]:7.1f} / {cli[1]:7.1f}"
            )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
