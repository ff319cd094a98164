"""Soak: mixed traffic against one real server for minutes; latency over time and memory.

    python bench/soak.py [--minutes 10] [--clients 6] [--out soak.png]

Starts `torc-server` (SQLite file, local blob directory, authentication required, access
control on, alice an administrator) and runs `--clients` threads, each signed in as one of
alice, bob, carol and dave with a keep-alive connection, picking operations from a fixed mix:
workflow create/get/list/delete, access-group create/add-member/list-members/remove-member/
delete (alice; the others are refused), unit push/pull, lock/unlock, RBAC test and me, reads
of other users' units (allowed through an RBAC role for bob, refused for carol and dave) and
requests without credentials (401). Every answer is checked against the status it must have:
anything else, or an exception, is an error (the target is zero).

Latency is measured per request (p50/p95/p99 per 10 s window) and the server's resident memory
(VmRSS from /proc) every second. At the end it prints the totals, the latency percentiles, the
RSS at start and end with its slope (least squares, MB per minute: whole run, after a warm-up
minute, second half) and writes a PNG with two panels: latency percentiles, and RSS with the
machine's load average (on a shared machine latency follows the load) over time.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import Server, password_of, start_server, write_htpasswd

USERS = ("alice", "bob", "carol", "dave")
TORC = "/torc-service/v1"
WINDOW_SECS = 10.0
WARM_UP_SECS = 60.0
UNITS_PER_CLIENT = 4
WORKFLOWS_KEPT = 20  # per client: older ones are deleted, so the data set stays bounded


@dataclass
class Sample:
    at: float  # seconds since the traffic started, when the request began
    op: str
    latency: float  # seconds


@dataclass
class Results:
    samples: list[Sample] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    error_examples: list[str] = field(default_factory=list)
    denied: int = 0  # refusals the mix asks for (401/403), not errors
    lock: threading.Lock = field(default_factory=threading.Lock)

    def error(self, op: str, detail: str) -> None:
        with self.lock:
            self.errors[op] += 1
            if len(self.error_examples) < 10:
                self.error_examples.append(f"{op}: {detail}")


class Client:
    """One simulated user: a keep-alive connection and the things it made."""

    def __init__(self, server: Server, index: int, results: Results, start: float) -> None:
        self.user = USERS[index % len(USERS)]
        self.index = index
        self.http = httpx.Client(
            base_url=server.base_url, auth=(self.user, password_of(self.user)), timeout=60
        )
        self.anonymous = httpx.Client(base_url=server.base_url, timeout=60)
        self.results = results
        self.start = start
        self.random = random.Random(index)
        self.serial = itertools.count(1)
        self.workflows: list[int] = []
        self.units = [f"soak/{self.user}/{index}/{k}" for k in range(UNITS_PER_CLIENT)]

    def call(
        self,
        op: str,
        method: str,
        url: str,
        *,
        expect: int = 200,
        anonymous: bool = False,
        **kwargs: Any,
    ) -> httpx.Response | None:
        """One timed request; an unexpected status or an exception counts as an error."""
        began = time.perf_counter()
        try:
            http = self.anonymous if anonymous else self.http
            response = http.request(method, url, **kwargs)
        except Exception as exc:  # every failure is counted, none stops the soak
            self.results.error(op, repr(exc))
            return None
        elapsed = time.perf_counter() - began
        self.results.samples.append(Sample(began - self.start, op, elapsed))  # list.append: atomic
        if response.status_code != expect:
            self.results.error(op, f"{method} {url}: {response.status_code} {response.text[:200]}")
            return None
        if expect in (401, 403):
            with self.results.lock:
                self.results.denied += 1
        return response

    # -- the operations ---------------------------------------------------------------

    def create_workflow(self) -> None:
        body = {"name": f"soak-{self.index}-{next(self.serial)}", "description": "soak test"}
        created = self.call("workflow.create", "POST", f"{TORC}/workflows", json=body)
        if created is not None:
            self.workflows.append(created.json()["id"])
        if len(self.workflows) > WORKFLOWS_KEPT:
            oldest = self.workflows.pop(0)
            self.call("workflow.delete", "DELETE", f"{TORC}/workflows/{oldest}")

    def get_workflow(self) -> None:
        if not self.workflows:
            self.create_workflow()
            return
        workflow = self.random.choice(self.workflows)
        self.call("workflow.get", "GET", f"{TORC}/workflows/{workflow}")

    def list_workflows(self) -> None:
        self.call("workflow.list", "GET", f"{TORC}/workflows", params={"limit": 50})

    def group_cycle(self) -> None:
        """Administrators: a group's whole life; others: their own groups, and a refusal."""
        if self.user != "alice":
            self.call("group.list", "GET", f"{TORC}/access_groups")
            body = {"name": f"soak-denied-{self.index}"}
            self.call("denied.group_create", "POST", f"{TORC}/access_groups", json=body, expect=403)
            return
        body = {"name": f"soak-group-{self.index}-{next(self.serial)}"}
        created = self.call("group.create", "POST", f"{TORC}/access_groups", json=body)
        if created is None:
            return
        members = f"{TORC}/access_groups/{created.json()['id']}/members"
        self.call("group.add_member", "POST", members, json={"user_name": "carol"})
        self.call("group.list_members", "GET", members)
        self.call("group.remove_member", "DELETE", f"{members}/carol")
        self.call("group.delete", "DELETE", f"{TORC}/access_groups/{created.json()['id']}")

    def push(self) -> None:
        unit = self.random.choice(self.units)
        self.call("unit.push", "PUT", f"/v1/state/{unit}", content=self.state(unit))

    def state(self, unit: str) -> bytes:
        resources = [{"type": "null_resource", "name": f"r{i}"} for i in range(20)]
        body = {"version": 4, "serial": next(self.serial), "lineage": unit, "resources": resources}
        return json.dumps(body).encode() + b" " * self.random.randrange(2_000, 30_000)

    def pull(self) -> None:
        self.call("unit.pull", "GET", f"/v1/state/{self.random.choice(self.units)}")

    def lock_cycle(self) -> None:
        unit = self.random.choice(self.units)
        lock_id = f"soak-{self.index}-{next(self.serial)}"
        body = {"id": lock_id, "who": self.user}
        if self.call("unit.lock", "POST", f"/v1/locks/{unit}", json=body) is not None:
            self.call("unit.unlock", "DELETE", f"/v1/locks/{unit}", params={"lock_id": lock_id})

    def rbac_test(self) -> None:
        body = {"action": "unit.write", "resource": self.random.choice(self.units)}
        self.call("rbac.test", "POST", "/v1/rbac/test", json=body)

    def rbac_me(self) -> None:
        self.call("rbac.me", "GET", "/v1/rbac/me")

    def read_others(self) -> None:
        """Read alice's unit: bob may (an RBAC role), carol and dave may not; alice owns it."""
        expect = 403 if self.user in ("carol", "dave") else 200
        op = "denied.unit_pull" if expect == 403 else "unit.pull_other"
        self.call(op, "GET", f"/v1/state/{OTHERS_UNIT}", expect=expect)

    def anonymous_request(self) -> None:
        self.call("denied.anonymous", "GET", f"{TORC}/workflows", expect=401, anonymous=True)

    def mix(self) -> list[tuple[Callable[[], None], int]]:
        return [
            (self.create_workflow, 6),
            (self.get_workflow, 14),
            (self.list_workflows, 6),
            (self.group_cycle, 2),
            (self.push, 10),
            (self.pull, 14),
            (self.lock_cycle, 5),
            (self.rbac_test, 6),
            (self.rbac_me, 3),
            (self.read_others, 5),
            (self.anonymous_request, 2),
        ]

    def run(self, stop: threading.Event) -> None:
        work, weights = zip(*self.mix(), strict=True)
        while not stop.is_set():
            self.random.choices(work, weights)[0]()
        self.http.close()
        self.anonymous.close()


OTHERS_UNIT = "soak/alice/0/0"  # alice's first unit; client 0 is always alice
READ_ALICE = "allow:unit.read:soak/alice/*"


def prepare(server: Server, clients: Sequence[Client]) -> None:
    """RBAC on, bob may read alice's units; every unit has a state before the mix starts."""
    with httpx.Client(base_url=server.base_url, auth=("alice", password_of("alice"))) as alice:
        for method, url, body in (
            ("POST", "/v1/rbac/init", None),
            ("POST", "/v1/rbac/permissions", {"id": "read-alice", "rules": [READ_ALICE]}),
            ("POST", "/v1/rbac/roles", {"id": "alice-readers"}),
            ("POST", "/v1/rbac/roles/alice-readers/permissions", {"permission_id": "read-alice"}),
            ("POST", "/v1/rbac/users/assign", {"email": "bob", "role_id": "alice-readers"}),
        ):
            alice.request(method, url, json=body).raise_for_status()
    for client in clients:
        for unit in client.units:
            client.http.put(f"/v1/state/{unit}", content=client.state(unit)).raise_for_status()


class Tick(NamedTuple):
    at: float  # seconds since the traffic started
    rss: float  # the server's VmRSS, MB
    load: float  # the machine's 1-minute load average: latency follows it on a shared machine


def sample_rss(pid: int, start: float, stop: threading.Event, out: list[Tick]) -> None:
    """The server's VmRSS and the load average once a second."""
    status, loadavg = Path(f"/proc/{pid}/status"), Path("/proc/loadavg")
    while True:
        try:
            lines = status.read_text().splitlines()
        except (FileNotFoundError, ProcessLookupError):
            return  # the server exited: main() counts that as an error
        for line in lines:
            if line.startswith("VmRSS:"):
                load = float(loadavg.read_text().split()[0])
                out.append(Tick(time.perf_counter() - start, int(line.split()[1]) / 1024, load))
        if stop.wait(1.0):
            return


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) of sorted `values`, nearest rank."""
    if not values:
        return float("nan")
    return values[min(len(values) - 1, max(0, round(q / 100 * len(values)) - 1))]


def windows(samples: Sequence[Sample], seconds: float) -> list[Window]:
    """The latency percentiles of every whole WINDOW_SECS of the `seconds` of traffic."""
    by_window: dict[int, list[float]] = defaultdict(list)
    for s in samples:
        if s.at < seconds // WINDOW_SECS * WINDOW_SECS:
            by_window[int(s.at // WINDOW_SECS)].append(s.latency * 1000)
    rows = []
    for index in sorted(by_window):
        values = sorted(by_window[index])
        middle = (index + 0.5) * WINDOW_SECS / 60
        p50, p95, p99 = (percentile(values, q) for q in (50, 95, 99))
        rows.append((middle, p50, p95, p99))
    return rows


def slope(ticks: Sequence[Tick]) -> str:
    """The least-squares slope of the RSS, in MB per minute."""
    if len(ticks) < 10:
        return "n/a (too short)"
    fit = statistics.linear_regression([t.at / 60 for t in ticks], [t.rss for t in ticks])
    return f"{fit.slope:+.3f} MB/min"


Window = tuple[float, float, float, float]  # middle (minutes), p50, p95, p99 (ms)


def plot(out: Path, rows: Sequence[Window], ticks: Sequence[Tick], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    minutes = [r[0] for r in rows]
    for column, label in ((1, "p50"), (2, "p95"), (3, "p99")):
        top.plot(minutes, [r[column] for r in rows], label=label)
    top.set_ylabel(f"latency, ms (per {WINDOW_SECS:.0f} s)")
    top.set_ylim(bottom=0)
    top.legend(loc="upper right")
    top.grid(True, alpha=0.3)
    top.set_title(title)
    minutes = [t.at / 60 for t in ticks]
    bottom.plot(minutes, [t.rss for t in ticks], color="tab:red")
    bottom.set_ylabel("server RSS, MB", color="tab:red")
    bottom.set_xlabel("minutes")
    bottom.set_ylim(bottom=0)
    bottom.grid(True, alpha=0.3)
    load = bottom.twinx()
    load.plot(minutes, [t.load for t in ticks], color="tab:gray", linewidth=0.8)
    load.set_ylabel("machine load average (1 min)", color="tab:gray")
    load.set_ylim(bottom=0)
    figure.tight_layout()
    figure.savefig(out, dpi=90)
    plt.close(figure)


def report(results: Results, ticks: list[Tick], seconds: float, clients: int) -> str:
    samples = results.samples
    latencies = sorted(s.latency * 1000 for s in samples)
    total = len(samples) + sum(c for c in results.errors.values())  # failed calls have no sample
    errors = sum(results.errors.values())
    warm = [t for t in ticks if t.at >= WARM_UP_SECS]
    second_half = [t for t in ticks if t.at >= seconds / 2]
    lines = [
        f"soak: {seconds / 60:.1f} min, {clients} clients, SQLite + local blobs, "
        "auth required + access control on",
        f"requests     {total:,} ({len(samples) / seconds:,.0f}/s), "
        f"errors {errors}, expected refusals (401/403) {results.denied:,}",
        f"latency ms   p50 {percentile(latencies, 50):.1f}  p95 {percentile(latencies, 95):.1f}  "
        f"p99 {percentile(latencies, 99):.1f}  max {latencies[-1] if latencies else 0:.0f}",
        f"server RSS   start {ticks[0].rss:.1f} MB, end {ticks[-1].rss:.1f} MB, "
        f"max {max(t.rss for t in ticks):.1f} MB",
        f"RSS slope    whole run {slope(ticks)}, after the first minute {slope(warm)}, "
        f"second half {slope(second_half)}",
        f"machine load {ticks[0].load:.1f} at the start, {ticks[-1].load:.1f} at the end, "
        f"mean {statistics.fmean(t.load for t in ticks):.1f} ({os.cpu_count()} CPUs)",
        "",
        f"{'operation':<22}{'count':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}",
    ]
    by_op: dict[str, list[float]] = defaultdict(list)
    for s in samples:
        by_op[s.op].append(s.latency * 1000)
    for op in sorted(by_op):
        values = sorted(by_op[op])
        p50, p95, p99 = (percentile(values, q) for q in (50, 95, 99))
        lines.append(f"{op:<22}{len(values):>9,}{p50:>9.1f}{p95:>9.1f}{p99:>9.1f}")
    if errors:
        lines += [
            "",
            "errors by operation: " + ", ".join(f"{k} {v}" for k, v in results.errors.items()),
        ]
        lines += [f"  {example}" for example in results.error_examples]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--out", type=Path, default=Path("soak.png"), help="the plot (PNG)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="teamgate-soak-"))
    auth_file = write_htpasswd(work / "htpasswd")
    server = start_server(
        work / "server",
        "--database", str(work / "torc.db"),
        "--blob-store", str(work / "blobs"),
        "--auth-file", str(auth_file),
        "--require-auth",
        "--enforce-access-control",
        "--admin-user", "alice",
        "--log-level", "warning",
    )  # fmt: skip
    try:
        results = Results()
        start = time.perf_counter()
        clients = [Client(server, i, results, start) for i in range(args.clients)]
        prepare(server, clients)
        stop = threading.Event()
        ticks: list[Tick] = []
        start = time.perf_counter()
        for client in clients:
            client.start = start
        threads = [
            threading.Thread(target=sample_rss, args=(server.process.pid, start, stop, ticks))
        ]
        threads += [threading.Thread(target=c.run, args=(stop,)) for c in clients]
        for thread in threads:
            thread.start()
        try:
            stop.wait(args.minutes * 60)
        finally:  # also on Ctrl-C: the clients stop before the server does
            stop.set()
            for thread in threads:
                thread.join()
        seconds = time.perf_counter() - start
        if server.process.poll() is not None:
            results.error("server", f"the server exited with {server.process.returncode}")
    finally:
        server.stop()
    print(report(results, ticks, seconds, args.clients))
    title = f"teamgate soak: {args.clients} clients, {seconds / 60:.3g} min, SQLite + local blobs"
    plot(args.out, windows(results.samples, seconds), ticks, title)
    print(f"plot         {args.out.resolve()} ({args.out.stat().st_size / 1024:.0f} KB)")
    print(f"server log   {server.log_path}")


if __name__ == "__main__":
    main()
