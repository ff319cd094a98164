"""An API token lives no longer than its user's standing in the htpasswd file.

Against a real server that follows its file (auth required, access control on, alice is the
system administrator), with the real `torc-htpasswd` and `taco`: removing a user, or changing
their password (even to the same one), ends every token issued before, used as Bearer or as
the Basic password, within the file's reload window; a second server process on the same
database and file agrees; and a system administrator (or the user) revokes all of one user's
tokens (API and CLI), audited, while anyone else is refused. Every check polls with a deadline.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import BIN, Server, password_of, start_server, write_htpasswd
from tests.e2e.test_htpasswd_reload import eventually, htpasswd_tool

USERS = ("alice", "bob", "carol", "dave", "erin", "frank", "mallory", "oscar", "peggy")
REFUSED = (401, 401)


@dataclass
class Setup:
    server: Server
    auth_file: Path
    root: Path


def server_args(root: Path, auth_file: Path) -> list[str]:
    return [
        "--database", str(root / "torc.db"),
        "--auth-file", str(auth_file),
        "--require-auth",
        "--enforce-access-control",
        "--admin-user", "alice",
    ]  # fmt: skip


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    root = tmp_path_factory.mktemp("tokens")
    auth_file = write_htpasswd(root / "etc" / "htpasswd", USERS)
    server = start_server(root / "server", *server_args(root, auth_file))
    yield Setup(server, auth_file, root)
    server.stop()


def issue(server: Server, user: str, password: str | None = None) -> str:
    """A new token for `user`, signed in with their password."""
    auth = (user, password if password is not None else password_of(user))
    response = httpx.post(f"{server.base_url}/v1/auth/token", auth=auth, timeout=30)
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


def token_statuses(server: Server, user: str, token: str) -> tuple[int, int]:
    """What `GET /v1/auth/me` answers to the token as Bearer, and as the Basic password."""
    basic = base64.b64encode(f"{user}:{token}".encode()).decode()
    answers = []
    for header in (f"Bearer {token}", f"Basic {basic}"):
        response = httpx.get(
            f"{server.base_url}/v1/auth/me", headers={"Authorization": header}, timeout=30
        )
        if response.status_code == 200:
            me = response.json()
            assert {k: me[k] for k in ("user", "system_admin", "auth")} == {
                "user": user,
                "system_admin": False,
                "auth": "token",
            }
            assert me["idp_groups"] == [] and me["issuer"] is None and me["expires_at"]
        else:
            assert set(response.json()) == {"error", "message"}, response.text
        answers.append(response.status_code)
    return answers[0], answers[1]


def password_status(server: Server, user: str, password: str) -> int:
    response = httpx.get(f"{server.base_url}/v1/auth/me", auth=(user, password), timeout=30)
    return response.status_code


def test_removing_a_user_ends_their_tokens(setup: Setup) -> None:
    server = setup.server
    token, bystander = issue(server, "mallory"), issue(server, "bob")
    assert token_statuses(server, "mallory", token) == (200, 200)

    htpasswd_tool("-D", str(setup.auth_file), "mallory")
    eventually(
        lambda: token_statuses(server, "mallory", token) == REFUSED, "mallory's token is refused"
    )
    assert password_status(server, "mallory", password_of("mallory")) == 401
    assert token_statuses(server, "bob", bystander) == (200, 200)


@pytest.mark.parametrize("new_password", ["a-new-password", None], ids=["changed", "same-again"])
def test_a_password_change_ends_the_tokens_issued_before_it(
    setup: Setup, new_password: str | None
) -> None:
    """A new hash ends the old tokens, even for the same password (the salt is new)."""
    server, user = setup.server, "erin" if new_password else "frank"
    password = new_password or password_of(user)
    before = [issue(server, user), issue(server, user)]

    htpasswd_tool("-b", "-C", "4", str(setup.auth_file), user, password)
    eventually(
        lambda: all(token_statuses(server, user, t) == REFUSED for t in before),
        f"{user}'s tokens from before the change are refused",
    )
    after = issue(server, user, password)
    assert token_statuses(server, user, after) == (200, 200)
    if new_password:
        assert password_status(server, user, password_of(user)) == 401


def test_another_process_on_the_same_database_agrees(setup: Setup) -> None:
    """Tokens keep what they were issued against in the database: a second server process
    (or a restarted one) reading the same file refuses and accepts the same tokens."""
    first = setup.server
    old = issue(first, "oscar")
    htpasswd_tool("-b", "-C", "4", str(setup.auth_file), "oscar", "oscar-new")
    eventually(lambda: token_statuses(first, "oscar", old) == REFUSED, "the first refuses")
    new = issue(first, "oscar", "oscar-new")

    second = start_server(setup.root / "second", *server_args(setup.root, setup.auth_file))
    try:
        assert token_statuses(second, "oscar", old) == REFUSED
        assert token_statuses(second, "oscar", new) == (200, 200)
    finally:
        second.stop()


# -- a system administrator revokes all of one user's tokens -------------------------------


def taco(setup: Setup, user: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENTACO_", "XDG_"))}
    env.update(
        XDG_CONFIG_HOME=str(setup.root / f"config-{user}"),
        OPENTACO_SERVER=setup.server.base_url,
        OPENTACO_USERNAME=user,
        OPENTACO_PASSWORD=password_of(user),
    )
    return subprocess.run(
        [str(BIN / "taco"), *args], env=env, capture_output=True, text=True, timeout=60
    )


def revocations(server: Server) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{server.base_url}/v1/audit",
        params={"action": "token.revoke"},
        auth=("alice", password_of("alice")),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_an_administrator_revokes_all_of_a_user_s_tokens(setup: Setup) -> None:
    server = setup.server
    tokens = [issue(server, "carol"), issue(server, "carol")]
    kept = issue(server, "peggy")

    refused = httpx.delete(
        f"{server.base_url}/v1/auth/tokens",
        params={"user": "carol"},
        auth=("dave", password_of("dave")),
        timeout=30,
    )
    assert refused.status_code == 403, refused.text
    assert "may only revoke their own tokens" in refused.json()["message"]
    by_cli = taco(setup, "dave", "token", "revoke", "--user", "carol")
    assert by_cli.returncode != 0 and "may only revoke their own tokens" in by_cli.stderr
    assert all(token_statuses(server, "carol", t) == (200, 200) for t in tokens)

    done = taco(setup, "alice", "-o", "json", "token", "revoke", "--user", "carol")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["revoked"] == 2
    assert all(token_statuses(server, "carol", t) == REFUSED for t in tokens)
    assert token_statuses(server, "peggy", kept) == (200, 200)
    assert password_status(server, "carol", password_of("carol")) == 200  # only tokens end

    again = taco(setup, "alice", "token", "revoke", "-u", "carol")
    assert again.returncode == 0 and "Revoked 0 tokens of user 'carol'" in again.stdout
    records = [r for r in revocations(server) if r["resource"] == "user/carol"]
    assert [(r["user"], r["decision"], r["detail"]) for r in records] == [
        ("alice", "allowed", "0 tokens revoked"),
        ("alice", "allowed", "2 tokens revoked"),
        ("dave", "denied", "DELETE /v1/auth/tokens"),  # by the CLI
        ("dave", "denied", "DELETE /v1/auth/tokens"),  # by the API
    ]

    own = taco(setup, "peggy", "-o", "json", "token", "revoke", "--user", "peggy")
    assert own.returncode == 0 and json.loads(own.stdout)["revoked"] == 1, own.stderr
    assert token_statuses(server, "peggy", kept) == REFUSED


def test_revoking_needs_a_user_name(setup: Setup) -> None:
    url = f"{setup.server.base_url}/v1/auth/tokens"
    for params in ({}, {"user": ""}):
        response = httpx.delete(url, params=params, auth=("alice", password_of("alice")))
        assert response.status_code == 400, response.text
        assert set(response.json()) == {"error", "message"}
