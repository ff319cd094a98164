"""Authenticated `GET /workflows/{id}`: requests per second with the credential cache on and
off, and with authentication and access control off, side by side in one run.

    python bench/http_get_workflow.py [--seconds 5] [--clients 4] [--cost 12]

Each configuration runs in its own real `torc-server` process on a free port; the load comes
from keep-alive HTTP clients in threads of this process. The configurations take turns in
`--rounds` short rounds (so a burst of noise on this machine hits all of them alike) and each
reports its median round. Figures are printed as a table and as ratios to the baseline (no
authentication, no access control).

"OIDC bearer" signs in with an ID token as Bearer, from an issuer of the benchmark's own
(tests/jwks_server.py, which serves discovery and a JWKS; the benchmark signs the token): the
server verifies it once and then takes it from its verified-token cache, so it must cost no
more than the cached password.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import start_server
from tests.jwks_server import JwksServer

from teamgate.auth.passwords import hash_password

USER, PASSWORD = "alice", "alice_password"


Auth = tuple[str, str] | str | None  # Basic (user, password), a Bearer token, or none


def client_for(auth: Auth) -> httpx.Client:
    if isinstance(auth, str):
        return httpx.Client(headers={"Authorization": f"Bearer {auth}"}, timeout=30)
    return httpx.Client(auth=auth, timeout=30)


def load(url: str, auth: Auth, *, seconds: float, clients: int) -> tuple[float, int]:
    """Requests per second over `seconds` from `clients` threads; also the error count."""
    counts = [0] * clients
    failures = [0] * clients
    stop = threading.Event()

    def worker(index: int) -> None:
        with client_for(auth) as client:
            while not stop.is_set():
                response = client.get(url)
                counts[index] += 1
                if response.status_code != 200:
                    failures[index] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    stop.wait(seconds)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    return sum(counts) / elapsed, sum(failures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="length of one round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--cost", type=int, default=12, help="bcrypt cost of the user's hash")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="teamgate-bench-"))
    auth_file = work / "htpasswd"
    auth_file.write_text(f"{USER}:{hash_password(PASSWORD, cost=args.cost)}\n")
    secured = ["--auth-file", str(auth_file), "--require-auth", "--enforce-access-control"]
    issuer = JwksServer()
    id_token = issuer.keys[0].sign(issuer.claims(exp=int(time.time()) + 6 * 3600))
    oidc = ["--require-auth", "--enforce-access-control", "--oidc-issuer", issuer.issuer]
    oidc += ["--oidc-client-id", "teamgate-cli"]
    configs: list[tuple[str, list[str], Auth]] = [
        ("auth off, access control off (baseline)", [], None),
        ("auth + access control, cache on (60 s)", secured, (USER, PASSWORD)),
        (
            "auth + access control, cache off",
            [*secured, "--credential-cache-ttl-secs", "0"],
            (USER, PASSWORD),
        ),
        ("OIDC bearer + access control (token cache)", oidc, id_token),
    ]
    servers = []
    targets = []
    try:
        for index, (_label, flags, auth) in enumerate(configs):
            db = work / f"db{index}.sqlite"
            server = start_server(work / f"server{index}", "--database", str(db), *flags)
            servers.append(server)
            with client_for(auth) as client:
                owner = {} if isinstance(auth, str) else {"user": USER}  # OIDC: the caller
                created = client.post(
                    f"{server.torc_url}/workflows", json={"name": "bench", **owner}
                ).json()
                url = f"{server.torc_url}/workflows/{created['id']}"
                client.get(url).raise_for_status()  # warm up (and fill the cache)
            targets.append((url, auth))
        rates: list[list[float]] = [[] for _ in configs]
        failures = [0] * len(configs)
        for _round in range(args.rounds):
            for index, (url, auth) in enumerate(targets):
                rate, failed = load(url, auth, seconds=args.seconds, clients=args.clients)
                rates[index].append(rate)
                failures[index] += failed
    finally:
        for server in servers:
            server.stop()
        issuer.close()
    results = [
        (label, statistics.median(rates[i]), failures[i])
        for i, (label, _f, _a) in enumerate(configs)
    ]

    baseline = results[0][1]
    print(
        f"GET /workflows/{{id}}: {args.clients} clients, {args.rounds} rounds x "
        f"{args.seconds:.0f} s per configuration (median round), "
        f"bcrypt cost {args.cost}"
    )
    print(f"{'configuration':<44} {'req/s':>10} {'ratio':>8} {'errors':>7}")
    for label, rate, failures in results:
        print(f"{label:<44} {rate:>10.1f} {rate / baseline:>8.3f} {failures:>7}")
    cache_on, cache_off, bearer = results[1][1], results[2][1], results[3][1]
    print(f"cache on / cache off: {cache_on / cache_off:.1f}x")
    print(f"OIDC bearer / cached Basic: {bearer / cache_on:.2f} (target >= 1.0, within noise)")


if __name__ == "__main__":
    main()
