"""What authenticating one request costs the server, by credential: a cached Basic password
beside an OIDC ID token as Bearer (verified once, then from the verified-token cache), and what
a first sight of each costs (a full JWT verification; bcrypt).

    python bench/sign_in.py [--repeat 20000] [--cost 12]

In process, no HTTP: `Authenticator.authenticate_cached` is what the server runs on the event
loop for every request it can decide without blocking, `authenticate` the rest. The ID token is
signed by the benchmark with a key its own JWKS server publishes (tests/jwks_server.py): this
measures the server, not an IdP. Median of `--rounds` rounds, the credentials taking turns.
The target: an OIDC bearer costs no more than a cached password (bench/http_path.py measures
the whole HTTP path the same way).
"""

from __future__ import annotations

import argparse
import base64
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.jwks_server import JwksServer

from teamgate.auth.authenticator import Authenticator
from teamgate.auth.oidc import OidcConfig, OidcVerifier, Provider
from teamgate.auth.passwords import hash_password


def per_call_us(call: Callable[[], object], repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        call()
    return (time.perf_counter() - start) / repeat * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=20_000, help="calls per round (cached)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--cost", type=int, default=12, help="bcrypt cost of the user's hash")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="teamgate-sign-in-"))
    (work / "htpasswd").write_text(f"alice:{hash_password('pw', cost=args.cost)}\n")
    with JwksServer() as issuer:
        config = OidcConfig(
            issuer=issuer.issuer, client_id="teamgate-cli", audiences=frozenset({"teamgate-cli"})
        )
        provider = Provider(config)
        provider.refresh()
        verifier = OidcVerifier(config, provider)
        auth = Authenticator(
            auth_file=work / "htpasswd", require_auth=True, cache_ttl_secs=60, oidc=verifier
        )
        token = issuer.keys[0].sign(issuer.claims(groups=["ml-team", "data-team"]))
        basic = "Basic " + base64.b64encode(b"alice:pw").decode()
        bearer = f"Bearer {token}"
        assert auth.authenticate(basic).name == "alice"  # fills the credential cache
        assert auth.authenticate(bearer).name == "alice@example.com"  # and the token cache

        def cached(header: str) -> Callable[[], object]:
            def call() -> object:
                found = auth.authenticate_cached(header)
                assert found is not None
                return found

            return call

        def first_sight() -> object:
            verifier._verified.clear()  # a token not seen before: the whole check
            return auth.authenticate(bearer)

        samples: dict[str, list[float]] = {
            "cached Basic password": [],
            "OIDC bearer (verified-token cache)": [],
            "OIDC bearer, first sight (full JWT check)": [],
        }
        for _ in range(args.rounds):
            samples["cached Basic password"].append(per_call_us(cached(basic), args.repeat))
            samples["OIDC bearer (verified-token cache)"].append(
                per_call_us(cached(bearer), args.repeat)
            )
            samples["OIDC bearer, first sight (full JWT check)"].append(
                per_call_us(first_sight, max(1, args.repeat // 100))
            )

        def uncached() -> object:
            auth.cache.clear()
            return auth.verify("alice", "pw")

        bcrypt_us = per_call_us(uncached, 3)
        provider.stop()

    print(f"authenticating one request, in process; median of {args.rounds} rounds, µs per call")
    median = {label: statistics.median(values) for label, values in samples.items()}
    for label, value in median.items():
        print(f"{label:<44} {value:>10.1f}")
    print(f"{f'Basic password, uncached (bcrypt cost {args.cost})':<44} {bcrypt_us:>10.1f}")
    ratio = median["OIDC bearer (verified-token cache)"] / median["cached Basic password"]
    print(f"OIDC bearer / cached Basic: {ratio:.2f} of the time (target <= 1.0)")


if __name__ == "__main__":
    main()
