"""`torc run` and the commands that read a run, as real processes against a real server:
Torc's local quick start, a failing job and its dependents, a rerun after reset, Ctrl-C and
resume, a 1,000-job fan-out/fan-in, and the shared-workflow story."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_cli_imports import HEAVY, among, loaded
from tests.conftest import BIN, Server, cli_env, start_server

HELLO = """\
name: hello_world
description: Torc's local quick start
jobs:
  - name: job1
    command: echo "Hello from job 1"
  - name: job2
    command: echo "Hello from job 2"
    depends_on: [job1]
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the module (without authentication): each test makes its own workflow."""
    root = tmp_path_factory.mktemp("run_server")
    started = start_server(root / "server", "--database", str(root / "torc.db"))
    yield started
    started.stop()


def run_spec(
    server: Server, cwd: Path, spec: str, *, user: str | None = None, timeout: float = 120
) -> tuple[str, subprocess.CompletedProcess[str]]:
    """`torc run SPEC`: the id of the workflow it created, and the finished process."""
    ran = torc(server, cwd, "run", spec, user=user, timeout=timeout)
    first = ran.stdout.splitlines()[0] if ran.stdout else ""
    assert first.startswith("Created workflow "), (ran.stdout, ran.stderr)
    return first.removeprefix("Created workflow "), ran


def torc(
    server: Server, cwd: Path, *args: str, user: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The real `torc` CLI, in `cwd` (where jobs run and output/ goes)."""
    return subprocess.run(
        [str(BIN / "torc"), *args],
        env=cli_env(server, user),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_quick_start_runs_hello_world_and_lists_its_results(server: Server, tmp_path: Path) -> None:
    (tmp_path / "workflow.yaml").write_text(HELLO)
    wf, ran = run_spec(server, tmp_path, "workflow.yaml")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines()[1] == f"Workflow {wf}: 2 of 2 jobs completed"
    outputs = sorted((tmp_path / "output" / "job_stdio").glob("*.o"))
    assert [p.read_text() for p in outputs] == ["Hello from job 1\n", "Hello from job 2\n"]

    results = as_json(torc(server, tmp_path, "-f", "json", "results", "list", wf))["results"]
    assert [(r["job_name"], r["return_code"], r["status"]) for r in results] == [
        ("job1", 0, "completed"),
        ("job2", 0, "completed"),
    ]
    assert all(r["run_id"] == 1 and r["exec_time_minutes"] >= 0 for r in results)
    table = torc(server, tmp_path, "results", "list", wf)
    assert "│ Return Code │" in table.stdout and "Completed" in table.stdout
    assert "Total: 2 results" in table.stdout

    jobs = as_json(torc(server, tmp_path, "jobs", "list", wf, "-f", "json"))["jobs"]
    assert {j["status"] for j in jobs} == {"completed"}
    job2 = as_json(torc(server, tmp_path, "jobs", "get", str(jobs[1]["id"]), "-f", "json"))
    assert job2["name"] == "job2"
    status = as_json(torc(server, tmp_path, "workflows", "status", wf, "-f", "json"))
    assert status["jobs_by_status"]["completed"] == 2 and status["run_id"] == 1
    assert status["is_complete"] is True
    summary = torc(server, tmp_path, "reports", "summary", wf)
    assert "All jobs completed successfully" in summary.stdout
    events = as_json(torc(server, tmp_path, "events", "list", wf, "-f", "json"))["events"]
    assert events and all("timestamp_formatted" in e for e in events)
    assert torc(server, tmp_path, "watch", wf).returncode == 0  # already complete: exits
    assert torc(server, tmp_path, "run", wf).returncode == 0  # nothing runs again
    assert len(as_json(torc(server, tmp_path, "-f", "json", "results", "list", wf))["results"]) == 2


QUICK_START = """\
name: hello_world
description: Simple hello world workflow

jobs:
  - name: job 1
    command: echo "Hello from torc!"
  - name: job 2
    command: echo "Hello again from torc!"
"""


def test_the_local_quick_start_as_written(secured_server: Server, tmp_path: Path) -> None:
    """Torc's Quick Start (Local): `torc run workflow.yaml --poll-interval 1`, then `torc results
    list` with no workflow id (the caller's only workflow; with several, say which to give)."""
    (tmp_path / "workflow.yaml").write_text(QUICK_START)
    ran = torc(secured_server, tmp_path, "run", "workflow.yaml", "--poll-interval", "1", user="bob")
    assert ran.returncode == 0, ran.stderr
    listed = torc(secured_server, tmp_path, "results", "list", user="bob")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count("│ Completed │") == 2 and "Total: 2 results" in listed.stdout
    assert "│ job 1 " in listed.stdout and "│ job 2 " in listed.stdout

    second, _ = run_spec(secured_server, tmp_path, "workflow.yaml", user="bob")
    again = torc(secured_server, tmp_path, "results", "list", user="bob")
    assert again.returncode != 0
    wanted = "2 workflows: give WORKFLOW_ID ('torc workflows list' shows them; the newest is"
    assert f"{wanted} {second}, 'hello_world')" in again.stderr
    nothing = torc(secured_server, tmp_path, "jobs", "list", user="carol")
    assert nothing.returncode != 0 and "no workflow to act on: give WORKFLOW_ID" in nothing.stderr
    assert "('torc workflows list' shows the ones shared with you too)" in nothing.stderr
    status = torc(secured_server, tmp_path, "status", second, user="bob")  # Torc's short form
    assert status.returncode == 0 and "Workflow Status for ID" in status.stdout
    tui = torc(secured_server, tmp_path, "tui", user="bob")
    assert tui.returncode == 2 and "'torc watch ID' follows a run" in tui.stderr


def test_the_quick_start_on_a_server_without_authentication(
    server_factory: Any, tmp_path: Path
) -> None:
    """The quick start's server has no htpasswd file: nobody signs in, the workflow has no
    owner to filter by, and `torc results list` still finds the only one."""
    server = server_factory("--database", str(tmp_path / "open.db"))
    (tmp_path / "workflow.yaml").write_text(QUICK_START)
    ran = torc(server, tmp_path, "run", "workflow.yaml", "--poll-interval", "1")
    assert ran.returncode == 0, ran.stderr
    listed = torc(server, tmp_path, "results", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count("│ Completed │") == 2


def test_files_order_the_jobs_that_write_and_read_them(server: Server, tmp_path: Path) -> None:
    spec = {
        "name": "files",
        "files": [{"name": "data", "path": "data.txt"}],
        "jobs": [
            {"name": "read", "command": "cat ${files.input.data} > copy.txt"},
            {"name": "write", "command": "echo payload > ${files.output.data}"},
        ],
    }
    (tmp_path / "files.json").write_text(json.dumps(spec))
    wf, ran = run_spec(server, tmp_path, "files.json")
    assert ran.returncode == 0, ran.stderr
    assert (tmp_path / "copy.txt").read_text() == "payload\n"
    files = as_json(torc(server, tmp_path, "files", "list", wf, "-f", "json"))["files"]
    assert [(f["name"], f["path"]) for f in files] == [("data", "data.txt")]


FAILING = """\
name: failing
jobs:
  - name: bad
    command: "echo bad >> ran.log; test -e fixed"
  - name: flagged
    command: echo flagged >> ran.log
    depends_on: [bad]
    cancel_on_blocking_job_failure: true
  - name: unflagged
    command: echo unflagged >> ran.log
    depends_on: [bad]
"""


def test_a_failing_job_then_reset_failed_only_and_a_new_run(server: Server, tmp_path: Path) -> None:
    (tmp_path / "failing.yaml").write_text(FAILING)
    wf, ran = run_spec(server, tmp_path, "failing.yaml")
    assert ran.returncode == 1
    assert f"Workflow {wf}: 1 completed, 1 failed, 1 canceled of 3 jobs" in ran.stdout
    assert (tmp_path / "ran.log").read_text().split() == ["bad", "unflagged"]  # flagged never ran
    failed = as_json(torc(server, tmp_path, "-f", "json", "results", "list", wf, "--failed"))
    assert [(r["job_name"], r["return_code"]) for r in failed["results"]] == [("bad", 1)]
    table = torc(server, tmp_path, "results", "list", wf, "--failed").stdout
    assert "│ bad " in table and "unflagged" not in table
    statuses = {
        j["name"]: j["status"]
        for j in as_json(torc(server, tmp_path, "-f", "json", "jobs", "list", wf))["jobs"]
    }
    assert statuses == {"bad": "failed", "flagged": "canceled", "unflagged": "completed"}
    listed = torc(server, tmp_path, "jobs", "list", wf, "-s", "canceled").stdout
    assert "flagged" in listed and "unflagged" not in listed

    (tmp_path / "fixed").touch()
    reset = torc(server, tmp_path, "workflows", "reset-status", wf, "--failed-only")
    assert reset.returncode == 0, reset.stderr
    again = torc(server, tmp_path, "run", wf)
    assert again.returncode == 0, again.stderr
    assert "3 of 3 jobs completed" in again.stdout
    status = as_json(torc(server, tmp_path, "-f", "json", "workflows", "status", wf))
    assert status["run_id"] == 2


def test_ctrl_c_stops_the_run_and_a_second_run_finishes_it(server: Server, tmp_path: Path) -> None:
    # each job logs its name when it ends: a job that ran twice would log twice
    wait = "touch waiting; until [ -e go ]; do sleep 0.05; done"
    spec = {
        "name": "interrupted",
        "jobs": [
            {"name": "first", "command": "echo first >> done.log"},
            {"name": "slow", "command": f"{wait}; echo slow >> done.log", "depends_on": ["first"]},
            {"name": "last", "command": "echo last >> done.log", "depends_on": ["slow"]},
        ],
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    runner = subprocess.Popen(
        [str(BIN / "torc"), "run", "spec.json"],
        env=cli_env(server),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert runner.stdout is not None
        wf = runner.stdout.readline().split()[-1]  # Created workflow N
        while not (tmp_path / "waiting").exists():  # written by the job once it runs
            assert runner.poll() is None, runner.communicate()
            subprocess.run(["sleep", "0.02"], check=True)
        runner.send_signal(signal.SIGINT)
        _out, err = runner.communicate(timeout=60)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert runner.returncode == 130, err
    assert f"torc run {wf}" in err
    results = as_json(torc(server, tmp_path, "-f", "json", "results", "list", wf))["results"]
    assert [(r["job_name"], r["status"], r["return_code"]) for r in results] == [
        ("first", "completed", 0),
        ("slow", "terminated", -15),
    ]
    (tmp_path / "go").touch()
    again = torc(server, tmp_path, "run", wf)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "done.log").read_text().split() == ["first", "slow", "last"]


def test_a_thousand_job_fan_out_and_in_runs_each_job_once_in_order(
    server: Server, tmp_path: Path
) -> None:
    log = " ".join(f'echo "{k} $TORC_JOB_NAME $EPOCHREALTIME" >> log;' for k in "se")
    middle = [f"m{i:03d}" for i in range(998)]
    spec = {
        "name": "fan",
        "jobs": [
            {"name": "start", "command": log},
            *({"name": name, "command": log, "depends_on": ["start"]} for name in middle),
            {"name": "end", "command": log, "depends_on": middle},
        ],
    }
    (tmp_path / "fan.json").write_text(json.dumps(spec))
    wf, ran = run_spec(server, tmp_path, "fan.json", timeout=300)
    assert ran.returncode == 0, ran.stderr
    assert "1000 of 1000 jobs completed" in ran.stdout
    seen: dict[tuple[str, str], list[float]] = {}
    for line in (tmp_path / "log").read_text().splitlines():
        kind, name, when = line.split()
        seen.setdefault((kind, name), []).append(float(when))
    names = ["start", *middle, "end"]
    assert sorted(seen) == sorted((k, n) for k in "se" for n in names)
    assert all(len(times) == 1 for times in seen.values())  # every job ran exactly once
    assert all(seen["e", "start"][0] <= seen["s", m][0] for m in middle)
    assert max(seen["e", m][0] for m in middle) <= seen["s", "end"][0]
    results = as_json(torc(server, tmp_path, "-f", "json", "results", "list", wf))["results"]
    assert len(results) == 1000 and {r["return_code"] for r in results} == {0}


def test_a_shared_workflow_is_run_and_read_by_members_only(
    secured_server: Server, tmp_path: Path
) -> None:
    s = secured_server
    (tmp_path / "workflow.yaml").write_text(HELLO)
    assert torc(s, tmp_path, "access-groups", "create", "ml-team", user="alice").returncode == 0
    assert torc(s, tmp_path, "access-groups", "add-user", "1", "bob", user="alice").returncode == 0
    created = as_json(
        torc(s, tmp_path, "-f", "json", "workflows", "create", "workflow.yaml", user="alice")
    )
    wf = str(created["id"])
    shared = torc(s, tmp_path, "access-groups", "add-workflow", wf, "1", user="alice")
    assert shared.returncode == 0, shared.stderr

    reads = [
        ("jobs", "list", wf),
        ("results", "list", wf),
        ("events", "list", wf),
        ("files", "list", wf),
        ("workflows", "status", wf),
        ("reports", "summary", wf),
    ]
    refused = torc(s, tmp_path, "run", wf, user="carol")
    assert refused.returncode == 1 and "does not have access" in refused.stderr
    assert not (tmp_path / "output" / "job_stdio").exists() or not list(
        (tmp_path / "output" / "job_stdio").iterdir()
    )
    ran = torc(s, tmp_path, "run", wf, user="bob")
    assert ran.returncode == 0, ran.stderr
    for command in reads:
        assert torc(s, tmp_path, *command, user="bob").returncode == 0, command
        outsider = torc(s, tmp_path, *command, user="carol")
        assert outsider.returncode == 1, command
        assert json.loads(outsider.stderr)["error"] == "Forbidden", command
    results = as_json(torc(s, tmp_path, "-f", "json", "results", "list", wf, user="bob"))
    assert len(results["results"]) == 2

    unshared = torc(s, tmp_path, "access-groups", "remove-workflow", wf, "1", user="alice")
    assert unshared.returncode == 0, unshared.stderr
    for command in [*reads, ("run", wf)]:
        gone = torc(s, tmp_path, *command, user="bob")
        assert gone.returncode == 1 and "Forbidden" in gone.stderr, command


@pytest.mark.parametrize(
    "command", ["torc run --help", "torc jobs list --help", "torc watch --help"]
)
def test_the_run_commands_help_imports_nothing_heavy(tmp_path: Path, command: str) -> None:
    name, *argv = command.split()
    assert among(loaded(tmp_path, f"teamgate.cli.{name}", *argv), HEAVY) == []


def test_on_a_terminal_a_progress_bar_shows_done_of_total(server: Server, tmp_path: Path) -> None:
    import pexpect  # type: ignore[import-untyped]  # pexpect ships no type hints

    (tmp_path / "workflow.yaml").write_text(HELLO)
    child = pexpect.spawn(
        str(BIN / "torc"),
        ["run", "workflow.yaml"],
        env=cli_env(server),
        cwd=str(tmp_path),
        encoding="utf-8",
        timeout=60,
        dimensions=(24, 120),
    )
    child.expect(pexpect.EOF)
    child.close()
    screen = str(child.before)
    assert child.exitstatus == 0, screen
    assert "2/2" in screen and "✓ 2" in screen  # the bar's final state: both jobs done
    assert "2 of 2 jobs completed" in screen


def test_watch_follows_a_run_until_it_completes(server: Server, tmp_path: Path) -> None:
    (tmp_path / "workflow.yaml").write_text(HELLO)
    created = as_json(torc(server, tmp_path, "-f", "json", "workflows", "create", "workflow.yaml"))
    wf = str(created["id"])
    watcher = subprocess.Popen(
        [str(BIN / "torc"), "watch", wf, "--poll-interval", "0.2"],
        env=cli_env(server),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert torc(server, tmp_path, "run", wf).returncode == 0
        out, err = watcher.communicate(timeout=60)
    finally:
        if watcher.poll() is None:
            watcher.kill()
    assert watcher.returncode == 0, err
    assert out.splitlines()[-1] == f"Workflow {wf}: 2 of 2 jobs completed"


def test_canceling_a_workflow_stops_its_runner(server: Server, tmp_path: Path) -> None:
    spec = {"name": "canceled", "jobs": [{"name": "wait", "command": "touch waiting; sleep 600"}]}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    runner = subprocess.Popen(
        [str(BIN / "torc"), "run", "spec.json", "--poll-interval", "0.2"],
        env=cli_env(server),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert runner.stdout is not None
        wf = runner.stdout.readline().split()[-1]  # Created workflow N
        while not (tmp_path / "waiting").exists():  # written by the job once it runs
            assert runner.poll() is None, runner.communicate()
            subprocess.run(["sleep", "0.02"], check=True)
        canceled = torc(server, tmp_path, "workflows", "cancel", wf)
        assert canceled.stdout.strip() == f"Successfully canceled workflow {wf}"
        _out, err = runner.communicate(timeout=60)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert runner.returncode == 1
    assert f"Workflow {wf} was canceled." in err
    status = as_json(torc(server, tmp_path, "-f", "json", "workflows", "status", wf))
    assert status["is_canceled"] is True and status["jobs_by_status"]["running"] == 0
    refused = torc(server, tmp_path, "run", wf)
    assert refused.returncode == 1 and "reset-status" in refused.stderr


def test_json_output_is_one_document_a_script_can_read(server: Server, tmp_path: Path) -> None:
    (tmp_path / "workflow.yaml").write_text(HELLO)
    ran = torc(server, tmp_path, "-f", "json", "run", "workflow.yaml")
    assert ran.returncode == 0, ran.stderr
    summary = json.loads(ran.stdout)
    assert ran.stderr.startswith(f"Created workflow {summary['workflow_id']}")
    assert summary["jobs_by_status"]["completed"] == summary["total_jobs"] == 2


def test_two_runners_share_a_workflow_and_run_each_job_once(server: Server, tmp_path: Path) -> None:
    # a job ends only once each runner has started one: both take part, or the test hangs
    meet = "touch s.$TORC_OUTPUT_DIR; until [ -e s.out0 ] && [ -e s.out1 ]; do sleep 0.01; done"
    spec = {
        "name": "shared-load",
        "jobs": [
            {"name": f"j{i:03d}", "command": f"{meet}; echo $TORC_JOB_NAME >> ran.log"}
            for i in range(200)
        ],
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    created = as_json(torc(server, tmp_path, "-f", "json", "workflows", "create", "spec.json"))
    wf = str(created["id"])
    runners = [
        subprocess.Popen(
            [str(BIN / "torc"), "run", wf, "--num-cpus", "1", "--output-dir", f"out{n}"],
            env=cli_env(server),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    for runner in runners:
        _out, err = runner.communicate(timeout=120)
        assert runner.returncode == 0, err
    ran = (tmp_path / "ran.log").read_text().split()
    assert sorted(ran) == sorted(job["name"] for job in spec["jobs"])  # each once, none lost
    results = as_json(torc(server, tmp_path, "-f", "json", "results", "list", wf))["results"]
    assert len({r["compute_node_id"] for r in results}) == 2
