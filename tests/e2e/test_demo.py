"""`scripts/demo` runs the tutorial against a real server, echoes commands that can be pasted
back, and leaves nothing behind; with --keep it leaves the server and says how to use and stop it.
(The install step is skipped: the test runs in the installed .venv.)"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
DEMO = ROOT / "scripts" / "demo"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
DEADLINE_SECS = 30.0


def demo_env(tmp_path: Path) -> dict[str, str]:
    """The demo's temporary files go under tmp_path; no user config is read."""
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp_path), "HOME": str(home)}
    return {**env, "TEAMGATE_DEMO_SKIP_INSTALL": "1"}


def run_demo(tmp_path: Path, *args: str) -> str:
    """Run the demo with its temporary files under tmp_path; return its output without colours."""
    result = subprocess.run(
        [str(DEMO), *args], env=demo_env(tmp_path), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return ANSI.sub("", result.stdout)


def processes_mentioning(text: str) -> list[int]:
    """The processes whose command line contains text (the demo's server names its directory)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text.encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:  # ended while we looked
            continue
    return found


def echoed_commands(output: str) -> list[list[str]]:
    """The command lines the demo echoed (`$ …`), split as a shell would."""
    return [shlex.split(line[2:]) for line in output.splitlines() if line.startswith("$ torc")]


def test_stopping_the_demo_stops_its_server_and_removes_its_files(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [str(DEMO)], env=demo_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        assert proc.stdout is not None
        lines = iter(proc.stdout.readline, b"")
        started = next((line for line in lines if b"Listening on" in line), None)
        assert started is not None, "the demo's server did not start"
        work = next(tmp_path.glob("teamgate-demo-*"))
        assert processes_mentioning(str(work)), "no server process names the demo's directory"
    finally:
        proc.terminate()  # as `kill` does; INT (Ctrl-C) and HUP are trapped alike
    assert proc.wait(timeout=60) == 143
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]  # no teamgate-demo-* left
    assert not processes_mentioning(str(work)), "the demo's server is still running"


def test_keep_leaves_the_server_and_says_how_to_use_and_stop_it(tmp_path: Path) -> None:
    output = run_demo(tmp_path, "--keep")
    assert "(refused, as expected)" in output
    assert "(refused again: access revoked)" in output
    assert "Train a machine learning model" in output  # carol read the shared workflow
    assert "Workflow 1: 1 of 1 job completed" in output  # carol ran it
    assert re.search(r"│ 1 +│ 1 +│ train_model +│ 1 +│ 1 +│ 1 +│ 0 +│", output), output
    assert "(refused: not shared with bob's team)" in output
    assert "(refused: bob may not run it)" in output
    assert "(refused: results went with the share)" in output
    commands = echoed_commands(output)
    create = ["torc", "access-groups", "create", "ml-team", "--description"]
    assert [*create, "Machine Learning Team"] in commands  # quotes kept
    server = next(c for c in commands if c[:2] == ["torc-server", "run"])
    assert server[server.index("--admin-user") + 1] == "alice"
    for user in ("alice", "bob", "carol", "dave"):
        assert f"{user}/{user}_password" in output
    stop = re.search(r"^  kill (\d+) && rm -rf (\S+)$", output, flags=re.MULTILINE)
    assert stop is not None, output
    pid, work = int(stop.group(1)), Path(stop.group(2))
    try:
        url = re.search(r"TORC_API_URL=(\S+)", output)
        assert url is not None
        env = {**os.environ, "TORC_API_URL": url.group(1), "TORC_USERNAME": "alice"}
        env["TORC_PASSWORD"] = "alice_password"
        listed = subprocess.run(
            ["torc", "-f", "json", "workflows", "list"],
            env={**env, "PATH": f"{ROOT / '.venv' / 'bin'}:{env['PATH']}"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "ml_training_workflow" in listed.stdout, listed.stderr
        assert work.parent == tmp_path and work.is_dir()
    finally:
        subprocess.run(stop.group(0).strip(), shell=True, check=True)
    deadline = time.monotonic() + DEADLINE_SECS
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists(), "the server did not stop"
    assert not work.exists()


@pytest.mark.parametrize("arg", ["--kep", "keep"])
def test_an_unknown_argument_is_refused(arg: str) -> None:
    result = subprocess.run([str(DEMO), arg], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"unknown argument '{arg}'" in result.stderr
