"""Bad input through the real `torc` CLI against a real server.

Every mistake gives a clear message on stderr (no traceback) and a non-zero exit, and creates
nothing. Spec-file mistakes name the file, the field and the line the field is on.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import BIN, Server, cli_env, password_of, start_server, torc, write_htpasswd

SPEC = """\
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
PIPELINE = """\
name: pipeline
jobs:
  - name: fetch
    command: echo fetch
  - name: clean
    command: echo clean
    depends_on: [fetch]
  - name: train
    command: echo train
    depends_on: [clean]
"""
JSON_SPEC = """\
{
  "name": "json_workflow",
  "jobs": [
    {
      "name": "train_model",
      "command": "echo train",
      "resource_requirements": "small"
    }
  ],
  "resource_requirements": [
    {
      "name": "small",
      "num_cpus": 1,
      "memory": "1g"
    }
  ]
}
"""


@dataclass
class Env:
    server: Server
    api: httpx.Client  # alice, a system administrator
    group_id: int  # "cli-team"
    workflow_id: int  # alice's "alice-private"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("cli-errors")
    auth_file = write_htpasswd(root / "htpasswd")
    server = start_server(
        root / "server",
        "--database", str(root / "torc.db"),
        "--auth-file", str(auth_file),
        "--require-auth",
        "--enforce-access-control",
        "--admin-user", "alice",
    )  # fmt: skip
    api = httpx.Client(base_url=server.torc_url, auth=("alice", password_of("alice")), timeout=60)
    try:
        group = api.post("/access_groups", json={"name": "cli-team"}).json()
        workflow = api.post("/workflows", json={"name": "alice-private"}).json()
        yield Env(server, api, group["id"], workflow["id"])
    finally:
        api.close()
        server.stop()


def names(env: Env, user: str = "alice") -> list[str]:
    auth = (user, password_of(user))
    response = env.api.get("/workflows", auth=auth)
    assert response.status_code == 200, response.text
    return [w["name"] for w in response.json()["items"]]


def assert_clean_failure(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """Non-zero exit, nothing on stdout, a message on stderr with every fragment, no traceback."""
    assert result.returncode != 0, result
    assert result.stdout == "", result.stdout
    assert result.stderr.strip(), "no message on stderr"
    assert "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)
    return result.stderr


def assert_server_error(
    result: subprocess.CompletedProcess[str], kind: str, *fragments: str
) -> None:
    """The CLI printed the server's JSON error on stderr."""
    assert_clean_failure(result, *fragments)
    body = json.loads(result.stderr)
    assert set(body) - {"hint"} == {"error", "message"} and body["error"] == kind, body


# -- spec files ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BadSpec:
    filename: str
    text: str
    marker: str  # the expected line is one that contains this text
    fragments: tuple[str, ...]

    def lines(self) -> set[int]:
        found = {n for n, line in enumerate(self.text.splitlines(), 1) if self.marker in line}
        assert found, f"marker {self.marker!r} not in the spec"
        return found


def bad(
    id: str,
    text: str,
    marker: str,
    *fragments: str,
    filename: str = "spec.yaml",
) -> Any:
    case = BadSpec(filename, text, marker, fragments)
    return pytest.param(case, id=id)


def edit(old: str, new: str, base: str = SPEC) -> str:
    assert old in base
    return base.replace(old, new, 1)


BAD_SPECS = [
    # top level
    bad("unknown-top-field", edit("jobs:", "colour: red\njobs:"), "colour", "colour", "unknown"),
    bad("name-wrong-type", edit("name: ml_training_workflow", "name: [1, 2]"), "name:", "name"),
    bad(
        "description-number",
        edit("description: Train", "description: 5 #"),
        "description",
        "description",
    ),
    bad("jobs-not-a-list", "name: w\njobs: nope\n", "jobs", "jobs", "list"),
    bad("not-a-mapping", "- name: w\n- name: v\n", "- name: w", "mapping"),
    bad("missing-name", "description: x\njobs: []\n", "description", "name", "required"),
    # inside jobs and resource_requirements
    bad(
        "unknown-job-field",
        edit(
            "    resource_requirements: small", "    resource_requirements: small\n    retries: 3"
        ),
        "retries",
        "jobs[0].retries",
        "unknown field",
    ),
    bad(
        "num_cpus-two",
        edit("num_cpus: 1", 'num_cpus: "two"'),
        "num_cpus",
        "num_cpus",
        "integer",
    ),
    bad("memory-lots", edit("memory: 1g", "memory: lots"), "memory", "memory", "lots"),
    bad(
        "runtime-words",
        edit("runtime: PT10M", "runtime: 10 minutes"),
        "runtime",
        "runtime",
        "10 minutes",
    ),
    bad(
        "unknown-resource-requirements",
        edit("    resource_requirements: small", "    resource_requirements: large"),
        "resource_requirements: large",
        "jobs[0].resource_requirements",
        "large",
    ),
    bad(
        "dependency-cycle",
        edit("command: echo fetch", "command: echo fetch\n    depends_on: [train]", PIPELINE),
        "depends_on",
        "cycle",
    ),
    bad(
        "unknown-dependency",
        edit("depends_on: [clean]", "depends_on: [cleaning]", PIPELINE),
        "[cleaning]",
        "cleaning",
    ),
    # YAML that does not parse
    bad("yaml-indentation", "name: w\ndescription: d\n  bad: indent\n", "bad: indent", "YAML"),
    bad("yaml-tab", "name: w\n\tjobs: []\n", "\tjobs", "YAML"),
    # JSON specs
    bad(
        "json-unknown-field",
        edit('      "memory": "1g"', '      "memory": "1g",\n      "disk": "10g"', JSON_SPEC),
        '"disk"',
        "resource_requirements[0].disk",
        filename="spec.json",
    ),
    bad(
        "json-num_cpus-two",
        edit('"num_cpus": 1', '"num_cpus": "two"', JSON_SPEC),
        "num_cpus",
        "num_cpus",
        filename="spec.json",
    ),
    bad(
        "json-name-number",
        edit('"name": "json_workflow"', '"name": 42', JSON_SPEC),
        '"name": 42',
        "name",
        filename="spec.json",
    ),
    bad(
        "json-syntax",
        edit('"num_cpus": 1', '"num_cpus": 1 2', JSON_SPEC),
        "num_cpus",
        "invalid JSON",
        filename="spec.json",
    ),
]


@pytest.mark.parametrize("case", BAD_SPECS)
def test_bad_spec_file_names_field_and_line(env: Env, tmp_path: Path, case: BadSpec) -> None:
    path = tmp_path / case.filename
    path.write_text(case.text)
    before = names(env)
    result = torc(env.server, "alice", "workflows", "create", str(path))
    stderr = assert_clean_failure(result, case.filename, *case.fragments)
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert any(f"line {n}:" in stderr for n in case.lines()), (sorted(case.lines()), stderr)
    assert names(env) == before


def test_good_specs_are_accepted(env: Env, tmp_path: Path) -> None:
    """The bad specs above are each one edit away from these."""
    for filename, text in (("ok.yaml", PIPELINE), ("ok.json", JSON_SPEC)):
        (tmp_path / filename).write_text(text)
        result = torc(env.server, "alice", "workflows", "create", str(tmp_path / filename))
        assert result.returncode == 0, result.stderr
    assert {"pipeline", "json_workflow"} <= set(names(env))


@pytest.mark.parametrize(
    ("filename", "content", "fragment"),
    [
        ("missing.yaml", None, "cannot read"),
        ("empty.yaml", b"", "mapping"),
        ("binary.yaml", b"\xff\xfe\x00name", "UTF-8"),
        ("folder.yaml", "dir", "directory"),
    ],
)
def test_unreadable_spec_files(
    env: Env, tmp_path: Path, filename: str, content: bytes | str | None, fragment: str
) -> None:
    path = tmp_path / filename
    if content == "dir":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    before = names(env)
    result = torc(env.server, "alice", "workflows", "create", str(path))
    assert_clean_failure(result, filename, fragment)
    assert names(env) == before


@pytest.mark.parametrize(
    "groups", [["no-such-team"], ["cli-team", "no-such-team"]], ids=["unknown", "known+unknown"]
)
def test_unknown_access_group_creates_no_workflow(
    env: Env, tmp_path: Path, groups: list[str]
) -> None:
    name = f"shared_{len(groups)}"
    spec = edit("name: ml_training_workflow", f"name: {name}\naccess_groups: {json.dumps(groups)}")
    (tmp_path / "shared.yaml").write_text(spec)
    result = torc(
        env.server, "alice", "-f", "json", "workflows", "create", str(tmp_path / "shared.yaml")
    )
    assert_clean_failure(result, "no-such-team")
    assert json.loads(result.stderr)["error"] in ("NotFound", "BadRequest")
    assert name not in names(env)
    shares = env.api.get(f"/access_groups/{env.group_id}").json()
    assert shares["name"] == "cli-team"


# -- ids, roles, conflicts, other users' data ------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["workflows", "get", "abc"],
        ["workflows", "get", "1.5"],
        ["workflows", "delete", "-y", "one"],
        ["access-groups", "get", "x"],
        ["access-groups", "delete", "1e3"],
        ["access-groups", "add-user", "abc", "bob"],
        ["access-groups", "remove-user", "abc", "bob"],
        ["access-groups", "list-members", "abc"],
        ["access-groups", "add-workflow", "1", "x"],
        ["access-groups", "remove-workflow", "x", "1"],
        ["access-groups", "list-workflow-groups", "x"],
        ["access", "check", "x", "bob"],
    ],
    ids=lambda args: " ".join(args),
)
def test_non_integer_ids_are_refused_by_the_cli(env: Env, args: list[str]) -> None:
    result = torc(env.server, "alice", *args)
    assert result.returncode == 2
    assert_clean_failure(result, "is not a valid integer")


def test_huge_id_is_a_clean_error(env: Env) -> None:
    result = torc(env.server, "alice", "workflows", "get", str(10**20))
    assert_clean_failure(result)
    assert json.loads(result.stderr)["error"] in ("NotFound", "BadRequest"), result.stderr


@pytest.mark.parametrize("role", ["boss", "Admin", "owner"])
def test_unknown_role_is_refused_by_the_cli(env: Env, role: str) -> None:
    result = torc(
        env.server, "alice", "access-groups", "add-user", str(env.group_id), "dave", "--role", role
    )
    assert result.returncode == 2
    assert_clean_failure(result, f"'{role}' is not one of", "member", "admin")
    members = env.api.get(f"/access_groups/{env.group_id}/members").json()["items"]
    assert "dave" not in [m["user_name"] for m in members]


def test_duplicate_group_name_is_a_conflict(env: Env) -> None:
    result = torc(
        env.server, "alice", "access-groups", "create", "cli-team", "--description", "again"
    )
    assert_server_error(result, "Conflict", "cli-team")
    groups = env.api.get("/access_groups").json()["items"]
    assert [g["name"] for g in groups].count("cli-team") == 1


def test_carol_cannot_read_or_delete_alices_workflow(env: Env) -> None:
    wf = str(env.workflow_id)
    message = f"User 'carol' does not have access to workflow {wf}"
    assert_server_error(torc(env.server, "carol", "workflows", "get", wf), "Forbidden", message)
    deleted = torc(env.server, "carol", "workflows", "delete", "-y", wf)
    assert_server_error(deleted, "Forbidden", message)
    shared = torc(env.server, "carol", "access-groups", "add-workflow", wf, str(env.group_id))
    assert_server_error(shared, "Forbidden")
    still = torc(env.server, "alice", "-f", "json", "workflows", "get", wf)
    assert still.returncode == 0, still.stderr
    assert json.loads(still.stdout)["name"] == "alice-private"


def test_missing_workflow_is_not_found(env: Env) -> None:
    result = torc(env.server, "alice", "workflows", "get", "424242")
    assert_server_error(result, "NotFound", "424242")


# -- credentials and connection --------------------------------------------------------------------


def run_torc(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "torc"), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize(
    ("user", "password", "message"),
    [
        ("alice", "wrong", "Invalid user name or password"),
        ("mallory", "mallory_password", "Invalid user name or password"),
        ("alice", None, "Anonymous access not allowed"),
    ],
    ids=["wrong-password", "unknown-user", "no-password"],
)
def test_bad_credentials_are_unauthorized(
    env: Env, user: str, password: str | None, message: str
) -> None:
    cli = cli_env(env.server, user)
    cli.pop("TORC_PASSWORD")
    if password is not None:
        cli["TORC_PASSWORD"] = password
    result = run_torc(cli, "access-groups", "create", "intruders")
    assert_server_error(result, "Unauthorized", message)
    assert "wrong" not in result.stderr and "mallory_password" not in result.stderr
    assert "intruders" not in [g["name"] for g in env.api.get("/access_groups").json()["items"]]


@pytest.mark.parametrize(
    ("url", "fragment"),
    [("http://127.0.0.1:9/torc-service/v1", "cannot reach"), ("not-a-url", "cannot reach")],
)
def test_unreachable_server_is_a_clean_error(env: Env, url: str, fragment: str) -> None:
    result = run_torc(cli_env(env.server, "alice", TORC_API_URL=url), "ping")
    assert_clean_failure(result, fragment)


def test_unknown_output_format_is_refused(env: Env) -> None:
    result = torc(env.server, "alice", "-f", "xml", "ping")
    assert result.returncode == 2
    assert_clean_failure(result, "'xml' is not one of")
