"""What a new user meets in the first hour with `torc` and `taco`, through the real CLIs.

Tables in table mode, counted nouns, tables that never break a word (and do not wrap at all when
piped), and errors that say what to do: which user the CLI signed in as, which URL to set, that
`taco login` comes first.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pexpect  # type: ignore[import-untyped]  # pexpect ships no type hints
import pytest

from teamgate.cli.output import render_table
from tests.conftest import BIN, Server, password_of, start_server, write_htpasswd


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The tutorial's server: auth required, access control on, alice administers."""
    root = tmp_path_factory.mktemp("first-hour")
    started = start_server(
        root / "server",
        "--database",
        str(root / "torc.db"),
        "--blob-store",
        str(root / "blobs"),
        "--auth-file",
        str(write_htpasswd(root / "htpasswd")),
        "--require-auth",
        "--enforce-access-control",
        "--admin-user",
        "alice",
    )
    yield started
    started.stop()


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment without any TORC_/OPENTACO_ setting or saved taco token."""
    prefixes = ("TORC_", "OPENTACO_", "XDG_", "USER", "COLUMNS")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    env.update(extra)
    return env


def taco_env(
    server: Server, tmp_path: Path, user: str | None = "alice", **extra: str
) -> dict[str, str]:
    env = clean_env(tmp_path, OPENTACO_SERVER=server.base_url)
    if user is not None:
        env.update(OPENTACO_USERNAME=user, OPENTACO_PASSWORD=password_of(user))
    return {**env, **extra}


def torc_env(
    server: Server, tmp_path: Path, user: str | None = "alice", **extra: str
) -> dict[str, str]:
    env = clean_env(tmp_path, TORC_API_URL=server.torc_url)
    if user is not None:
        env.update(USER=user, TORC_PASSWORD=password_of(user))
    return {**env, **extra}


def run(
    prog: str, env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / prog), *args], env=env, input=stdin, capture_output=True, text=True, timeout=60
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


# -- output ----------------------------------------------------------------------------------


def test_unit_info_and_rbac_me_print_tables_and_totals_are_counted(
    server: Server, tmp_path: Path
) -> None:
    env = taco_env(server, tmp_path, COLUMNS="200")
    ok(run("taco", env, "unit", "create", "hour/one"))
    info = ok(run("taco", env, "unit", "info", "hour/one"))
    assert "│ FIELD " in info and "│ owner " in info and "│ alice " in info, info
    assert "│ locked " in info and "│ no " in info, info
    assert not info.lstrip().startswith("{")
    me = ok(run("taco", env, "rbac", "me"))
    assert "│ User " in me and "│ alice " in me and "│ System administrator │ yes" in me, me
    assert ok(run("taco", env, "unit", "ls", "hour")).endswith("\nTotal: 1 unit\n")
    ok(run("taco", env, "unit", "create", "hour/two"))
    assert ok(run("taco", env, "unit", "ls", "hour")).endswith("\nTotal: 2 units\n")


def test_piped_tables_never_wrap(server: Server, tmp_path: Path) -> None:
    """COLUMNS says 30, but stdout is a pipe: every row stays whole on one line."""
    env = taco_env(server, tmp_path, COLUMNS="30")
    ok(run("taco", env, "unit", "create", "piped/a-rather-long-unit.lock-name"))
    table = ok(run("taco", env, "unit", "ls", "piped"))
    rows = [line for line in table.splitlines() if "piped/" in line]
    assert len(rows) == 1 and "piped/a-rather-long-unit.lock-name" in rows[0], table
    assert all(len(line) == len(rows[0]) for line in table.splitlines()[:4]), table


def test_narrow_terminal_wraps_only_between_words(server: Server, tmp_path: Path) -> None:
    """On a 40-column terminal, a cell wraps at spaces and commas; paths and times stay whole."""
    env = taco_env(server, tmp_path)
    unit = "narrow/a-rather-long-unit.lock-name"
    ok(run("taco", env, "unit", "create", unit))
    child = pexpect.spawn(
        str(BIN / "taco"),
        ["unit", "ls", "narrow"],
        env={**env, "TERM": "xterm"},
        encoding="utf-8",
        timeout=60,
        dimensions=(24, 40),
    )
    child.expect(pexpect.EOF)
    child.close()
    screen = str(child.before)
    assert child.exitstatus == 0, screen
    assert unit in screen, screen
    assert re.search(r"│ \d{4}-\d\d-\d\d \d\d:\d\d:\d\d │", screen), screen


@pytest.mark.parametrize(
    ("cell", "width", "lines"),
    [
        (
            "allow:unit.read,unit.write,unit.lock:dev/*",
            20,
            ["allow:unit.read,", "unit.write,", "unit.lock:dev/*"],
        ),
        ("updated 2026-12-07 02:13:04", 12, ["updated", "2026-12-07 02:13:04"]),
        ("unit.lock/a/b", 8, ["unit.lock/a/b"]),
    ],
)
def test_cells_break_at_spaces_and_commas_only(cell: str, width: int, lines: list[str]) -> None:
    table = render_table(("X",), [(cell,)], width=width + 4)
    body = [line.strip("│ ") for line in table.splitlines()[3:-1]]
    assert body == lines, table


# -- signing in and base URLs ----------------------------------------------------------------


def error_of(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """The JSON error a failed command printed on stderr."""
    assert result.returncode == 1 and result.stdout == "", result
    body: dict[str, str] = json.loads(result.stderr)
    return body


@pytest.mark.parametrize(
    ("extra", "message", "hint"),
    [
        # the tutorial's user switch taken literally: $USER is still alice
        (
            {"USER": "alice", "TORC_PASSWORD": "carol_password"},
            "Invalid user name or password",
            "torc signed in as 'alice' (from $USER) and the server refused that name and "
            "password: check TORC_PASSWORD; to sign in as another user, set TORC_USERNAME or "
            "pass --username",
        ),
        (
            {"USER": "alice", "TORC_USERNAME": "carol", "TORC_PASSWORD": "wrong"},
            "Invalid user name or password",
            "torc signed in as 'carol' (from TORC_USERNAME)",
        ),
        (
            {"USER": "alice"},
            "Anonymous access not allowed",
            "torc sent no password for 'alice' (from $USER), so the server saw an anonymous "
            "caller: set TORC_PASSWORD or use --prompt-password",
        ),
    ],
    ids=["user-from-USER", "user-from-TORC_USERNAME", "no-password"],
)
def test_torc_401_names_the_user_it_signed_in_as(
    server: Server, tmp_path: Path, extra: dict[str, str], message: str, hint: str
) -> None:
    env = clean_env(tmp_path, TORC_API_URL=server.torc_url, **extra)
    body = error_of(run("torc", env, "workflows", "list"))
    assert body["message"] == message
    assert body["hint"].startswith(hint), body


@pytest.mark.parametrize("user", [None, ""], ids=["USER-unset", "USER-empty"])
def test_torc_without_a_user_name_says_how_to_set_it(
    server: Server, tmp_path: Path, user: str | None
) -> None:
    env = clean_env(tmp_path, TORC_API_URL=server.torc_url, TORC_PASSWORD="alice_password")
    if user is not None:
        env["USER"] = user
    result = run("torc", env, "ping")
    assert result.returncode == 1 and result.stdout == ""
    assert "Malformed" not in result.stderr
    assert result.stderr.startswith("Error: no user name to sign in with"), result.stderr
    assert "set TORC_USERNAME or pass --username" in result.stderr
    env["TORC_USERNAME"] = "alice"
    assert ok(run("torc", env, "ping")) == '{"status": "ok"}\n'


@pytest.mark.parametrize("path", ["", "/", "/v1"])
def test_torc_url_without_the_api_path_says_what_to_set(
    server: Server, tmp_path: Path, path: str
) -> None:
    env = torc_env(server, tmp_path, TORC_API_URL=server.base_url + path)
    body = error_of(run("torc", env, "ping"))
    assert body["error"] == "NotFound"
    want = f"set TORC_API_URL (or --url) to {server.base_url}/torc-service/v1"
    assert body["hint"].endswith(want), body


@pytest.mark.parametrize("user", ["alice", None], ids=["basic", "anonymous"])
def test_taco_server_with_the_torc_path_says_what_to_set(
    server: Server, tmp_path: Path, user: str | None
) -> None:
    env = taco_env(server, tmp_path, user, OPENTACO_SERVER=server.torc_url)
    body = error_of(run("taco", env, "unit", "ls"))
    want = "OPENTACO_SERVER (or --server) is the server's root URL, without /torc-service/v1"
    assert body["hint"] == f"{want}: set it to {server.base_url}", body


def test_taco_before_login_says_to_log_in(server: Server, tmp_path: Path) -> None:
    body = error_of(run("taco", taco_env(server, tmp_path, None), "whoami"))
    assert body["message"] == "Anonymous access not allowed"
    assert (
        body["hint"] == "taco sent no credentials: run 'taco login' first (or set OPENTACO_TOKEN)"
    )


def test_taco_401_names_the_user_or_the_saved_token(server: Server, tmp_path: Path) -> None:
    wrong = taco_env(server, tmp_path, "carol", OPENTACO_PASSWORD="wrong")
    body = error_of(run("taco", wrong, "whoami"))
    assert body["hint"].startswith("taco signed in as 'carol': to sign in as another user"), body
    logged_in = taco_env(server, tmp_path, None)
    ok(run("taco", logged_in, "login", "-u", "carol", stdin="carol_password\n"))
    ok(run("taco", taco_env(server, tmp_path, "carol"), "token", "revoke", "--user", "carol"))
    body = error_of(run("taco", logged_in, "whoami"))
    assert "the token 'taco login' saved for 'carol'" in body["hint"], body
    assert body["hint"].endswith("run 'taco login' again")


def test_a_saved_token_that_wins_over_another_user_name_says_so(
    server: Server, tmp_path: Path
) -> None:
    logged_in = taco_env(server, tmp_path, None)
    ok(run("taco", logged_in, "login", "-u", "dave", stdin="dave_password\n"))
    as_bob = {**logged_in, "OPENTACO_USERNAME": "bob", "OPENTACO_PASSWORD": "bob_password"}
    result = run("taco", as_bob, "whoami")
    assert result.returncode == 0 and "dave" in result.stdout
    assert result.stderr == (
        "Warning: taco signs in with the token 'taco login' saved for 'dave'; "
        "OPENTACO_USERNAME='bob' is not used (run 'taco logout' to sign in with "
        "OPENTACO_USERNAME and OPENTACO_PASSWORD)\n"
    )
    as_dave = {**as_bob, "OPENTACO_USERNAME": "dave"}
    assert run("taco", as_dave, "whoami").stderr == ""


def test_sharing_a_unit_with_a_group_id_says_names_are_wanted(
    server: Server, tmp_path: Path
) -> None:
    env = taco_env(server, tmp_path)
    ok(run("taco", env, "unit", "create", "hints/app"))
    body = error_of(run("taco", env, "unit", "share", "hints/app", "2"))
    assert body["message"] == "Access group '2' not found"
    assert body["hint"] == (
        "taco takes an access group's name, not its id: 'torc access-groups get 2' shows the "
        "name of group 2"
    )
    body = error_of(run("taco", env, "unit", "share", "hints/app", "no-such-team"))
    assert "hint" not in body


def test_piped_password_is_read_quietly(server: Server, tmp_path: Path) -> None:
    env = clean_env(tmp_path, TORC_API_URL=server.torc_url, USER="alice")
    result = run("torc", env, "--prompt-password", "ping", stdin="alice_password\n")
    assert (result.returncode, result.stdout, result.stderr) == (0, '{"status": "ok"}\n', "")


# -- answers with a catch ----------------------------------------------------------------------


def test_adding_a_user_unknown_to_the_htpasswd_file_warns(server: Server, tmp_path: Path) -> None:
    env = torc_env(server, tmp_path)
    group = json.loads(ok(run("torc", env, "-f", "json", "access-groups", "create", "warned")))
    unknown = run("torc", env, "access-groups", "add-user", str(group["id"]), "zed")
    assert unknown.returncode == 0 and "Successfully added user to group:" in unknown.stdout
    assert unknown.stderr == (
        "Warning: user 'zed' is not in the server's htpasswd file, so they cannot sign in yet; "
        "the membership is kept (add them with torc-htpasswd, or check the spelling)\n"
    )
    known = run("torc", env, "-f", "json", "access-groups", "add-user", str(group["id"]), "bob")
    assert known.stderr == "" and "warning" not in json.loads(ok(known))


SPEC_FOR_BOB = "name: for_bob\nuser: bob\njobs:\n  - name: one\n    command: echo one\n"


def test_a_spec_user_that_is_not_the_caller_warns(server: Server, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC_FOR_BOB)
    carol = run("torc", torc_env(server, tmp_path, "carol"), "workflows", "create", str(spec))
    assert carol.returncode == 0 and carol.stdout.startswith("Created workflow ")
    assert carol.stderr == (
        "Warning: user 'bob' in the spec was ignored: the workflow belongs to 'carol', who "
        "created it (only system administrators may create workflows for other users)\n"
    )
    alice = run("torc", torc_env(server, tmp_path), "-f", "json", "workflows", "create", str(spec))
    created = json.loads(ok(alice))
    assert created["user"] == "bob"
    notice = (
        "the workflow belongs to 'bob', as the spec's user: says, not to you ('alice'): "
        "a system administrator may create workflows for other users"
    )
    assert created["warning"] == notice and alice.stderr == f"Warning: {notice}\n"
    spec.write_text(SPEC_FOR_BOB.replace("user: bob", "user: alice"))
    own = run("torc", torc_env(server, tmp_path), "-f", "json", "workflows", "create", str(spec))
    assert own.stderr == "" and "warning" not in json.loads(ok(own))


def test_access_groups_is_a_list_in_list_and_get(server: Server, tmp_path: Path) -> None:
    env = torc_env(server, tmp_path, "dave")
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: dave_lists\njobs:\n  - name: one\n    command: echo one\n")
    created = json.loads(ok(run("torc", env, "-f", "json", "workflows", "create", str(spec))))
    admin = torc_env(server, tmp_path)
    group = json.loads(ok(run("torc", admin, "-f", "json", "access-groups", "create", "dave-team")))
    ok(run("torc", admin, "access-groups", "add-user", str(group["id"]), "dave"))
    spec.write_text(
        "name: dave_shared\naccess_groups: [dave-team]\njobs:\n  - name: a\n    command: a\n"
    )
    shared = json.loads(ok(run("torc", env, "-f", "json", "workflows", "create", str(spec))))
    listed = {
        w["id"]: w for w in json.loads(ok(run("torc", env, "-f", "json", "workflows", "list")))
    }
    for workflow, groups in ((created, []), (shared, ["dave-team"])):
        got = json.loads(
            ok(run("torc", env, "-f", "json", "workflows", "get", str(workflow["id"])))
        )
        assert listed[workflow["id"]]["access_groups"] == got["access_groups"] == groups


def test_rbac_test_lists_only_permissions_that_match_and_role_delete_advice_fits(
    server_factory,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    rbac_server = server_factory(
        "--database",
        str(tmp_path / "rbac.db"),
        "--auth-file",
        str(write_htpasswd(tmp_path / "htpasswd")),
        "--enforce-access-control",
    )
    alice = taco_env(rbac_server, tmp_path)
    ok(run("taco", alice, "rbac", "init"))
    rule = "allow:unit.read,unit.write:dev/*"
    ok(run("taco", alice, "rbac", "permission", "create", "dev-rw", "Dev", "--rule", rule))
    ok(run("taco", alice, "rbac", "role", "create", "developer", "Developer"))
    ok(run("taco", alice, "rbac", "role", "assign-permission", "developer", "dev-rw"))
    assigned = run("taco", alice, "rbac", "user", "assign", "bob", "developer")
    assert ok(assigned) == "Role developer assigned to bob\n" and assigned.stderr == ""
    unknown = run("taco", alice, "rbac", "user", "assign", "bob@example.com", "developer")
    assert ok(unknown) == "Role developer assigned to bob@example.com\n"
    assert unknown.stderr == (
        "Warning: user 'bob@example.com' is not in the server's htpasswd file: the role reaches "
        "whoever signs in with exactly that name (check the spelling; the assignment is kept)\n"
    )

    def applicable(*args: str) -> str:
        out = ok(run("taco", alice, "rbac", "test", "bob", *args))
        return next(line for line in out.splitlines() if line.startswith("Applicable"))

    assert applicable("read", "dev/app") == "Applicable permissions: dev-rw"
    assert applicable("read", "prod/app") == "Applicable permissions: none"
    assert applicable("ls") == "Applicable permissions: dev-rw"

    refused = run("taco", alice, "rbac", "role", "delete", "admin")
    message = json.loads(refused.stderr)["message"]
    assert refused.returncode == 1 and "assign the admin role" not in message
    assert message.startswith(
        "Removing role 'admin' would leave nobody with rbac.manage: first give rbac.manage "
        "to someone through another role"
    ), message


@pytest.mark.parametrize(("ids", "prompt"), [(["7"], "workflow 7"), (["7", "8"], "workflows 7, 8")])
def test_delete_confirmation_counts_its_noun(
    server: Server, tmp_path: Path, ids: list[str], prompt: str
) -> None:
    child = pexpect.spawn(
        str(BIN / "torc"),
        ["workflows", "delete", *ids],
        env=torc_env(server, tmp_path),
        encoding="utf-8",
        timeout=60,
    )
    child.expect_exact(f"Delete {prompt}? [y/N]: ")
    child.sendline("n")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1 and "Aborted" in str(child.before)
