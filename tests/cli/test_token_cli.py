"""`taco token create|list|revoke` and `torc tokens list|revoke` through the real CLIs against
a real server: the secret printed once and never listed, scopes and names shown, revoking by
id (one's own; an administrator anyone's), and `taco token revoke --user` as before."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli.test_taco_cli import _server, error, ok, taco
from tests.conftest import Server, torc


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from _server(tmp_path_factory.mktemp("tokens"))


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return tmp_path / "config"


def test_taco_token_create_list_and_revoke(server: Server, config: Path) -> None:
    created = taco(
        server, config, "bob", "token", "create", "--name", "ci", "--expires", "12h",
        "--unit-prefix", "dev/",
    )  # fmt: skip
    secret = ok(created).strip()
    assert secret.startswith("tg_") and "\n" not in secret
    assert "shown only now" in created.stderr and "units under 'dev'" in created.stderr
    me = httpx.get(
        f"{server.base_url}/v1/auth/me", headers={"Authorization": f"Bearer {secret}"}
    ).json()
    assert (me["user"], me["system_admin"], me["auth"]) == ("bob", False, "token")
    reader = json.loads(ok(taco(server, config, "bob", "-o", "json", "token", "create",
                                "--read-only")))  # fmt: skip
    assert reader["scope"] == "read-only" and reader["token"].startswith("tg_")

    table = ok(taco(server, config, "bob", "token", "list"))
    lookup = secret.split("_")[1]
    assert f"tg_{lookup}" in table and secret.split("_", 2)[2] not in table
    assert "ci" in table and "units under 'dev'" in table and "read-only" in table
    assert "Total: 2" in table
    items = json.loads(ok(taco(server, config, "bob", "-o", "json", "token", "list")))
    assert [t["id"] for t in items] == [reader["id"], reader["id"] - 1]
    assert all("token" not in t for t in items)

    # someone else may not revoke it; bob may, by id
    refused = taco(server, config, "carol", "token", "revoke", str(reader["id"]))
    assert "own tokens" in error(refused)["message"]
    assert ok(taco(server, config, "bob", "token", "revoke", str(reader["id"]))) == (
        f"Token {reader['id']} revoked\n"
    )
    usage = taco(server, config, "bob", "token", "revoke")
    assert usage.returncode == 2 and "token ID or --user" in usage.stderr
    # an administrator sees everyone's, and `--user` still revokes all of one user's
    everyone = ok(taco(server, config, "alice", "token", "list", "--all"))
    assert "bob" in everyone and "revoked" in everyone
    answer = ok(taco(server, config, "alice", "token", "revoke", "--user", "bob"))
    assert answer == "Revoked 1 token of user 'bob'\n"


def test_torc_tokens_list_and_revoke(server: Server) -> None:
    made = json.loads(ok(torc(server, "dave", "-f", "json", "tokens", "create", "--name", "w")))
    assert made["name"] == "w" and made["scope"] == "unscoped"
    listed = json.loads(ok(torc(server, "dave", "-f", "json", "tokens", "list")))
    assert [(t["id"], t["name"], t["state"]) for t in listed] == [(made["id"], "w", "active")]
    assert made["token"] not in json.dumps(listed)
    table = ok(torc(server, "dave", "tokens", "list"))
    assert f"tg_{made['token'].split('_')[1]}" in table and "never" in table
    assert ok(torc(server, "dave", "tokens", "revoke", str(made["id"]))).startswith("Token ")
    assert "revoked" in ok(torc(server, "dave", "tokens", "list"))
