"""The `torc` CLI against a real server: output formats, identity, group admins, TLS."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import BIN, Server, cli_env, password_of, start_server, torc


def test_format_json_before_or_after_the_subcommand(secured_server: Server) -> None:
    assert torc(secured_server, "alice", "access-groups", "create", "g1").returncode == 0
    before = torc(secured_server, "alice", "-f", "json", "access-groups", "list")
    after = torc(secured_server, "alice", "access-groups", "list", "--format", "json")
    assert before.returncode == after.returncode == 0
    assert json.loads(before.stdout) == json.loads(after.stdout)
    assert [g["name"] for g in json.loads(after.stdout)] == ["g1"]


def test_username_flag_and_env_override_user(secured_server: Server) -> None:
    env = cli_env(secured_server, "carol")  # $USER=carol …
    env["TORC_PASSWORD"] = password_of("alice")
    result = subprocess.run(
        [str(BIN / "torc"), "--username", "alice", "access-groups", "create", "by-flag"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    env["TORC_USERNAME"] = "alice"
    result = subprocess.run(
        [str(BIN / "torc"), "access-groups", "create", "by-env"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_group_admin_manages_members_of_their_group_only(secured_server: Server) -> None:
    for name in ("ml-team", "data-team"):
        assert torc(secured_server, "alice", "access-groups", "create", name).returncode == 0
    added = torc(
        secured_server, "alice", "access-groups", "add-user", "2", "carol", "--role", "admin"
    )
    assert "Role: admin" in added.stdout
    assert torc(secured_server, "carol", "access-groups", "add-user", "2", "dave").returncode == 0
    refused = torc(secured_server, "carol", "access-groups", "add-user", "1", "dave")
    assert refused.returncode != 0
    assert json.loads(refused.stderr)["message"] == "User 'carol' is not an admin of group 1"
    refused = torc(secured_server, "dave", "access-groups", "remove-user", "2", "carol")
    assert json.loads(refused.stderr)["message"] == "User 'dave' is not an admin of group 2"
    members = json.loads(
        torc(secured_server, "carol", "-f", "json", "access-groups", "list-members", "2").stdout
    )
    assert {(m["user_name"], m["role"]) for m in members} == {
        ("carol", "admin"),
        ("dave", "member"),
    }


def test_non_admins_see_only_their_own_groups(secured_server: Server) -> None:
    for name in ("ml-team", "data-team"):
        torc(secured_server, "alice", "access-groups", "create", name)
    torc(secured_server, "alice", "access-groups", "add-user", "2", "carol")
    listed = json.loads(torc(secured_server, "carol", "-f", "json", "access-groups", "list").stdout)
    assert [g["name"] for g in listed] == ["data-team"]
    other = torc(secured_server, "carol", "access-groups", "list-members", "1")
    assert other.returncode != 0 and "not a member of group 1" in other.stderr
    other = torc(secured_server, "carol", "access-groups", "list-user-groups", "alice")
    assert other.returncode != 0


def test_help_never_shows_the_password(secured_server: Server) -> None:
    env = cli_env(secured_server, "alice", TORC_PASSWORD="s3cret-value")
    result = subprocess.run([str(BIN / "torc"), "--help"], env=env, capture_output=True, text=True)
    assert result.returncode == 0
    assert "s3cret-value" not in result.stdout
    assert "TORC_PASSWORD" in result.stdout


def test_cannot_reach_server_is_one_clear_line(tmp_path: Path) -> None:
    env = {"PATH": str(BIN), "TORC_API_URL": "http://127.0.0.1:9/torc-service/v1", "USER": "x"}
    result = subprocess.run([str(BIN / "torc"), "ping"], env=env, capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.startswith("Error: cannot reach http://127.0.0.1:9/torc-service/v1")
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls(tmp_path: Path, htpasswd: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    server = start_server(
        tmp_path / "server",
        "--database",
        str(tmp_path / "tls.db"),
        "--auth-file",
        str(htpasswd),
        "--tls-cert",
        str(cert),
        "--tls-key",
        str(key),
        tls_ca=cert,
    )
    try:
        url = f"{server.torc_url}/ping"
        assert url.startswith("https://")
        response = httpx.get(url, verify=server.verify(), auth=("alice", password_of("alice")))
        assert response.json() == {"status": "ok"}
        with pytest.raises(httpx.HTTPError):
            httpx.get(url.replace("https", "http"), timeout=5)
    finally:
        server.stop()
