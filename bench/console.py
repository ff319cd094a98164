"""The web console's server time beside the JSON API's, at scale, in process.

    python bench/console.py [--workflows 100000] [--jobs 1000] [--repeat 40] [--data DIR]

Bulk-loads a SQLite database (executemany) with `--workflows` workflows over 20 owners and 10
groups (`bench` is in two; every tenth workflow is shared with one group), then creates, through
the API as `bench`, one workflow of `--jobs` jobs in 10 layers (each job after two of the layer
before it) and runs a quarter of them, so that its page shows every kind of status. The server
runs in this process (httpx.ASGITransport, as the tests do: access control on, sign-in required);
the console is signed in through its form, the API with Basic auth (cached after the first
request). Each page is fetched `--repeat` times after a warm-up; the figures are p50 and p95 of
the request's time in milliseconds, and the console's p50 over its API route's p50.
Writes bench/results/console.txt.
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.api.test_execution import Runner, initialize
from tests.conftest import write_htpasswd
from tests.console.helpers import sign_in
from tests.inprocess import running, settings_for

from teamgate.storage.db.engine import Database, database_url

NOW = "2026-01-01T00:00:00.000Z"
OWNERS = ["bench", *(f"user{k}" for k in range(1, 20))]
GROUPS = 10
BENCH_GROUPS = (1, 2)
LAYERS = 10
V1 = "/torc-service/v1"
TARGET_MS = 300.0
RESULTS = Path(__file__).resolve().parent / "results" / "console.txt"


def load(path: Path, workflows: int) -> None:
    """The workflows, groups, memberships and shares, in one transaction."""
    db = Database(database_url(str(path)))
    db.migrate()
    db.dispose()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO access_group (id, name, description, created_at) VALUES (?, ?, NULL, ?)",
        [(g, f"group{g}", NOW) for g in range(1, GROUPS + 1)],
    )
    conn.executemany(
        "INSERT INTO user_group_membership (user_name, group_id, role, created_at) "
        "VALUES (?, ?, 'member', ?)",
        [("bench", g, NOW) for g in BENCH_GROUPS],
    )
    conn.executemany(
        'INSERT INTO workflow (id, name, "user", description, timestamp, project, attributes) '
        "VALUES (?, ?, ?, ?, ?, NULL, '{}')",
        (
            (i, f"wf{i}", OWNERS[i % len(OWNERS)], f"workflow number {i}", NOW)
            for i in range(1, workflows + 1)
        ),
    )
    conn.executemany(
        "INSERT INTO workflow_access_group (workflow_id, group_id, created_at, access) "
        "VALUES (?, ?, ?, ?)",
        (
            (i, i % GROUPS + 1, NOW, "read" if i % 20 else "write")
            for i in range(10, workflows + 1, 10)
        ),
    )
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


def spec(jobs: int) -> dict[str, Any]:
    """`jobs` jobs in LAYERS layers; each job after two jobs of the layer before it."""
    width = max(1, jobs // LAYERS)
    body = []
    for i in range(jobs):
        layer, index = divmod(i, width)
        job: dict[str, Any] = {"name": f"job-{i}", "command": f"echo step {i} && sleep 1"}
        if layer:
            before = (layer - 1) * width
            job["depends_on"] = sorted(
                {f"job-{before + index}", f"job-{before + (index + 7) % width}"}
            )
        body.append(job)
    return {"name": "big", "description": "the benchmark's 1,000 jobs", "jobs": body}


def timed(get: Callable[[], httpx.Response], repeat: int) -> list[float]:
    for _ in range(3):
        answer = get()
        assert answer.status_code in (200, 286), (answer.request.url, answer.status_code)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        answer = get()
        times.append((time.perf_counter() - start) * 1000)
        assert answer.status_code in (200, 286), answer.status_code
    return times


def p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=20)[-1]


def pairs(workflow_id: int, jobs: int, cursors: tuple[str, str]) -> Iterator[tuple[str, str, str]]:
    """(what, console path, the matching API path)."""
    yield "workflow list, first page", "/ui/workflows", f"{V1}/workflows?limit=50"
    ui_next, api_next = cursors
    yield (
        "workflow list, next page",
        f"/ui/workflows?after={ui_next}",
        f"{V1}/workflows?limit=50&after={api_next}",
    )
    yield (
        "workflow list, owner filter",
        "/ui/workflows?user=bench",
        f"{V1}/workflows?limit=50&user=bench",
    )
    yield (
        "workflow list, name filter",
        "/ui/workflows?name=wf99999",
        f"{V1}/workflows?limit=50&name=wf99999",
    )
    count, jobs = jobs, f"{V1}/jobs?workflow_id={workflow_id}&limit=50"
    yield f"workflow page ({count:,} jobs)", f"/ui/workflows/{workflow_id}", jobs
    yield "live fragment", f"/ui/workflows/{workflow_id}/live", jobs
    yield (
        "job graph page",
        f"/ui/workflows/{workflow_id}/graph",
        f"{V1}/jobs?workflow_id={workflow_id}&limit=2000",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--workflows", type=int, default=100_000)
    parser.add_argument("--jobs", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--data", type=Path, default=None, help="keep the files here")
    args = parser.parse_args()
    with ExitStack() as stack:
        root = args.data or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        root.mkdir(parents=True, exist_ok=True)
        path = root / "console.db"
        path.unlink(missing_ok=True)
        start = time.perf_counter()
        load(path, args.workflows)
        loaded = time.perf_counter() - start
        auth = write_htpasswd(root / "htpasswd", ["alice", "bench"])
        settings = settings_for(
            root,
            str(path),
            auth,
            require_auth=True,
            enforce_access_control=True,
            admin_users=("alice",),
        )
        app = stack.enter_context(running(settings))
        api = app.client("bench")
        created = api.post(f"{V1}/workflow_specs", json=spec(args.jobs))
        assert created.status_code == 200, created.text
        workflow_id = int(created.json()["id"])
        initialize(api, workflow_id)
        runner = Runner(api, workflow_id)
        ran = 0
        while ran < args.jobs // 4 and (claimed := runner.claim(limit=args.jobs // 4 - ran)):
            for job in claimed:
                runner.run(job, rc=1 if job["id"] % 10 == 0 else 0)
            ran += len(claimed)
        console = sign_in(app, "bench")
        lines = [
            f"console benchmark: {args.workflows:,} workflows ({len(OWNERS)} owners, "
            f"{args.workflows // 10:,} shared), one of {args.jobs:,} jobs in {LAYERS} layers "
            f"(a quarter run); SQLite, in process; {args.repeat} requests each, ms",
            f"loaded in {loaded:.1f} s; viewer: bench (owns {args.workflows // len(OWNERS):,}, "
            f"sees shares of {len(BENCH_GROUPS)} groups)",
            "",
            f"{'page':34} {'console p50':>11} {'p95':>7} {'API p50':>8} {'p95':>7} {'ratio':>6}",
        ]
        worst = 0.0
        first = console.get("/ui/workflows").text
        found = re.search(r'href="/ui/workflows\?after=([^&"]+)', first)
        assert found, "no next page on the console's list"
        api_next = api.get(f"{V1}/workflows?limit=50").json()["next_cursor"]
        for what, page, route in pairs(workflow_id, args.jobs, (found[1], quote(api_next))):
            ui = timed(lambda page=page: console.get(page), args.repeat)
            js = timed(lambda route=route: api.get(route), args.repeat)
            worst = max(worst, p95(ui))
            ratio = statistics.median(ui) / statistics.median(js)
            lines.append(
                f"{what:34} {statistics.median(ui):11.1f} {p95(ui):7.1f} "
                f"{statistics.median(js):8.1f} {p95(js):7.1f} {ratio:6.2f}"
            )
        admin, admin_api = sign_in(app, "alice"), app.client("alice")
        ui = timed(lambda: admin.get("/ui/workflows"), args.repeat)
        js = timed(lambda: admin_api.get(f"{V1}/workflows?limit=50"), args.repeat)
        worst = max(worst, p95(ui))
        lines.append(
            f"{'workflow list, administrator':34} {statistics.median(ui):11.1f} {p95(ui):7.1f} "
            f"{statistics.median(js):8.1f} {p95(js):7.1f} "
            f"{statistics.median(ui) / statistics.median(js):6.2f}"
        )
        verdict = "under" if worst < TARGET_MS else "OVER"
        lines += [
            "",
            f"worst console p95: {worst:.1f} ms ({verdict} the {TARGET_MS:.0f} ms target)",
        ]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
