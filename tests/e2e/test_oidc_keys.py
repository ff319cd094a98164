"""The issuer's signing keys over time, with a real `torc-server` process and the real IdP of
tests/idp.py: a new key is picked up without a restart, tokens signed with an old key are
accepted while it is published and refused once it is retired, and while the IdP is down the
keys the server holds keep working.

The server fetches the keys every second here (`oidc_jwks_refresh_secs`, a config-only
setting; 300 s by default), so that what takes minutes in production takes seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Server
from tests.idp import CLIENT_ID, IdP
from tests.polling import until


@pytest.fixture
def keys_idp(idp_factory: Callable[..., IdP]) -> IdP:
    """An IdP of this test's own: it is restarted and its keys changed."""
    return idp_factory()


def start(server_factory: Any, tmp_path: Path, idp: IdP) -> Server:
    config = tmp_path / "torc.toml"
    config.write_text("[server]\noidc_jwks_refresh_secs = 1\noidc_jwks_min_interval_secs = 0.5\n")
    return server_factory(  # type: ignore[no-any-return]
        "--config",
        str(config),
        "--database",
        str(tmp_path / "db" / "torc.db"),
        "--require-auth",
        "--enforce-access-control",
        "--oidc-issuer",
        idp.issuer,
        "--oidc-client-id",
        CLIENT_ID,
    )


def status(server: Server, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.get(f"{server.base_url}/v1/auth/me", headers=headers, timeout=10).status_code


def test_key_rotation_without_a_restart(server_factory: Any, tmp_path: Path, keys_idp: IdP) -> None:
    server = start(server_factory, tmp_path, keys_idp)
    old_kid = keys_idp.signing_kid("RS256")
    old = keys_idp.tokens_for("alice@example.com")
    assert old.claims and status(server, old.id_token) == 200

    new_kids = keys_idp.rotate_keys()  # the new key signs; the old one is still published
    new = keys_idp.tokens_for("alice@example.com")
    assert new.id_token.split(".")[0] != old.id_token.split(".")[0]  # another kid
    assert keys_idp.signing_kid("RS256") in new_kids
    # an unknown kid makes the server fetch the keys (no restart); at most every
    # oidc_jwks_min_interval_secs, so a fetch made a moment before (the IdP restarting for its
    # rotation) may defer it to the next request or the next background refresh
    until("the new key picked up", lambda: status(server, new.id_token) == 200, deadline=10)
    assert status(server, old.id_token) == 200  # its key is still published

    keys_idp.retire_old_keys()
    until("the old key's tokens refused", lambda: status(server, old.id_token) == 401)
    assert status(server, new.id_token) == 200
    assert "OIDC sign-in refused (unknown-key) for user 'alice@example.com'" in server.log()
    assert f"key '{old_kid}'" in server.log()
    assert server.process.poll() is None  # the same process throughout


def test_the_idp_down_cached_keys_keep_working(
    server_factory: Any, tmp_path: Path, keys_idp: IdP
) -> None:
    server = start(server_factory, tmp_path, keys_idp)
    used = keys_idp.tokens_for("alice@example.com").id_token
    fresh = keys_idp.tokens_for("bob@example.com").id_token  # not shown to the server yet
    assert status(server, used) == 200
    keys_idp.stop()
    try:
        until(
            "the server failing to fetch the keys",
            lambda: "fetching the signing keys" in server.log(),
            deadline=30,
        )
        until("a second failed fetch", lambda: server.log().count("keeping the") >= 2, 30)
        assert status(server, used) == 200  # verified before: remembered until it expires
        assert status(server, fresh) == 200  # verified now, with the keys held
    finally:
        keys_idp.start()
    assert status(server, keys_idp.tokens_for("dave@example.com").id_token) == 200
    assert server.process.poll() is None
