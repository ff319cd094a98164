"""A tiny OpenID issuer of the tests' own: a discovery document and a JWKS served over HTTP on a
free loopback port, with keys the test chooses, a count of the JWKS fetches, and switches to
answer 503 ("the IdP is down") or to name another issuer in discovery.

For the server's fetching behaviour (rate-limited refetches, keys kept while the issuer is
down, retired keys), for forgeries (tokens no IdP would issue), and for benchmarks. Tokens a
test expects to be ACCEPTED come from the real IdP (tests/idp.py), never from here.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

DISCOVERY_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/jwks"


@dataclass
class Key:
    """A signing key: its private half (to sign here) and what a JWKS publishes of it."""

    kid: str
    alg: str
    private: Any

    @classmethod
    def new(cls, kid: str, alg: str = "RS256") -> Key:
        if alg.startswith(("RS", "PS")):
            private: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            curve = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1()}[alg]
            private = ec.generate_private_key(curve)
        return cls(kid, alg, private)

    def public_jwk(self) -> dict[str, Any]:
        algorithm = RSAAlgorithm if self.alg.startswith(("RS", "PS")) else ECAlgorithm
        found: dict[str, Any] = json.loads(algorithm.to_jwk(self.private.public_key()))
        return {**found, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        return jwt.encode(
            claims, self.private, algorithm=self.alg, headers={"kid": self.kid, **header}
        )


@dataclass
class JwksServer:
    """Serves discovery and the JWKS of `keys` until `close()`; `issuer` is its own URL."""

    keys: list[Key] = field(default_factory=lambda: [Key.new("k1")])
    down: bool = False  # answer 503 to everything
    discovery_issuer: str | None = None  # name this issuer in discovery instead of its own
    fetches: int = 0  # JWKS requests answered
    extra_jwks: list[dict[str, Any]] = field(default_factory=list)  # published as they are

    def __post_init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if owner.down:
                    return self._send(503, {"error": "down"})
                if self.path == DISCOVERY_PATH:
                    return self._send(200, owner.discovery())
                if self.path == JWKS_PATH:
                    owner.fetches += 1
                    return self._send(200, owner.jwks())
                return self._send(404, {"error": "not found"})

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.discovery_issuer or self.issuer,
            "jwks_uri": self.issuer + JWKS_PATH,
            "authorization_endpoint": self.issuer + "/auth",
            "token_endpoint": self.issuer + "/token",
            "id_token_signing_alg_values_supported": sorted({k.alg for k in self.keys}),
        }

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.public_jwk() for k in self.keys] + self.extra_jwks}

    def claims(self, audience: str = "teamgate-cli", **extra: Any) -> dict[str, Any]:
        """Claims such as an ID token of this issuer carries (for forgeries and benchmarks)."""
        now = int(time.time())
        return {
            "iss": self.issuer,
            "aud": audience,
            "sub": "alice",
            "email": "alice@example.com",
            "email_verified": True,
            "groups": ["ml-team"],
            "iat": now,
            "exp": now + 300,
            **extra,
        }

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> JwksServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
