"""`torc access explain` and `taco rbac test --explain` against a real server (issue 5).

One server for the module, set up as in the tutorial: ml-team (1: alice, bob) and data-team
(2: carol, dave); alice's workflow 1 is shared with ml-team, her workflow 3 with data-team (at
level admin), and carol owns workflow 2. RBAC adds rules on workflows for dave and on units for bob.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import BIN, Server, password_of, start_server, torc, write_htpasswd

SPEC = "name: {name}\ndescription: {name} for explain tests\n"
FORBIDDEN = (
    "User 'carol' may only explain their own access (system administrators may explain anyone's)"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("explain")
    started = start_server(
        root / "server",
        "--database",
        str(root / "torc.db"),
        "--auth-file",
        str(write_htpasswd(root / "htpasswd")),
        "--require-auth",
        "--enforce-access-control",
        "--admin-user",
        "alice",
    )
    try:
        _tutorial(started, root)
        _units(started)
        _rbac(started)
        yield started
    finally:
        started.stop()


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _tutorial(server: Server, root: Path) -> None:
    """Tutorial steps 4-8 through the real `torc`, sharing workflows as the docstring says."""
    ok(torc(server, "alice", "access-groups", "create", "ml-team"))
    ok(torc(server, "alice", "access-groups", "create", "data-team"))
    for group, user in ((1, "alice"), (1, "bob"), (2, "carol"), (2, "dave")):
        ok(torc(server, "alice", "access-groups", "add-user", str(group), user))
    for owner, name in (("alice", "ml_training"), ("carol", "data_pipeline"), ("alice", "report")):
        spec = root / f"{name}.yaml"
        spec.write_text(SPEC.format(name=name))
        ok(torc(server, owner, "workflows", "create", str(spec)))
    ok(torc(server, "alice", "access-groups", "add-workflow", "1", "1"))
    ok(torc(server, "alice", "access-groups", "add-workflow", "3", "2", "--access", "admin"))


def _units(server: Server) -> None:
    """bob creates prod/vault before RBAC is initialised (so he owns it)."""
    with httpx.Client(
        base_url=f"{server.base_url}/v1", auth=("bob", password_of("bob")), timeout=30
    ) as bob:
        bob.post("/units", json={"path": "prod/vault"}).raise_for_status()


def _rbac(server: Server) -> None:
    """dave (role auditor) may read alice's workflows but never delete them; bob (developer)
    may read and write units under dev/ but delete none."""
    permissions = {
        "read-alice": "allow:workflow.read:alice/*",
        "keep-alice": "deny:workflow.delete:alice/*",
        "dev-access": "allow:unit.read,unit.write:dev/*",
        "no-delete": "deny:unit.delete:*",
    }
    roles = {"auditor": ("read-alice", "keep-alice"), "developer": ("dev-access", "no-delete")}
    with httpx.Client(
        base_url=f"{server.base_url}/v1", auth=("alice", password_of("alice")), timeout=30
    ) as alice:
        alice.post("/rbac/init").raise_for_status()
        for pid, rule in permissions.items():
            alice.post("/rbac/permissions", json={"id": pid, "rules": [rule]}).raise_for_status()
        for role, granted in roles.items():
            alice.post("/rbac/roles", json={"id": role}).raise_for_status()
            for pid in granted:
                body = {"permission_id": pid}
                alice.post(f"/rbac/roles/{role}/permissions", json=body).raise_for_status()
        for user, role in (("dave", "auditor"), ("bob", "developer")):
            body = {"email": user, "role_id": role}
            alice.post("/rbac/users/assign", json=body).raise_for_status()


def explain_json(server: Server, asker: str, *args: str) -> dict[str, object]:
    result: dict[str, object] = json.loads(
        ok(torc(server, asker, "access", "explain", *args, "-f", "json"))
    )
    return result


# -- torc access explain ------------------------------------------------------------------


def test_carol_in_the_group_the_workflow_is_shared_with(server: Server) -> None:
    out = ok(torc(server, "carol", "access", "explain", "3", "carol"))
    assert out.splitlines() == [
        "User 'carol' → workflow.read on workflow 3:",
        "  · access control: on",
        "  · caller: carol; action workflow.read on alice/report",
        "  · deny rules: none match",
        "  · owner: owned by alice",
        "  ✓ groups: shared with group(s) 2 (admin); carol belongs to 'data-team' (2, admin)",
        "  · allow rules: none match",
        "Decision: allowed (group 'data-team' (admin))",
    ]


def test_explain_takes_the_workflow_first_like_check(server: Server) -> None:
    """WORKFLOW_ID USER_NAME, as `access check` and the API path; the old order still works
    (with a note on stderr) when only the second argument is a number."""
    new = torc(server, "carol", "access", "explain", "3", "carol")
    old = torc(server, "carol", "access", "explain", "carol", "3")
    assert new.returncode == old.returncode == 0, (new, old)
    assert old.stdout == new.stdout and new.stderr == ""
    assert old.stderr == (
        "Note: 'torc access explain USER_NAME WORKFLOW_ID' is deprecated; the workflow comes "
        "first, as in 'torc access check': torc access explain 3 carol\n"
    )
    neither = torc(server, "carol", "access", "explain", "carol", "dave")
    assert neither.returncode == 2 and "'carol' is not a workflow ID" in neither.stderr


def test_carol_not_in_the_group_the_workflow_is_shared_with(server: Server) -> None:
    out = ok(torc(server, "alice", "access", "explain", "1", "carol"))
    assert "  · groups: shared with group(s) 1 (write); carol belongs to none of them" in out
    assert out.splitlines()[-1] == (
        "Decision: denied (no matching grant): User 'carol' does not have access to workflow 1"
    )


@pytest.mark.parametrize(
    ("user", "workflow", "action", "matched", "reason"),
    [
        # every grant is listed; the first in decide()'s order decides (alice: RBAC admin too)
        ("alice", "1", "read", {"owner", "groups", "allow rules"}, "owner"),
        ("bob", "1", "write", {"groups"}, "group 'ml-team' (write)"),
        ("carol", "2", "delete", {"owner"}, "owner"),
        ("carol", "1", "read", set(), "no matching grant"),
        (
            "dave",
            "1",
            "read",
            {"allow rules"},
            "rule allow:workflow.read:alice/* of permission 'read-alice' via role 'auditor'",
        ),
        # a deny rule beats the group (data-team) that would otherwise allow it
        (
            "dave",
            "3",
            "delete",
            {"deny rules", "groups"},
            "explicit deny by rule deny:workflow.delete:alice/* "
            "of permission 'keep-alice' via role 'auditor'",
        ),
    ],
)
def test_every_check_is_reported(
    server: Server, user: str, workflow: str, action: str, matched: set[str], reason: str
) -> None:
    result = explain_json(server, "alice", workflow, user, "--action", action)
    steps = result["steps"]
    assert isinstance(steps, list)
    checks = ["access control", "caller", "deny rules", "owner", "groups", "allow rules"]
    assert [s["check"] for s in steps] == checks
    assert {s["check"] for s in steps if s["matched"]} == matched
    assert result["reason"] == reason
    assert result["allowed"] is not reason.startswith(("no matching", "explicit deny"))
    assert result["action"] == f"workflow.{action}"
    assert (result["user_name"], result["workflow_id"]) == (user, int(workflow))


def test_deny_rules_name_their_permission_and_role(server: Server) -> None:
    out = ok(torc(server, "dave", "access", "explain", "3", "dave", "--action", "delete"))
    assert (
        "  ✗ deny rules: rule deny:workflow.delete:alice/* "
        "of permission 'keep-alice' via role 'auditor'"
    ) in out
    groups = "  ✓ groups: shared with group(s) 2 (admin); dave belongs to 'data-team' (2, admin)"
    assert groups in out
    assert "Decision: denied (explicit deny by rule" in out


def test_a_user_explains_only_their_own_access(server: Server) -> None:
    refused = torc(server, "carol", "access", "explain", "1", "alice")
    assert refused.returncode == 1 and refused.stdout == ""
    assert json.loads(refused.stderr) == {"error": "Forbidden", "message": FORBIDDEN}
    missing = torc(server, "alice", "access", "explain", "99", "carol")
    assert json.loads(missing.stderr)["error"] == "NotFound"


def test_with_access_control_off_everything_is_allowed(
    server_factory,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    open_server = server_factory("--database", str(tmp_path / "open.db"))
    spec = tmp_path / "w.yaml"
    spec.write_text(SPEC.format(name="w"))
    ok(torc(open_server, "alice", "workflows", "create", str(spec)))
    out = ok(torc(open_server, "carol", "access", "explain", "1", "bob"))
    assert out.splitlines() == [
        "User 'bob' → workflow.read on workflow 1:",
        "  ✓ access control: off: everything allowed",
        "Decision: allowed (access control disabled)",
    ]


# -- taco rbac test ------------------------------------------------------------------------


def taco(server: Server, tmp_path: Path, *args: str, user: str = "alice") -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENTACO_", "XDG_"))}
    env.update(
        OPENTACO_SERVER=server.base_url,
        OPENTACO_USERNAME=user,
        OPENTACO_PASSWORD=password_of(user),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        COLUMNS="200",
    )
    result = subprocess.run(
        [str(BIN / "taco"), *args], env=env, capture_output=True, text=True, timeout=60
    )
    return ok(result)


def test_rbac_test_explains_deny_and_allow_rules(server: Server, tmp_path: Path) -> None:
    denied = taco(server, tmp_path, "rbac", "test", "bob", "rm", "dev/app", "--explain")
    assert denied.splitlines()[-7:] == [
        "Decision path: checked in this order",
        "  · access control: on",
        "  · caller: bob; action unit.delete on dev/app",
        "  ✗ deny rules: rule deny:unit.delete:* of permission 'no-delete' via role 'developer'",
        "  · owner: owned by nobody: not created yet",
        "  · groups: not shared with any group",
        "  · allow rules: none match",
    ]
    allowed = taco(server, tmp_path, "rbac", "test", "bob", "push", "dev/app", "-e")
    assert "Result: allowed" in allowed
    assert (
        "  ✓ allow rules: rule allow:unit.read,unit.write:dev/* "
        "of permission 'dev-access' via role 'developer'"
    ) in allowed
    plain = taco(server, tmp_path, "rbac", "test", "bob", "push", "dev/app")
    assert "Decision path" not in plain and plain.startswith("Testing operation for user: bob")


def test_rbac_test_json_carries_the_steps(server: Server, tmp_path: Path) -> None:
    result = json.loads(taco(server, tmp_path, "-o", "json", "rbac", "test", "bob", "rm", "dev/x"))
    assert result["status"] == "denied"
    deny = next(s for s in result["steps"] if s["check"] == "deny rules")
    assert deny == {
        "check": "deny rules",
        "matched": True,
        "detail": "rule deny:unit.delete:* of permission 'no-delete' via role 'developer'",
    }
    checks = [s["check"] for s in result["steps"]]
    assert checks == ["access control", "caller", "deny rules", "owner", "groups", "allow rules"]


# -- taco rbac test: the facts the server enforces with (issue 10) -------------------------

NOT_FOUND = (
    "user not found: '{}' has no roles assigned; check the user name or e-mail "
    "(taco rbac user list shows who has roles)"
)
DEV_RULE = "rule allow:unit.read,unit.write:dev/* of permission 'dev-access' via role 'developer'"


def test_rbac_test_uses_the_units_real_owner(server: Server, tmp_path: Path) -> None:
    """b12cc17 said `owned by nobody` and `denied` for a unit bob owns and can pull."""
    out = taco(server, tmp_path, "rbac", "test", "bob", "read", "prod/vault", "--explain")
    lines = out.splitlines()
    assert lines[2:4] == ["Result: allowed", "Reason: owner"]
    assert "  ✓ owner: owned by bob" in lines


def test_rbac_test_on_a_unit_you_may_not_read(server: Server, tmp_path: Path) -> None:
    """carol asks about herself on bob's unit: the decision, never its owner or shares."""
    out = taco(server, tmp_path, "rbac", "test", "carol", "pull", "prod/vault", "-e", user="carol")
    assert out.splitlines() == [
        "Testing operation for user: carol",
        "Operation: pull prod/vault",
        "Result: denied",
        f"Reason: {NOT_FOUND.format('carol')}",
        "User roles: none (user not found: no roles assigned)",
        "Applicable permissions: none",
        "Decision path: checked in this order",
        "  · access control: on",
        "  · caller: carol; action unit.read on unit prod/vault",
        "  · deny rules: none match",
        "  · resource: hidden: you may not read unit prod/vault, so its owner and groups are "
        "not shown (a system administrator can explain it in full)",
        "  · allow rules: none match",
    ]
    assert "bob" not in out


@pytest.mark.parametrize(
    ("action", "operation", "unit"),
    [
        ("unit.read", "pull", "dev/app"),
        ("unit.write", "push", "dev/app"),
        ("unit.lock", "lock", "prod/vault"),
        ("unit.delete", "rm", "dev/app"),
        ("rbac.manage", "manage", None),
    ],
)
def test_rbac_test_accepts_the_page_action_names(
    server: Server, tmp_path: Path, action: str, operation: str, unit: str | None
) -> None:
    by_name, by_action = (
        taco(server, tmp_path, "rbac", "test", "bob", op, *([unit] if unit else []), "-e")
        for op in (operation, action)
    )
    assert by_action.splitlines()[1] == f"Operation: {action}{f' {unit}' if unit else ''}"
    assert by_action.splitlines()[2:] == by_name.splitlines()[2:]


@pytest.mark.parametrize(
    ("user", "prefix", "result", "reason"),
    [
        (
            "bob",
            None,
            "allowed",
            f"bob owns units or has some shared with their groups; {DEV_RULE}",
        ),
        ("bob", "dev", "allowed", f"{DEV_RULE} (no unit matches yet)"),
        ("alice", "prod", "allowed", "rule allow:*:* of permission 'admin' via role 'admin'"),
        ("carol", None, "denied", NOT_FOUND.format("carol")),
    ],
)
def test_rbac_test_ls_answers_what_unit_ls_shows(
    server: Server, tmp_path: Path, user: str, prefix: str | None, result: str, reason: str
) -> None:
    """b12cc17 tested the literal resource '*' and said denied to bob, whose unit ls lists
    prod/vault."""
    args = ("rbac", "test", user, "ls", *([prefix] if prefix else []), "--explain")
    lines = taco(server, tmp_path, *args).splitlines()
    assert lines[2:4] == [f"Result: {result}", f"Reason: {reason}"]
    shows = "at least one unit" if user != "carol" and prefix != "dev" else "no unit now"
    assert lines[-1].endswith(
        f"listing: unit ls{f' {prefix}' if prefix else ''} shows {user} {shows}"
    )


def test_rbac_test_reports_a_mistyped_user(server: Server, tmp_path: Path) -> None:
    lines = taco(server, tmp_path, "rbac", "test", "bobb", "pull", "dev/app").splitlines()
    assert lines[2:5] == [
        "Result: denied",
        f"Reason: {NOT_FOUND.format('bobb')}",
        "User roles: none (user not found: no roles assigned)",
    ]


def test_list_workflow_groups_shows_each_share_level(server: Server) -> None:
    table = ok(torc(server, "alice", "access-groups", "list-workflow-groups", "3"))
    header = next(line for line in table.splitlines() if "Name" in line)
    row = next(line for line in table.splitlines() if "data-team" in line)
    assert "Access" in header and "admin" in row
    lowered = ok(
        torc(server, "alice", "access-groups", "add-workflow", "1", "1", "--access", "read")
    )
    assert "now has read access to workflow 1 (was write)" in lowered
    try:
        refused = torc(server, "bob", "workflows", "reset-status", "1")
        assert refused.returncode != 0 and "needs level write" in refused.stderr
    finally:
        ok(torc(server, "alice", "access-groups", "add-workflow", "1", "1", "--access", "write"))
