"""The Torc tutorial "Team-Based Access Control with Access Groups", steps 1–9, as a user runs it.

Paths the tutorial puts under /etc, /var/lib and /tmp live under a temporary directory;
the server binds a free port instead of 8080. Everything else is the tutorial's own commands.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pexpect
import pytest

from tests.conftest import BIN, Server, cli_env, database_for, password_of, start_server

ML_SPEC = """\
name: ml_training_workflow
description: Train a machine learning model
jobs:
  - name: train_model
    command: echo "Training model..."
    resource_requirements: small
resource_requirements:
  - name: small
    num_cpus: 1
    memory: 1g
    runtime: PT10M
"""
DATA_SPEC = """\
name: data_pipeline
description: Process incoming data
jobs:
  - name: process_data
    command: echo "Processing data..."
    resource_requirements: small
resource_requirements:
  - name: small
    num_cpus: 1
    memory: 1g
    runtime: PT10M
"""

GROUPS_TABLE = [
    "│ ID │ Name      │ Description           │",
    "│ 1  │ ml-team   │ Machine Learning Team │",
    "│ 2  │ data-team │ Data Processing Team  │",
]


def sh(
    script: str, env: dict[str, str], *, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", script], env=env, input=stdin, capture_output=True, text=True, timeout=120
    )


def htpasswd_interactive(args: list[str], password: str) -> None:
    """Answer torc-htpasswd's two no-echo prompts through a pseudo-terminal."""
    child = pexpect.spawn(str(BIN / "torc-htpasswd"), args, encoding="utf-8", timeout=60)
    child.expect("New password: ")
    child.sendline(password)
    child.expect("Re-type new password: ")
    child.sendline(password)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert password not in (child.before or "")  # nothing echoed


def step1_htpasswd(etc: Path) -> Path:
    etc.mkdir(parents=True, exist_ok=True)
    auth_file = etc / "htpasswd"
    htpasswd_interactive(["-c", str(auth_file), "alice"], password_of("alice"))
    for user in ("bob", "carol", "dave"):
        htpasswd_interactive([str(auth_file), user], password_of(user))
    lines = auth_file.read_text().splitlines()
    assert [line.split(":")[0] for line in lines] == ["alice", "bob", "carol", "dave"]
    assert all(re.fullmatch(r"[a-z]+:\$2b\$12\$[./A-Za-z0-9]{53}", line) for line in lines)
    assert auth_file.stat().st_mode & 0o777 == 0o600
    return auth_file


def start_tutorial_server(tmp_path: Path, auth_file: Path, how: str) -> Server:
    db = tmp_path / "var" / "lib" / "torc" / "torc.db"
    if how == "flags":
        return start_server(
            tmp_path / "server",
            "--database",
            str(db),
            "--auth-file",
            str(auth_file),
            "--require-auth",
            "--enforce-access-control",
            "--admin-user",
            "alice",
        )
    config = tmp_path / "config.toml"
    config.write_text(
        "[server]\n"
        f'database = "{database_for(db)}"\n'
        f'auth_file = "{auth_file}"\n'
        "require_auth = true\n"
        "enforce_access_control = true\n"
        'admin_users = ["alice"]\n'
    )
    return start_server(tmp_path / "server", "--config", str(config))


@pytest.mark.parametrize("how", ["flags", "config"])
def test_tutorial_steps_1_to_9(tmp_path: Path, how: str) -> None:
    auth_file = step1_htpasswd(tmp_path / "etc" / "torc")
    server = start_tutorial_server(tmp_path, auth_file, how)
    try:
        run_tutorial(tmp_path, server)
    finally:
        server.stop()


def run_tutorial(tmp: Path, server: Server) -> None:
    # Step 2: the startup log.
    log = server.log()
    for expected in (
        "INFO Starting torc-server version=",
        "INFO Loaded 4 users from htpasswd file",
        "INFO Authentication is REQUIRED for all requests",
        "INFO Access control is ENABLED - users can only access their own workflows and "
        "workflows shared via access groups",
        'INFO Admin users configured: ["alice"]',
        f"INFO Listening on 127.0.0.1:{server.port}",
    ):
        assert expected in log, log

    alice = cli_env(server, "alice")
    alice.pop("TORC_PASSWORD")

    # Step 3: read the password without echo, then ping.
    ping = sh(
        "read -s TORC_PASSWORD && export TORC_PASSWORD\ntorc ping", alice, stdin="alice_password\n"
    )
    assert ping.returncode == 0, ping.stderr
    assert json.loads(ping.stdout) == {"status": "ok"}
    alice["TORC_PASSWORD"] = password_of("alice")

    # Step 4: groups.
    out = sh('torc access-groups create "ml-team" --description "Machine Learning Team"', alice)
    assert out.returncode == 0, out.stderr
    assert _lines(out.stdout) == [
        "Successfully created access group:",
        "ID: 1",
        "Name: ml-team",
        "Description: Machine Learning Team",
    ]
    out = sh('torc access-groups create "data-team" --description "Data Processing Team"', alice)
    assert _lines(out.stdout)[1:3] == ["ID: 2", "Name: data-team"]
    table = sh("torc access-groups list", alice).stdout.splitlines()
    assert table[0].startswith("╭") and table[2].startswith("├") and table[-1].startswith("╰")
    assert [table[1], table[3], table[4]] == GROUPS_TABLE

    # Step 5: members.
    for group, user in ((1, "alice"), (1, "bob"), (2, "carol"), (2, "dave")):
        out = sh(f"torc access-groups add-user {group} {user}", alice)
        assert out.returncode == 0, out.stderr
    members = sh("torc access-groups list-members 1", alice).stdout.splitlines()
    assert members[1] == "│ User Name │ Role   │"
    assert members[3:5] == ["│ alice     │ member │", "│ bob       │ member │"]
    mine = sh("torc access-groups list-user-groups alice", alice).stdout.splitlines()
    assert mine[1] == "│ ID │ Name    │ Description           │"
    assert mine[3] == "│ 1  │ ml-team │ Machine Learning Team │"
    assert len(mine) == 5

    # Step 6: workflows as alice, then carol.
    (tmp / "ml_training.yaml").write_text(ML_SPEC)
    (tmp / "data_pipeline.yaml").write_text(DATA_SPEC)
    out = sh(
        f"WORKFLOW_ID=$(torc workflows create {tmp}/ml_training.yaml -f json | jq -r '.id')\n"
        'echo "Alice created workflow: $WORKFLOW_ID"',
        alice,
    )
    assert out.stdout.strip() == "Alice created workflow: 1", out.stderr
    carol = cli_env(server, "carol")
    out = sh(f"torc workflows create {tmp}/data_pipeline.yaml", carol)
    assert out.returncode == 0 and "2" in out.stdout, out.stderr

    # Step 7: carol is refused alice's workflow and lists only her own.
    out = sh("torc workflows get 1", carol)
    assert out.returncode != 0
    assert json.loads(out.stderr) == {
        "error": "Forbidden",
        "message": "User 'carol' does not have access to workflow 1",
    }
    listing = sh("torc workflows list", carol).stdout.splitlines()
    assert listing[1] == "│ ID │ Name          │ Description           │ User  │"
    assert listing[3] == "│ 2  │ data_pipeline │ Process incoming data │ carol │"
    assert len(listing) == 5

    # Step 8: alice shares workflow 1 with the data team; carol can read it.
    out = sh('torc access-groups add-workflow 1 2\necho "Shared workflow 1 with data-team"', alice)
    assert out.returncode == 0 and "Shared workflow 1 with data-team" in out.stdout, out.stderr
    shared = sh("torc access-groups list-workflow-groups 1", alice).stdout.splitlines()
    assert shared[1] == "│ ID │ Name      │ Access │ Description          │"
    assert shared[3] == "│ 2  │ data-team │ write  │ Data Processing Team │"
    assert len(shared) == 5
    out = sh("torc workflows get 1", carol)
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if line.startswith("│")]
    assert [r.split("│")[1].strip() for r in rows] == ["Field", "ID", "Name", "User", "Description"]
    assert [r.split("│")[2].strip() for r in rows[1:4]] == ["1", "ml_training_workflow", "alice"]

    # Step 9: revoke; carol loses access again.
    out = sh(
        'torc access-groups remove-workflow 1 2\necho "Revoked data-team access to workflow 1"',
        alice,
    )
    assert out.returncode == 0, out.stderr
    out = sh("torc workflows get 1", carol)
    assert out.returncode != 0 and "does not have access to workflow 1" in out.stderr


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]
