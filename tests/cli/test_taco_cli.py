"""The installed `taco` CLI against a real server: login, RBAC (the seed page), units."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import socket
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import httpx
import pexpect  # type: ignore[import-untyped]  # pexpect ships no type hints
import pytest

from tests.conftest import BIN, Server, password_of, start_server, write_htpasswd

TACO = str(BIN / "taco")
T = TypeVar("T")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """RBAC stays uninitialised here, so any user may create units (and owns them)."""
    yield from _server(tmp_path_factory.mktemp("taco"))


@pytest.fixture
def rbac_server(tmp_path: Path) -> Iterator[Server]:
    """A server of its own for a test that runs `rbac init` (then creating needs unit.write)."""
    yield from _server(tmp_path / "rbac")


def _server(root: Path) -> Iterator[Server]:
    started = start_server(
        root / "server",
        "--database",
        str(root / "torc.db"),
        "--blob-store",
        str(root / "blobs"),
        "--auth-file",
        str(write_htpasswd(root / "htpasswd")),
        "--enforce-access-control",
        "--admin-user",
        "alice",
    )
    yield started
    started.stop()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """XDG_CONFIG_HOME for one test: its saved tokens and lock IDs."""
    return tmp_path / "config"


def env_for(server: Server, config: Path, user: str | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENTACO_", "XDG_"))}
    env.update(XDG_CONFIG_HOME=str(config), OPENTACO_SERVER=server.base_url, COLUMNS="200")
    if user is not None:
        env.update(OPENTACO_USERNAME=user, OPENTACO_PASSWORD=password_of(user))
    env.update(extra)
    return env


def taco(
    server: Server,
    config: Path,
    user: str | None,
    *args: str,
    stdin: str | None = None,
    **extra: str,
) -> subprocess.CompletedProcess[str]:
    """Run the real `taco` as `user` (Basic credentials from the environment, when given)."""
    return subprocess.run(
        [TACO, *args],
        env=env_for(server, config, user, **extra),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def at_once(*calls: Callable[[], T]) -> list[T]:
    """Run independent commands concurrently (keeps this file fast); results in order."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(call) for call in calls]
        return [future.result() for future in futures]


def taco_many(
    server: Server, config: Path, user: str | None, *commands: tuple[str, ...]
) -> list[str]:
    """The outputs of successful independent commands run at once."""
    results = at_once(*(functools.partial(taco, server, config, user, *c) for c in commands))
    return [ok(result) for result in results]


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def error(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """The server's JSON error that a failed command printed on stderr."""
    assert result.returncode != 0, result.stdout
    body: dict[str, str] = json.loads(result.stderr)
    assert set(body) >= {"error", "message"}
    return body


def credentials_file(config: Path) -> Path:
    return config / "teamgate" / "taco" / "credentials.json"


# -- help, login, whoami, logout -------------------------------------------------------


HELP_PROBE = """
import json, sys
from click.testing import CliRunner
from teamgate.cli.taco import cli
usage = {}
for argv in json.loads(sys.argv[1]):
    result = CliRunner().invoke(cli, argv, prog_name="taco")
    usage[" ".join(argv)] = result.output
usage["httpx imported"] = any(m.split(".")[0] == "httpx" for m in sys.modules)
print(json.dumps(usage))
"""


def test_help_and_aliases_without_importing_httpx() -> None:
    aliases = {
        "unit list": "unit ls",
        "unit show": "unit info",
        "unit describe": "unit info",
        "unit delete": "unit rm",
        "unit remove": "unit rm",
        "rbac role assign-policy": "rbac role assign-permission",
        "rbac user revoke": "rbac user unassign",
    }
    argvs = [["--help"], ["rbac", "role", "--help"]] + [[*a.split(), "--help"] for a in aliases]
    result = subprocess.run(
        [sys.executable, "-c", HELP_PROBE, json.dumps(argvs)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    usage = json.loads(result.stdout)
    assert usage.pop("httpx imported") is False
    assert "assign-permission (assign-policy)" in usage["rbac role --help"]
    assert all(f"  {name} " in usage["--help"] for name in ("login", "logout", "rbac", "unit"))
    assert "OPENTACO_SERVER" in usage["--help"]
    for name, target in aliases.items():
        assert usage[f"{name} --help"].startswith(f"Usage: taco {target} ")


def test_login_saves_a_private_token_and_logout_revokes_it(server: Server, config: Path) -> None:
    login = taco(
        server, config, None, "login", "--username", "bob", OPENTACO_PASSWORD="bob_password"
    )
    out = ok(login)
    assert out.startswith(f"Logged in to {server.base_url} as bob (token expires ")
    path = credentials_file(config)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    token = json.loads(path.read_text())["servers"][server.base_url]["token"]
    assert token.startswith("tg_")

    # the saved token is what identifies us now (no password in the environment)
    me = json.loads(ok(taco(server, config, None, "whoami", "-o", "json")))
    assert (me["user"], me["system_admin"], me["auth"]) == ("bob", False, "token")
    assert "User: bob\nAuthenticated with: token\n" in ok(taco(server, config, None, "whoami"))
    # OPENTACO_TOKEN overrides the saved token
    carols = httpx.post(
        f"{server.base_url}/v1/auth/token", auth=("carol", password_of("carol")), json={}
    ).json()["token"]
    as_carol = taco(server, config, None, "-o", "json", "whoami", OPENTACO_TOKEN=carols)
    assert json.loads(ok(as_carol))["user"] == "carol"

    assert ok(taco(server, config, None, "logout")) == f"Logged out of {server.base_url}\n"
    assert json.loads(path.read_text())["servers"] == {}
    # revoked on the server, not only forgotten here
    refused = taco(server, config, None, "whoami", OPENTACO_TOKEN=token)
    assert error(refused)["error"] == "Unauthorized"
    assert "anonymous" in ok(taco(server, config, None, "whoami"))
    assert ok(taco(server, config, None, "logout")) == f"Not logged in to {server.base_url}\n"


def test_login_with_a_wrong_password_saves_nothing(server: Server, config: Path) -> None:
    refused = taco(server, config, None, "login", "-u", "bob", OPENTACO_PASSWORD="wrong")
    assert error(refused)["error"] == "Unauthorized"
    assert "wrong" not in refused.stderr
    assert not credentials_file(config).exists()


def test_logout_forgets_a_token_the_server_already_revoked(server: Server, config: Path) -> None:
    ok(taco(server, config, "dave", "login"))
    token = json.loads(credentials_file(config).read_text())["servers"][server.base_url]["token"]
    revoked = httpx.delete(
        f"{server.base_url}/v1/auth/token", headers={"Authorization": f"Bearer {token}"}
    )
    assert revoked.status_code == 200
    assert ok(taco(server, config, None, "logout")).startswith("Logged out of")
    assert json.loads(credentials_file(config).read_text())["servers"] == {}


def test_login_prompts_for_missing_user_and_password(server: Server, config: Path) -> None:
    child = pexpect.spawn(
        TACO, ["login"], env=env_for(server, config, USER="nobody"), encoding="utf-8", timeout=30
    )
    child.expect("Username")
    child.sendline("carol")
    child.expect("Password")
    child.sendline(password_of("carol"))
    child.expect(f"Logged in to {server.base_url} as carol")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert password_of("carol") not in (child.before or "")


# -- RBAC: the seed page ---------------------------------------------------------------


def rbac_tests(server: Server, config: Path, *cases: tuple[str, ...]) -> list[dict[str, str]]:
    """`taco rbac test <case…>` as alice for each case; the `Key: value` lines as dicts."""
    outputs = taco_many(server, config, "alice", *(("rbac", "test", *case) for case in cases))
    return [dict(line.split(": ", 1) for line in out.splitlines()) for out in outputs]


def rbac_test(server: Server, config: Path, *case: str) -> dict[str, str]:
    return rbac_tests(server, config, case)[0]


def test_rbac_page_flow(rbac_server: Server, config: Path) -> None:
    server = rbac_server

    def alice(*args: str) -> str:
        return ok(taco(server, config, "alice", *args))

    assert alice("rbac", "init").splitlines() == [
        "RBAC system initialized successfully!",
        "Admin role assigned to: alice",
        "Default permissions and roles created.",
    ]

    permissions = (
        ("dev-access", "Developer Access", "allow:unit.read,unit.write,unit.lock:dev/*"),
        ("myapp-read", "MyApp Read", "allow:unit.read:myapp/*"),
        ("no-delete", "No Delete", "deny:unit.delete:*"),
    )
    created = taco_many(
        server,
        config,
        "alice",
        *(
            ("rbac", "permission", "create", pid, name, f"{name} for tests", "--rule", rule)
            for pid, name, rule in permissions
        ),
    )
    assert created == [f"Permission '{pid}' created successfully\n" for pid, _, _ in permissions]
    out = alice("rbac", "role", "create", "developer", "Developer", "Developer role")
    assert out == "Role developer created successfully: Developer\n"
    assert alice("rbac", "role", "assign-permission", "developer", "dev-access") == (
        "Permission 'dev-access' assigned to role 'developer' successfully\n"
    )
    assert alice("rbac", "role", "assign-policy", "developer", "myapp-read") == (
        "Permission 'myapp-read' assigned to role 'developer' successfully\n"
    )
    alice("rbac", "role", "assign-permission", "developer", "no-delete")
    assert alice("rbac", "user", "assign", "bob", "developer") == "Role developer assigned to bob\n"

    allowed, myapp, denied, deny, manage = rbac_tests(
        server,
        config,
        ("bob", "pull", "dev/app"),
        ("bob", "read", "myapp/prod"),
        ("bob", "write", "prod/app"),
        ("bob", "rm", "dev/app"),
        ("bob", "manage"),
    )
    assert allowed == {
        "Testing operation for user": "bob",
        "Operation": "pull dev/app",
        "Result": "allowed",
        "Reason": "rule allow:unit.read,unit.write,unit.lock:dev/* "
        "of permission 'dev-access' via role 'developer'",
        "User roles": "developer",
        "Applicable permissions": "dev-access",  # myapp-read's rule is not for dev/app
    }
    assert myapp["Reason"].endswith("of permission 'myapp-read' via role 'developer'")
    assert (denied["Result"], denied["Reason"]) == ("denied", "no matching grant")
    assert denied["Applicable permissions"] == "none"
    assert deny["Result"] == "denied"
    assert deny["Reason"].startswith("explicit deny by rule deny:unit.delete:* of permission")
    assert deny["Applicable permissions"] == "no-delete"
    assert (manage["Operation"], manage["Result"]) == ("manage", "denied")

    users, roles = taco_many(
        server, config, "alice", ("rbac", "user", "list"), ("rbac", "role", "list")
    )
    assert "│ SUBJECT │ EMAIL │ ROLES" in users
    assert "│ bob     │ bob   │ developer │" in users
    assert users.endswith("\nTotal: 2 user assignments\n")
    assert "│ ID        │ NAME          │ DESCRIPTION" in roles
    assert "│ PERMISSIONS" in roles and "│ CREATED" in roles
    developer_row = next(line for line in roles.splitlines() if "│ developer" in line)
    assert "dev-access, myapp-read, no-delete" in developer_row
    assert roles.endswith("\nTotal: 3 roles\n")

    # units ls shows only what the caller may read (after rbac init, creating needs unit.write)
    taco_many(
        server,
        config,
        "alice",
        *(("unit", "create", p) for p in ("dev/app", "prod/app", "myapp/prod")),
    )

    def bob(*args: str) -> Callable[[], subprocess.CompletedProcess[str]]:
        return functools.partial(taco, server, config, "bob", *args)

    me, listed, table, removed = at_once(
        bob("rbac", "me", "-o", "json"),  # of oneself: needs no rbac.manage
        bob("unit", "ls", "-o", "json"),
        bob("unit", "ls"),
        bob("unit", "rm", "dev/app", "-y"),
    )
    assert json.loads(ok(me))["roles"] == ["developer"]
    assert [u["path"] for u in json.loads(ok(listed))] == ["dev/app", "myapp/prod"]
    assert "prod/app" not in ok(table)
    assert error(removed)["error"] == "Forbidden"

    out = alice("rbac", "role", "revoke-permission", "developer", "myapp-read")
    assert out == "Permission 'myapp-read' revoked from role 'developer' successfully\n"
    assert rbac_test(server, config, "bob", "read", "myapp/prod")["Result"] == "denied"
    assert alice("rbac", "user", "unassign", "bob", "developer") == (
        "Role developer revoked from bob\n"
    )
    alice("rbac", "user", "assign", "bob", "developer")
    assert (
        alice("rbac", "user", "revoke", "bob", "developer") == "Role developer revoked from bob\n"
    )
    gone = rbac_test(server, config, "bob", "pull", "dev/app")
    assert (gone["Result"], gone["User roles"]) == (
        "denied",
        "none (user not found: no roles assigned)",
    )

    assert alice("rbac", "permission", "delete", "myapp-read") == (
        "Permission 'myapp-read' deleted successfully\n"
    )
    assert alice("rbac", "role", "delete", "developer") == "Role developer deleted successfully\n"

    # every list takes -o json, before or after the subcommand
    as_json, table, before, after, users_json = taco_many(
        server,
        config,
        "alice",
        ("rbac", "permission", "list", "-o", "json"),
        ("rbac", "permission", "list"),
        ("-o", "json", "rbac", "role", "list"),
        ("rbac", "role", "list", "--output", "json"),
        ("rbac", "user", "list", "-o", "json"),
    )
    remaining = [p["id"] for p in json.loads(as_json)]
    assert remaining == ["admin", "default", "dev-access", "no-delete"]
    assert "│ ID         │ NAME" in table and "│ RULES" in table
    assert "allow:unit.read,unit.write,unit.lock:dev/*" in table
    assert table.endswith("\nTotal: 4 permissions\n")
    assert json.loads(before) == json.loads(after)
    assert [r["id"] for r in json.loads(after)] == ["admin", "default"]
    assert {u["email"] for u in json.loads(users_json)} == {"alice"}

    refused = taco(server, config, "bob", "rbac", "permission", "list")
    assert error(refused)["error"] == "Forbidden"


@pytest.mark.parametrize(
    ("rule", "quoted"),
    [
        ("allow:unit.fly:*", "unknown action 'unit.fly'"),
        ("permit:unit.read:*", "permit"),
        ("allow:unit.read", "expected 'effect:actions:resources'"),
    ],
)
def test_a_bad_rule_is_a_clear_error(server: Server, config: Path, rule: str, quoted: str) -> None:
    result = taco(
        server, config, "alice", "rbac", "permission", "create", "bad", "Bad", "--rule", rule
    )
    body = error(result)
    assert body["error"] == "BadRequest"
    assert rule in body["message"] and quoted in body["message"]
    assert result.stdout == ""


def test_usage_errors_exit_2(server: Server, config: Path) -> None:
    unknown = taco(server, config, "alice", "rbac", "test", "bob", "fly", "dev/app")
    assert unknown.returncode == 2
    assert "unknown operation 'fly'" in unknown.stderr
    missing = taco(server, config, "alice", "rbac", "test", "bob", "pull")
    assert missing.returncode == 2
    assert "needs a unit path" in missing.stderr
    no_rule = taco(server, config, "alice", "rbac", "permission", "create", "p", "P")
    assert no_rule.returncode == 2
    assert "--rule" in no_rule.stderr


# -- units -----------------------------------------------------------------------------


def test_unit_lifecycle(server: Server, config: Path, tmp_path: Path) -> None:
    def carol(*args: str, stdin: str | None = None) -> str:
        return ok(taco(server, config, "carol", *args, stdin=stdin))

    def run(user: str, *args: str) -> Callable[[], subprocess.CompletedProcess[str]]:
        return functools.partial(taco, server, config, user, *args)

    created = taco_many(
        server, config, "carol", ("unit", "create", "life/app"), ("unit", "create", "lifeops/x")
    )
    assert created[0] == "Unit created: life/app\n"
    empty = tmp_path / "empty.tfstate"
    again, listed, as_json, info, pulled_empty = at_once(
        run("carol", "unit", "create", "life/app"),
        run("carol", "unit", "ls", "life"),  # whole segments: not lifeops/x
        run("carol", "unit", "list", "life", "-o", "json"),
        run("carol", "unit", "info", "life/app", "-o", "json"),
        run("carol", "unit", "pull", "life/app", str(empty)),
    )
    assert error(again)["error"] == "Conflict"
    assert "│ ID       │ SIZE │ UPDATED" in ok(listed) and "│ LOCKED │" in listed.stdout
    assert "lifeops" not in listed.stdout and listed.stdout.endswith("\nTotal: 1 unit\n")
    assert [u["path"] for u in json.loads(ok(as_json))] == ["life/app"]
    found = json.loads(ok(info))
    assert (found["owner"], found["size"], found["locked"]) == ("carol", 0, False)
    assert ok(pulled_empty) == f"Unit downloaded to: {empty} (0 bytes)\n"
    assert empty.read_bytes() == b""

    # a large state, streamed both ways
    state = {"version": 4, "serial": 1, "resources": [{"name": f"r{i}"} for i in range(30_000)]}
    first = tmp_path / "first.tfstate"
    first.write_text(json.dumps(state))
    assert carol("unit", "push", "life/app", str(first)) == "Unit uploaded: life/app\n"
    pulled = tmp_path / "pulled.tfstate"
    assert carol("unit", "pull", "life/app", str(pulled)) == (
        f"Unit downloaded to: {pulled} ({first.stat().st_size} bytes)\n"
    )
    assert pulled.read_bytes() == first.read_bytes()

    second = json.dumps({"version": 4, "serial": 2})
    assert carol("unit", "push", "life/app", "-", stdin=second) == "Unit uploaded: life/app\n"
    stdout, versions_json, table, refused = at_once(
        run("carol", "unit", "pull", "life/app"),
        run("carol", "unit", "versions", "life/app", "-o", "json"),
        run("carol", "unit", "versions", "life/app"),
        run("dave", "unit", "pull", "life/app"),
    )
    assert ok(stdout) == second
    versions = json.loads(ok(versions_json))
    assert len(versions) == 1
    assert versions[0]["sha256"] == hashlib.sha256(first.read_bytes()).hexdigest()
    assert (versions[0]["written_by"], versions[0]["token_id"]) == ("carol", None)  # a password
    assert "│ VERSION │ CREATED" in ok(table) and table.stdout.endswith("\nTotal: 1 version\n")
    assert "│ WRITTEN BY │ TOKEN │ SIZE" in table.stdout
    assert "│ carol      │ -     │" in table.stdout
    assert error(refused)["error"] == "Forbidden"
    assert refused.stdout == ""

    number = str(versions[0]["version"])
    assert carol("unit", "restore", "life/app", number).startswith(
        f"Unit life/app restored to version {number} (hash: "
    )
    assert carol("unit", "pull", "life/app") == first.read_text()

    assert taco_many(
        server, config, "carol", ("unit", "delete", "life/app", "-y"), ("unit", "rm", "lifeops/x")
    ) == ["Unit deleted: life/app\n", "Unit deleted: lifeops/x\n"]
    gone, missing = at_once(
        run("carol", "unit", "ls", "life"), run("carol", "unit", "info", "life/app")
    )
    assert ok(gone) == "No units found\n"
    assert error(missing)["error"] == "NotFound"


def test_unit_lock_is_saved_and_reused(server: Server, config: Path, tmp_path: Path) -> None:
    other = tmp_path / "other-machine"

    def carol(
        *args: str, where: Path = config, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return taco(server, where, "carol", *args, stdin=stdin)

    ok(carol("unit", "create", "locks/app"))
    ok(carol("unit", "push", "locks/app", "-", stdin='{"serial": 1}'))
    out = ok(carol("unit", "lock", "locks/app"))
    assert out.startswith("Unit locked: locks/app (lock ID: ")
    lock_id = out.rsplit("lock ID: ", 1)[1].rstrip(")\n")
    digest = hashlib.sha256(server.base_url.encode()).hexdigest()[:16]
    saved = config / "teamgate" / "taco" / "locks" / digest / "locks__app.lock"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert json.loads(saved.read_text())["lock_id"] == lock_id

    # elsewhere (no saved lock ID) the lock holds
    listed, info, lock, push, restore, unlock = at_once(
        lambda: carol("unit", "ls", "locks"),
        lambda: carol("unit", "info", "locks/app"),
        lambda: carol("unit", "lock", "locks/app", where=other),
        lambda: carol("unit", "push", "locks/app", "-", where=other, stdin="{}"),
        lambda: carol("unit", "restore", "locks/app", "1", where=other),
        lambda: carol("unit", "unlock", "locks/app", where=other),
    )
    assert "│ yes (carol) │" in ok(listed)  # locked, and by whom
    # the teamgate user holding the lock, right after what its client said
    rows = [line.split("│")[1:3] for line in ok(info).splitlines() if line.startswith("│")]
    named = [(field.strip(), value.strip()) for field, value in rows]
    who = named.index(("lock.Who", f"taco@{socket.gethostname()}"))
    assert named[who + 1] == ("locked_by", "carol")
    assert [field for field, _ in named].count("locked_by") == 1
    assert ("written_by", "carol") in named and ("token_id", "-") in named
    assert error(lock)["error"] == error(push)["error"] == error(restore)["error"] == "Locked"
    assert error(lock)["locked_by"] == "carol" and "user 'carol'" in error(push)["message"]
    assert unlock.returncode == 1 and "none saved for locks/app" in unlock.stderr

    # here push, restore and unlock use the saved lock ID
    assert ok(carol("unit", "push", "locks/app", "-", stdin='{"serial": 2}')) == (
        "Unit uploaded: locks/app\n"
    )
    assert ok(carol("unit", "restore", "locks/app", "1")).startswith(
        "Unit locks/app restored to version 1"
    )
    assert ok(carol("unit", "unlock", "locks/app")) == "Unit unlocked: locks/app\n"
    assert not saved.exists()

    # --force removes someone else's lock; an explicit lock ID works too
    ok(carol("unit", "lock", "locks/app"))
    assert ok(carol("unit", "unlock", "locks/app", "--force", where=other)) == (
        "Unit unlocked: locks/app (removed the lock of carol)\n"
    )
    held = json.loads(ok(carol("-o", "json", "unit", "lock", "locks/app", where=other)))
    held_id = held.get("id") or held.get("ID")
    assert ok(carol("unit", "unlock", "locks/app", held_id)) == "Unit unlocked: locks/app\n"


def test_unit_share_with_a_group(server: Server, config: Path) -> None:
    with httpx.Client(
        base_url=server.torc_url, auth=("alice", password_of("alice")), timeout=30
    ) as alice:
        group = alice.post("/access_groups", json={"name": "platform"}).json()
        member = {"user_name": "dave", "group_id": group["id"], "role": "member"}
        assert alice.post(f"/access_groups/{group['id']}/members", json=member).is_success

    ok(taco(server, config, "carol", "unit", "create", "shared/app"))
    assert error(taco(server, config, "dave", "unit", "info", "shared/app"))["error"] == "Forbidden"
    assert ok(taco(server, config, "carol", "unit", "share", "shared/app", "platform")) == (
        "Unit 'shared/app' shared with group 'platform' (write)\n"
    )
    info = json.loads(ok(taco(server, config, "dave", "unit", "info", "shared/app", "-o", "json")))
    assert info["groups"] == ["platform"]
    assert info["shares"] == [{"group": "platform", "access": "write"}]
    # the level can be lowered: dave may still read it, no longer lock it
    lowered = taco(
        server, config, "carol", "unit", "share", "shared/app", "platform", "--access", "read"
    )
    assert ok(lowered) == "Unit 'shared/app': group 'platform' now has read access (was write)\n"
    assert "platform (read)" in ok(taco(server, config, "dave", "unit", "info", "shared/app"))
    refused = error(taco(server, config, "dave", "unit", "lock", "shared/app"))
    assert refused["error"] == "Forbidden" and "needs level write" in refused["message"]
    assert "shared/app" in ok(taco(server, config, "dave", "unit", "ls", "shared"))
    assert ok(taco(server, config, "carol", "unit", "unshare", "shared/app", "platform")) == (
        "Unit shared/app no longer shared with group 'platform'\n"
    )
    assert error(taco(server, config, "dave", "unit", "info", "shared/app"))["error"] == "Forbidden"
    unknown = taco(server, config, "carol", "unit", "share", "shared/app", "nope")
    assert error(unknown)["error"] == "NotFound"
