"""Progress output of `taco unit push`/`pull`/`ls`: on a terminal only (issue 5).

A pseudo-terminal (pexpect) stands in for the user's terminal; subprocess pipes for scripts.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pexpect  # type: ignore[import-untyped]  # pexpect ships no type hints
import pytest

from tests.conftest import BIN, Server, start_server

TACO = str(BIN / "taco")
MIB = 1 << 20


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("progress")
    started = start_server(
        root / "server", "--database", str(root / "torc.db"), "--blob-store", str(root / "blobs")
    )
    yield started
    started.stop()


def env_for(server: Server, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENTACO_", "XDG_"))}
    env.update(
        OPENTACO_SERVER=server.base_url,
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        TERM="xterm",
        COLUMNS="120",
    )
    return env


def state_file(path: Path, size: int) -> Path:
    """A Terraform-like state of about `size` bytes (the server checks that states are JSON)."""
    path.write_text(json.dumps({"version": 4, "serial": 1, "padding": "x" * size}))
    return path


def on_terminal(server: Server, tmp_path: Path, *args: str) -> str:
    """Everything `taco <args>` writes to a pseudo-terminal (stdout and stderr together)."""
    child = pexpect.spawn(
        TACO,
        list(args),
        env=env_for(server, tmp_path),
        cwd=str(tmp_path),
        encoding="utf-8",
        timeout=60,
        dimensions=(24, 120),
    )
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    return str(child.before)


def piped(server: Server, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [TACO, *args],
        env=env_for(server, tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result


def test_push_and_pull_of_a_large_state_show_a_bar_on_a_terminal(
    server: Server, tmp_path: Path
) -> None:
    big = state_file(tmp_path / "big.tfstate", 3 * MIB)
    size = big.stat().st_size
    piped(server, tmp_path, "unit", "create", "big/app")
    pushed = on_terminal(server, tmp_path, "unit", "push", "big/app", str(big))
    assert "Uploading big/app" in pushed
    assert "100%" in pushed and "3.0 MiB/3.0 MiB" in pushed and "MiB/s" in pushed
    assert pushed.rstrip().endswith("Unit uploaded: big/app")
    pulled = on_terminal(server, tmp_path, "unit", "pull", "big/app", "copy.tfstate")
    assert "Downloading big/app" in pulled and "3.0 MiB/3.0 MiB" in pulled
    assert pulled.rstrip().endswith(f"Unit downloaded to: copy.tfstate ({size} bytes)")
    assert (tmp_path / "copy.tfstate").read_bytes() == big.read_bytes()


@pytest.mark.parametrize(
    "args",
    [
        ("unit", "push", "{unit}", "big.tfstate", "--quiet"),
        ("unit", "push", "{unit}", "big.tfstate", "-o", "json"),
        ("unit", "push", "{unit}", "small.tfstate"),  # small: over before a bar would help
        ("unit", "pull", "{unit}", "out.tfstate", "-q"),
        ("-o", "json", "unit", "pull", "{unit}", "out.tfstate"),
        ("unit", "pull", "{unit}"),  # the state itself goes to the terminal
    ],
)
def test_no_bar_when_quiet_json_small_or_printing_the_state(
    server: Server, tmp_path: Path, args: tuple[str, ...]
) -> None:
    state_file(tmp_path / "big.tfstate", 2 * MIB)
    state_file(tmp_path / "small.tfstate", 100_000)
    unit = f"quiet/{tmp_path.name}"
    piped(server, tmp_path, "unit", "create", unit)
    piped(server, tmp_path, "unit", "push", unit, "big.tfstate")
    out = on_terminal(server, tmp_path, *(a.format(unit=unit) for a in args))
    assert "Uploading" not in out and "Downloading" not in out and "%" not in out


def test_no_progress_when_stderr_is_not_a_terminal(server: Server, tmp_path: Path) -> None:
    big = state_file(tmp_path / "big.tfstate", 2 * MIB)
    piped(server, tmp_path, "unit", "create", "pipe/app")
    pushed = piped(server, tmp_path, "unit", "push", "pipe/app", str(big))
    pulled = piped(server, tmp_path, "unit", "pull", "pipe/app", "copy.tfstate")
    streamed = piped(server, tmp_path, "unit", "pull", "pipe/app")
    listed = piped(server, tmp_path, "unit", "ls", "pipe", "--page-size", "1")
    assert [r.stderr for r in (pushed, pulled, streamed, listed)] == ["", "", "", ""]
    assert streamed.stdout == big.read_text()
    assert "pipe/app" in listed.stdout


def test_push_from_a_pipe(server: Server, tmp_path: Path) -> None:
    big = state_file(tmp_path / "big.tfstate", 2 * MIB)
    piped(server, tmp_path, "unit", "create", "stdin/app")
    with big.open("rb") as stdin:
        result = subprocess.run(
            [TACO, "unit", "push", "stdin/app", "-"],
            env=env_for(server, tmp_path),
            stdin=stdin,
            capture_output=True,
            timeout=60,
        )
    assert result.returncode == 0 and result.stderr == b""
    assert piped(server, tmp_path, "unit", "pull", "stdin/app").stdout == big.read_text()


def test_ls_counts_units_while_following_pages(server: Server, tmp_path: Path) -> None:
    for n in range(5):
        piped(server, tmp_path, "unit", "create", f"many/u{n}")
    out = on_terminal(server, tmp_path, "unit", "ls", "many", "--page-size", "2")
    assert "Listing units: " in out
    assert "\r\x1b[K" in out  # the count is cleared before the table
    assert out.rstrip().endswith("Total: 5 units")
    one_page = on_terminal(server, tmp_path, "unit", "ls", "many")
    assert "Listing units" not in one_page
