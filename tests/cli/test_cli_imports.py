"""The CLIs start fast because they import only what a command needs (issue 4).

Timing is left to bench/cli_startup.py; these tests check the cause instead: which modules a
fresh interpreter holds after running a command in-process.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

# runs the console script's function, main(), as `<name> <argv>` would
PROBE = """
import json, sys
from importlib import import_module
out, module, argv = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
sys.argv = [module.rsplit(".", 1)[1], *argv]
try:
    import_module(module).main()
except SystemExit:
    pass
with open(out, "w") as f:
    json.dump(sorted(name for name, m in sys.modules.items() if m is not None), f)
"""

# each costs tens of milliseconds at start-up, or belongs to the server
HEAVY = {
    "alembic",
    "anyio",
    "bcrypt",
    "fastapi",
    "httpcore",
    "httpx",
    "pydantic",
    "pygments",
    "rich",
    "sqlalchemy",
    "starlette",
    "uvicorn",
    "yaml",
    "importlib.metadata",  # package metadata lookups, e.g. click's version_option(package_name)
    "teamgate.auth",
    "teamgate.client",
    "teamgate.services",
    "teamgate.storage",
    "teamgate.web",
}
# a command that talks to the server needs the client (httpx), never the server side or YAML,
# nor httpx's own CLI (rich, pygments), which httpx imports whenever they are installed
CLIENT_SIDE = {"anyio", "httpcore", "httpx", "teamgate.client"}


def loaded(tmp_path: Path, module: str, *argv: str) -> set[str]:
    """The modules loaded after running `argv` through the CLI `module` in a fresh process."""
    out = tmp_path / "modules.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENTACO_", "TORC_"))}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")  # no saved taco token is read
    subprocess.run(
        [sys.executable, "-c", PROBE, str(out), module, json.dumps(argv)],
        env=env,
        capture_output=True,
        timeout=60,
        check=True,
    )
    return set(json.loads(out.read_text()))


def among(modules: set[str], names: set[str]) -> list[str]:
    """The modules in `modules` that are one of `names` or inside one of them."""
    return sorted(m for m in modules if any(m == n or m.startswith(f"{n}.") for n in names))


def closed_port_url(path: str = "") -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


@pytest.mark.parametrize(
    "command",
    [
        "torc --help",
        "torc --version",
        "torc workflows create --help",
        "torc access-groups --help",
        "taco --help",
        "taco --version",
        "taco rbac role --help",
        "taco unit ls --help",
        # issue 5: explain, progress (push/pull) and completion stay as light
        "torc access explain --help",
        "torc completion bash",
        "taco rbac test --help",
        "taco unit push --help",
        "taco completion zsh",
    ],
)
def test_help_and_version_import_nothing_heavy(tmp_path: Path, command: str) -> None:
    name, *argv = command.split()
    modules = loaded(tmp_path, f"teamgate.cli.{name}", *argv)
    assert "click" in modules  # the probe did run the CLI
    assert among(modules, HEAVY) == []


@pytest.mark.parametrize("command", ["torc ping", "taco whoami"])
def test_a_client_command_imports_the_client_but_not_the_server(
    tmp_path: Path, command: str
) -> None:
    name, subcommand = command.split()
    url_option = {"torc": ["--url", closed_port_url("/torc-service/v1")]}
    argv = url_option.get(name, ["--server", closed_port_url()])
    modules = loaded(tmp_path, f"teamgate.cli.{name}", *argv, subcommand)
    assert "teamgate.client.http" in modules  # it did try to reach the (absent) server
    assert among(modules, HEAVY - CLIENT_SIDE) == []
