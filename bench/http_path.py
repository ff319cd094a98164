"""The HTTP path measured with a real load generator (wrk): authenticated, access-controlled
`GET /workflows/{id}` beside the same server with authentication and access control off, and
beside a bare FastAPI app on the same uvicorn serving the same JSON from memory.

    python bench/http_path.py [--seconds 5] [--rounds 3] [--connections 8] [--workers 1 2]
                              [--backend sqlite|postgresql] [--before-src DIR]

Needs `wrk` on PATH (Debian: `apt-get install wrk`). Every server is a separate process on a
free port, each teamgate server with its own database: a SQLite file in a temporary directory,
or with `--backend postgresql` a PostgreSQL database made for the run and dropped after. The
configurations take turns in `--rounds` rounds so that noise on the machine hits them all
alike; each reports its median round. The targets: auth+ACL ≥ 0.5× bare FastAPI, and
≥ 0.75× the same server with auth and ACL off.

Beside cached Basic, the same path with an OIDC ID token as Bearer ("OIDC bearer+ACL"): the
server is given an issuer of the benchmark's own (tests/jwks_server.py: discovery and a JWKS on
a loopback port) and the benchmark signs the token itself (it measures the server, not an
IdP). The token is verified once, then served from the verified-token cache: the target is
OIDC bearer ≥ 1.0× cached Basic (a JWT per request must not cost more than a password).

(bench/http_get_workflow.py compares the credential cache on and off with Python clients;
this one is about the whole path against a bare app, measured from outside.)
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.run_overhead import database
from tests.conftest import start_server
from tests.jwks_server import JwksServer

from teamgate.auth.passwords import hash_password

USER, PASSWORD = "alice", "alice_password"
BARE = "bare FastAPI, same uvicorn, same JSON"

BARE_APP = """
import json, sys
import uvicorn
from fastapi import FastAPI

body = json.loads(open(sys.argv[1]).read())
app = FastAPI()

@app.get("/torc-service/v1/workflows/{id}")
def get_workflow(id: int) -> dict:
    return body

sock_port = int(sys.argv[2])
uvicorn.run(app, host="127.0.0.1", port=sock_port, log_level="warning", access_log=False)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_bare(work: Path, body: dict[str, object]) -> tuple[subprocess.Popen[bytes], str]:
    (work / "body.json").write_text(json.dumps(body))
    (work / "bare_app.py").write_text(BARE_APP)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(work / "bare_app.py"), str(work / "body.json"), str(port)]
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(f"{base}/torc-service/v1/workflows/1").raise_for_status()
            return process, base
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.1)


Auth = tuple[str, str] | str | None  # Basic (user, password), a Bearer token, or none


def header(auth: Auth) -> dict[str, str]:
    if auth is None:
        return {}
    if isinstance(auth, str):
        return {"Authorization": f"Bearer {auth}"}
    token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def wrk(url: str, auth: Auth, *, seconds: float, connections: int) -> float:
    """Requests per second; fails on any non-2xx answer or socket error."""
    cmd = [
        "wrk",
        "-t",
        "2",
        "-c",
        str(connections),
        "-d",
        f"{max(1, round(seconds))}s",
        "--latency",
        url,
    ]
    for name, value in header(auth).items():
        cmd[1:1] = ["-H", f"{name}: {value}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    if bad or errors:
        raise SystemExit(f"wrk saw failures against {url}:\n{out}")
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert found, out
    return float(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="length of one wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--cost", type=int, default=12, help="bcrypt cost of the user's hash")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--pg-admin",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="where to create (and drop) the PostgreSQL databases",
    )
    parser.add_argument(
        "--before-src",
        help="a `src` directory holding another version of teamgate (from `git archive`), "
        "measured beside this one in the same run",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")

    work = Path(tempfile.mkdtemp(prefix="teamgate-http-path-"))
    auth_file = work / "htpasswd"
    auth_file.write_text(f"{USER}:{hash_password(PASSWORD, cost=args.cost)}\n")
    secured = ["--auth-file", str(auth_file), "--require-auth", "--enforce-access-control"]
    alice = (USER, PASSWORD)
    issuer = JwksServer()
    oidc = ["--require-auth", "--enforce-access-control", "--oidc-issuer", issuer.issuer]
    oidc += ["--oidc-client-id", "teamgate-cli"]
    id_token = issuer.keys[0].sign(issuer.claims(exp=int(time.time()) + 6 * 3600))
    versions: list[tuple[str, dict[str, str]]] = [("", {})]
    if args.before_src:  # the same configurations, running another copy of the code
        versions.append((" [before]", {"PYTHONPATH": str(Path(args.before_src).resolve())}))
    configs: list[tuple[str, list[str], Auth, dict[str, str]]] = []
    for suffix, env in versions:
        for workers in args.workers:
            w = ["--workers", str(workers)] if workers > 1 else []
            configs.append((f"teamgate auth+ACL, {workers}w{suffix}", [*secured, *w], alice, env))
            if not suffix:  # OIDC is new: no [before] to compare with
                bearer = f"teamgate OIDC bearer+ACL, {workers}w"
                configs.append((bearer, [*oidc, *w], id_token, env))
            configs.append((f"teamgate auth/ACL off, {workers}w{suffix}", w, None, env))

    stops = [issuer.close]
    targets: list[tuple[str, str, Auth]] = []
    body: dict[str, object] | None = None
    with contextlib.ExitStack() as databases:
        try:
            for index, (label, flags, auth, env) in enumerate(configs):
                (work / f"db{index}").mkdir()
                db = databases.enter_context(
                    database(args.backend, work / f"db{index}", args.pg_admin)
                )
                server = start_server(work / f"server{index}", "--database", db, *flags, env=env)
                stops.append(server.stop)
                with httpx.Client(headers=header(auth)) as client:
                    owner = {} if isinstance(auth, str) else {"user": USER}  # OIDC: the caller
                    created = client.post(
                        f"{server.torc_url}/workflows", json={"name": "bench", **owner}
                    ).json()
                    url = f"{server.torc_url}/workflows/{created['id']}"
                    response = client.get(url)
                    response.raise_for_status()
                    body = body or response.json()
                targets.append((label, url, auth))
            assert body is not None
            bare, bare_base = start_bare(work, body)
            stops.append(bare.kill)
            targets.append((BARE, f"{bare_base}/torc-service/v1/workflows/1", None))
            for _label, url, auth in targets:  # warm up
                wrk(url, auth, seconds=1, connections=args.connections)
            rates: dict[str, list[float]] = {label: [] for label, _u, _a in targets}
            for _round in range(args.rounds):
                for label, url, auth in targets:
                    rates[label].append(
                        wrk(url, auth, seconds=args.seconds, connections=args.connections)
                    )
        finally:
            for stop in stops:
                stop()
            shutil.rmtree(work, ignore_errors=True)

    median = {label: statistics.median(r) for label, r in rates.items()}
    bare_rate = median[BARE]
    print(
        f"GET /torc-service/v1/workflows/{{id}} with wrk: {args.connections} connections, "
        f"{args.rounds} rounds x {args.seconds:.0f} s (median round), {args.backend}, "
        f"{os.cpu_count()} CPUs"
    )
    print(f"{'configuration':<42} {'req/s':>9} {'x bare':>8}")
    for label, rate in median.items():
        print(f"{label:<42} {rate:>9.0f} {rate / bare_rate:>8.2f}")
    for suffix, _env in versions:
        for workers in args.workers:
            on = median[f"teamgate auth+ACL, {workers}w{suffix}"]
            off = median[f"teamgate auth/ACL off, {workers}w{suffix}"]
            print(
                f"{workers} worker(s){suffix}: auth+ACL / bare = {on / bare_rate:.2f} "
                f"(target >= 0.5), auth+ACL / auth off = {on / off:.2f} (target >= 0.75)"
            )
            if not suffix:
                bearer = median[f"teamgate OIDC bearer+ACL, {workers}w"]
                print(
                    f"{workers} worker(s): OIDC bearer / cached Basic = {bearer / on:.2f} "
                    "(target >= 1.0, within noise)"
                )


if __name__ == "__main__":
    main()
