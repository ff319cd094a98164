"""A running server follows its htpasswd file: users added or removed with `torc-htpasswd` take
effect within seconds, without a restart; a broken file is refused and the previous users stay.

One server for the module (auth required, access control on, alice is an administrator, credential
cache on with the default TTL). Every check polls with a deadline instead of sleeping.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import BIN, Server, password_of, start_server, write_htpasswd

DEADLINE_SECS = 10.0
REALM = 'Basic realm="Torc"'


@dataclass
class Setup:
    server: Server
    auth_file: Path


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    root = tmp_path_factory.mktemp("reload")
    auth_file = write_htpasswd(root / "etc" / "htpasswd")
    server = start_server(
        root / "server",
        "--database", str(root / "torc.db"),
        "--auth-file", str(auth_file),
        "--require-auth",
        "--enforce-access-control",
        "--admin-user", "alice",
    )  # fmt: skip
    yield Setup(server, auth_file)
    server.stop()


def status(server: Server, user: str, password: str) -> int:
    with httpx.Client(base_url=server.torc_url, auth=(user, password), timeout=30) as client:
        response = client.get("/workflows")
        if response.status_code == 401:
            assert response.headers.get("www-authenticate") == REALM
            assert response.json()["error"] == "Unauthorized"
        return response.status_code


def eventually(condition: Callable[[], bool], what: str, deadline: float = DEADLINE_SECS) -> None:
    """Poll `condition` until it holds; fail after `deadline` seconds."""
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            pytest.fail(f"not within {deadline:.0f} s: {what}")
        time.sleep(0.1)


def htpasswd_tool(*args: str) -> None:
    result = subprocess.run(
        [str(BIN / "torc-htpasswd"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        start_new_session=True,  # no terminal: never prompt
        check=False,
    )
    assert result.returncode == 0, result.stderr


def replace_file(path: Path, text: str) -> None:
    """Write `path` the way an editor or config tool does: a new file renamed over the old one."""
    temp = path.with_name(f".{path.name}.new")
    temp.write_text(text)
    temp.chmod(0o600)
    os.replace(temp, path)


def log_since(server: Server, offset: int) -> str:
    return server.log()[offset:]


def test_added_user_can_log_in_without_restart(setup: Setup) -> None:
    assert status(setup.server, "eve", "eve-secret") == 401
    htpasswd_tool("-b", "-C", "4", str(setup.auth_file), "eve", "eve-secret")
    eventually(lambda: status(setup.server, "eve", "eve-secret") == 200, "eve can log in")
    assert status(setup.server, "eve", "wrong") == 401
    assert setup.server.process.poll() is None  # same process, no restart


def test_removed_user_is_refused_although_cached(setup: Setup) -> None:
    for _ in range(2):  # the second success comes from the credential cache
        assert status(setup.server, "bob", password_of("bob")) == 200
    htpasswd_tool("-D", str(setup.auth_file), "bob")
    eventually(lambda: status(setup.server, "bob", password_of("bob")) == 401, "bob is refused")
    assert status(setup.server, "alice", password_of("alice")) == 200


@pytest.mark.parametrize(
    ("broken_line", "fragment"),
    [
        ("this line has no colon", "expected 'username:hash'"),
        ("mallory:$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/", "not a bcrypt hash"),
        ("mallory:plain-text-password", "not a bcrypt hash"),
    ],
    ids=["no-colon", "md5-apr1", "plain-text"],
)
def test_broken_file_keeps_previous_users_until_fixed(
    setup: Setup, tmp_path: Path, broken_line: str, fragment: str
) -> None:
    server, auth_file = setup.server, setup.auth_file
    good = auth_file.read_text()
    # A new user comes with the breakage: a failed reload must not half-apply the file.
    newcomer = f"frank{len(good)}"
    entry = write_htpasswd(tmp_path / "newcomer", [newcomer]).read_text().splitlines()[-1]
    broken = f"{good}{entry}\n{broken_line}\n"
    bad_line = len(broken.splitlines())
    offset = len(server.log())

    replace_file(auth_file, broken)
    eventually(
        lambda: f"{auth_file} line {bad_line}: " in log_since(server, offset),
        "the failed reload is logged with the line number",
    )
    failure = next(
        line for line in log_since(server, offset).splitlines() if f"line {bad_line}:" in line
    )
    assert failure.startswith("ERROR ") and fragment in failure, failure
    assert "keeping" in failure, failure
    assert status(server, newcomer, password_of(newcomer)) == 401
    # users of the last good file still work, including ones never seen (so never cached)
    assert status(server, "dave", password_of("dave")) == 200
    assert status(server, "carol", password_of("carol")) == 200
    assert server.process.poll() is None

    replace_file(auth_file, f"{good}{entry}\n")
    eventually(
        lambda: status(server, newcomer, password_of(newcomer)) == 200, "the fixed file applies"
    )
    assert "Reloaded" in log_since(server, offset)
    assert password_of(newcomer) not in server.log()


def test_reload_endpoint_is_for_administrators(setup: Setup) -> None:
    with httpx.Client(base_url=setup.server.torc_url, timeout=30) as client:
        refused = client.post("/admin/reload-auth", auth=("carol", password_of("carol")))
        assert refused.status_code == 403, refused.text
        assert set(refused.json()) == {"error", "message"}
        done = client.post("/admin/reload-auth", auth=("alice", password_of("alice")))
        assert done.status_code == 200, done.text
        lines = setup.auth_file.read_text().splitlines()
        users = [line for line in lines if line.strip() and not line.startswith("#")]
        assert done.json()["user_count"] == len(users)


def test_reload_endpoint_refuses_a_broken_file(setup: Setup) -> None:
    server, auth_file = setup.server, setup.auth_file
    good = auth_file.read_text()
    offset = len(server.log())
    replace_file(auth_file, f"{good}broken\n")
    try:
        with httpx.Client(base_url=server.torc_url, timeout=30) as client:
            response = client.post("/admin/reload-auth", auth=("alice", password_of("alice")))
        assert status(server, "carol", password_of("carol")) == 200  # previous users kept
        bad_line = len(good.splitlines()) + 1
        assert 400 <= response.status_code < 500, (response.status_code, response.text)
        assert set(response.json()) == {"error", "message"}
        assert f"line {bad_line}" in response.json()["message"]
    finally:
        replace_file(auth_file, good)
        eventually(lambda: "Reloaded" in log_since(server, offset), "the fixed file is reloaded")
