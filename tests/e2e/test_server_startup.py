"""`torc-server run` refuses to start on a bad htpasswd file or bad configuration.

Each case runs the real server: it must exit non-zero without ever listening
(no `TORC_SERVER_PORT=` line), with one clear message on stderr that names the culprit
(the htpasswd line number, the config key) and no traceback.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from teamgate.auth.passwords import hash_password
from tests.conftest import BIN, backend_args

HASH = hash_password("pw", cost=4)
STARTUP_TIMEOUT = 60


@dataclass
class Outcome:
    returncode: int
    started: bool  # it printed TORC_SERVER_PORT=, i.e. it was listening
    stderr: str


def isolated_env(tmp_path: Path) -> dict[str, str]:
    """No TORC_* settings and no config file from the user's home or data directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORC_")}
    env["HOME"] = str(tmp_path / "home")
    env["XDG_CONFIG_HOME"] = str(tmp_path / "home" / ".config")
    env["XDG_DATA_HOME"] = str(tmp_path / "home" / ".local" / "share")
    return env


def run_server(tmp_path: Path, *args: str, port: str | None = "0") -> Outcome:
    """Run `torc-server run ARGS` (on a free port unless `port` is None); stop it at once if it
    starts listening."""
    stderr_path = tmp_path / "stderr.txt"
    port_args = ["--port", port] if port is not None else []
    cmd = [str(BIN / "torc-server"), "run", "--host", "127.0.0.1", *port_args, *backend_args(args)]
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            cwd=tmp_path,
            env=isolated_env(tmp_path),
        )
    watchdog = threading.Timer(STARTUP_TIMEOUT, process.kill)
    watchdog.start()
    try:
        assert process.stdout is not None
        started = any(line.startswith("TORC_SERVER_PORT=") for line in iter_until_port(process))
        if started:
            process.terminate()
        returncode = process.wait()
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
    return Outcome(returncode, started, stderr_path.read_text())


def iter_until_port(process: subprocess.Popen[str]) -> list[str]:
    """stdout lines up to the port announcement, or all of them if the process exits first."""
    assert process.stdout is not None
    seen: list[str] = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith("TORC_SERVER_PORT="):
            break
    return seen


def assert_refused(outcome: Outcome, *fragments: str) -> None:
    assert not outcome.started, f"the server started:\n{outcome.stderr}"
    assert outcome.returncode != 0
    assert "Traceback" not in outcome.stderr, outcome.stderr
    errors = [line for line in outcome.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, outcome.stderr
    for fragment in fragments:
        assert fragment in errors[0], (fragment, outcome.stderr)


# -- htpasswd files --------------------------------------------------------------------------------
# A failed start costs ~2 s (the server imports its web stack and opens the database before it
# reads the htpasswd file), so only a few cases start a server; the parsing rules themselves are
# covered in depth by tests/unit/test_htpasswd.py.

GOOD = f"alice:{HASH}"


@dataclass(frozen=True)
class HtCase:
    content: str | None  # None: the file does not exist
    fragments: tuple[str, ...]  # "{file}" stands for the htpasswd file's path
    via_config: bool = False  # name the file in config.toml instead of --auth-file


HTPASSWD_CASES = {
    "no-colon": HtCase(f"{GOOD}\nbob\n", ("{file} line 2", "expected 'username:hash'")),
    "md5-apr1": HtCase(
        f"{GOOD}\nbob:$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/\n", ("{file} line 2", "not a bcrypt")
    ),
    "plain-text-via-config": HtCase(
        f"{GOOD}\ncarol:carol_password\n", ("{file} line 2", "not a bcrypt"), via_config=True
    ),
    # comments and blank lines count: the line number is the one an editor shows
    "after-comments": HtCase(
        f"# users\n\n{GOOD}\n   \n# bob below\nbob:{{SHA}}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n",
        ("{file} line 6", "bob", "not a bcrypt"),
    ),
    "missing": HtCase(None, ("{file}", "No such file")),
}


def start_bad_htpasswd(root: Path, case: HtCase) -> tuple[Path, Outcome]:
    root.mkdir()
    auth_file = root / "htpasswd"
    if case.content is not None:
        auth_file.write_text(case.content)
    args = ["--database", str(root / "torc.db"), "--require-auth"]
    if case.via_config:
        (root / "config.toml").write_text(f'[server]\nauth_file = "{auth_file}"\n')
        args += ["--config", str(root / "config.toml")]
    else:
        args += ["--auth-file", str(auth_file)]
    return auth_file, run_server(root, *args)


@pytest.mark.parametrize("name", list(HTPASSWD_CASES))
def test_bad_htpasswd_file_is_refused(tmp_path: Path, name: str) -> None:
    # One server per case, not every case in a module fixture: under xdist's default
    # distribution each worker that runs a case would start all of them.
    auth_file, outcome = start_bad_htpasswd(tmp_path / name, HTPASSWD_CASES[name])
    fragments = [f.format(file=auth_file) for f in HTPASSWD_CASES[name].fragments]
    assert_refused(outcome, *fragments)


# -- flags and config.toml -------------------------------------------------------------------------


def test_require_auth_without_auth_file(tmp_path: Path) -> None:
    outcome = run_server(tmp_path, "--database", str(tmp_path / "torc.db"), "--require-auth")
    assert_refused(outcome, "--require-auth", "--auth-file")


@pytest.mark.parametrize(
    ("toml", "fragments"),
    [
        ("[server]\nbogus_key = 1\n", ("server.bogus_key", "unknown key")),
        ("[server]\nrequire-auth = true\n", ("require-auth", "unknown key")),
        ("[server]\nadmin_user = ['alice']\n", ("admin_user", "unknown key")),
        ("[srv]\nport = 0\n", ("srv",)),
        ("port = 0\n", ("port",)),
        ("server = 1\n", ("server", "table")),
        ('[server]\nport = "eight"\n', ("config.toml", "server.port", "integer")),
        ("[server]\nport = 1.5\n", ("server.port", "integer")),
        ('[server]\nrequire_auth = "yes"\n', ("server.require_auth", "true or false")),
        ("[server]\nenforce_access_control = 1\n", ("server.enforce_access_control",)),
        ('[server]\nadmin_users = "alice"\n', ("server.admin_users", "list")),
        ("[server]\nadmin_users = [1]\n", ("server.admin_users",)),
        ("[server]\ndatabase = 5\n", ("server.database", "string")),
        ('[server]\ncredential_cache_ttl_secs = "60"\n', ("server.credential_cache_ttl_secs",)),
        ("[server\nport = 0\n", ("not valid TOML", "line 1")),
        ("[server]\nport = \n", ("not valid TOML", "line 2")),
        ("[server]\nport = 1\nport = 2\n", ("not valid TOML", "line 3")),
        ('[server]\nhost = "a\n', ("not valid TOML", "line 2")),
        ("[server]\nport = 99999\n", ("port", "65535")),
        ("[server]\nmax_body_bytes = 10\n", ("max_body_bytes",)),
        ('[server]\nlog_level = "loud"\n', ("log_level",)),
        ("[server]\ncredential_cache_ttl_secs = -1\n", ("credential_cache_ttl_secs",)),
        ("[server]\nrequire_auth = true\n", ("--require-auth", "auth-file")),
        ("[server]\nhtpasswd_reload_secs = -1\n", ("htpasswd_reload_secs",)),
        ("[server]\nhtpasswd_reload_secs = 0\n", ("htpasswd_reload_secs",)),
    ],
    ids=lambda value: " ".join(value.split())[:40] if isinstance(value, str) else None,
)
def test_bad_config_file_is_refused(tmp_path: Path, toml: str, fragments: tuple[str, ...]) -> None:
    config = tmp_path / "config.toml"
    config.write_text(toml)
    db = str(tmp_path / "torc.db")
    # A --port flag would override a `port` in the file.
    port = None if "port" in toml else "0"
    outcome = run_server(tmp_path, "--database", db, "--config", str(config), port=port)
    assert_refused(outcome, *fragments)


def test_bad_torc_toml_in_working_directory_is_refused(tmp_path: Path) -> None:
    """The implicit ./torc.toml is checked as strictly as an explicit --config file."""
    (tmp_path / "torc.toml").write_text("[server]\nrequire_auth = 'sometimes'\n")
    outcome = run_server(tmp_path, "--database", str(tmp_path / "torc.db"))
    assert_refused(outcome, "torc.toml", "server.require_auth")


def test_missing_config_file_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    outcome = run_server(tmp_path, "--config", str(missing))
    assert_refused(outcome, str(missing))


# -- what a server that starts says ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_fixed_port_start_names_config_files_and_prints_no_port_line(tmp_path: Path) -> None:
    """A ./config.toml the server does not read is a warning, not silence; the
    TORC_SERVER_PORT= line is only for --port 0, whose port the caller cannot know."""
    (tmp_path / "config.toml").write_text(f'[server]\ndatabase = "{tmp_path / "wanted.db"}"\n')
    port = free_port()
    cmd = [str(BIN / "torc-server"), "run", "--host", "127.0.0.1", "--port", str(port)]
    cmd += backend_args(["--database", str(tmp_path / "torc.db")])
    process = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=isolated_env(tmp_path),
    )
    watchdog = threading.Timer(STARTUP_TIMEOUT, process.kill)
    watchdog.start()
    try:
        assert process.stderr is not None
        log: list[str] = []
        for line in process.stderr:
            log.append(line)
            if line.startswith("INFO Listening on "):
                break
        process.terminate()
        stdout, rest = process.communicate()
    finally:
        watchdog.cancel()
    text = "".join(log) + rest
    assert f"INFO Listening on 127.0.0.1:{port}" in text, text
    assert "INFO No config file found (looked in: " in text
    [warning] = [line for line in log if line.startswith("WARNING ") and "config.toml" in line]
    assert "--config ./config.toml" in warning and "torc.toml" in warning
    assert "TORC_SERVER_PORT" not in stdout
