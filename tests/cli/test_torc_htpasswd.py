"""The installed `torc-htpasswd` command, run as a real process (pexpect for terminal prompts)."""

from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pexpect  # type: ignore[import-untyped]  # pexpect ships no type hints
import pytest

from teamgate.auth.htpasswd import load_htpasswd
from teamgate.auth.passwords import hash_password, verify_password

TOOL = shutil.which("torc-htpasswd", path=str(Path(sys.executable).parent)) or "torc-htpasswd"
H_ALICE = hash_password("alice-pw", cost=4)
H_BOB = hash_password("bob-pw", cost=4)


def run(
    *args: str | Path, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    # A new session has no controlling terminal, so a prompt fails instead of waiting for a human.
    return subprocess.run(
        [TOOL, *map(str, args)],
        input=stdin,
        capture_output=True,
        text=True,
        env=env if env is not None else os.environ.copy(),
        timeout=60,
        start_new_session=True,
        check=False,
    )


def spawn(*args: str | Path) -> tuple[pexpect.spawn, io.StringIO]:
    transcript = io.StringIO()
    child = pexpect.spawn(TOOL, [str(a) for a in args], encoding="utf-8", timeout=30)
    child.logfile_read = transcript
    return child, transcript


def finish(child: pexpect.spawn) -> int:
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus is not None
    return int(child.exitstatus)


def env_without(*names: str, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in names}
    env.update(values)
    return env


@pytest.fixture
def htfile(tmp_path: Path) -> Path:
    path = tmp_path / "htpasswd"
    path.write_text(f"# Torc users\n\nalice:{H_ALICE}\n# the second one\nbob:{H_BOB}\n")
    path.chmod(0o600)
    return path


def snapshot(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


# --- the tutorial, step 1, typed at a terminal --------------------------------------------------


def test_tutorial_create_then_add_three_users(tmp_path: Path) -> None:
    path = tmp_path / "etc" / "torc" / "htpasswd"
    path.parent.mkdir(parents=True)  # mkdir -p /etc/torc
    passwords = {"alice": "Alice-Secret-1", "bob": "Bob-Secret-2", "carol": "C3", "dave": "D4"}
    for number, (user, password) in enumerate(passwords.items()):
        args: list[str | Path] = ["-c", path, user] if number == 0 else [path, user]
        child, transcript = spawn(*args)
        child.expect_exact("New password: ")
        child.sendline(password)
        child.expect_exact("Re-type new password: ")
        child.sendline(password)
        child.expect_exact(f"Adding password for user {user}")
        assert finish(child) == 0
        assert password not in transcript.getvalue()  # no echo
    lines = path.read_text().splitlines()
    assert [line.split(":", 1)[0] for line in lines] == ["alice", "bob", "carol", "dave"]
    assert all(line.split(":", 1)[1].startswith("$2b$12$") for line in lines)
    users = load_htpasswd(path)
    assert all(verify_password(password, users[user]) for user, password in passwords.items())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_prompt_mismatch_is_refused_and_file_unchanged(htfile: Path) -> None:
    before = snapshot(htfile)
    child, _ = spawn("-C", "4", htfile, "carol")
    child.expect_exact("New password: ")
    child.sendline("one")
    child.expect_exact("Re-type new password: ")
    child.sendline("two")
    child.expect_exact("torc-htpasswd: password verification error")
    assert finish(child) == 3
    assert snapshot(htfile) == before


def test_prompt_updates_existing_user(htfile: Path) -> None:
    child, _ = spawn("-C", "4", htfile, "alice")
    for prompt in ("New password: ", "Re-type new password: "):
        child.expect_exact(prompt)
        child.sendline("new-alice")
    child.expect_exact("Updating password for user alice")
    assert finish(child) == 0
    assert verify_password("new-alice", load_htpasswd(htfile)["alice"])


def test_empty_password_at_prompt_is_refused(htfile: Path) -> None:
    before = snapshot(htfile)
    child, _ = spawn("-C", "4", htfile, "carol")
    child.expect_exact("New password: ")
    child.sendline("")
    child.expect_exact("torc-htpasswd: the password must not be empty")
    assert finish(child) != 0
    assert snapshot(htfile) == before


def test_verify_prompts_once(htfile: Path) -> None:
    child, _ = spawn("-v", htfile, "bob")
    child.expect_exact("Enter password: ")
    child.sendline("bob-pw")
    child.expect_exact("Password for user bob correct.")
    assert finish(child) == 0


def test_torc_add_prompts_for_the_password(tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    child, transcript = spawn("add", "-f", path, "erin", "-c", "4")
    child.expect_exact("Password for 'erin': ")
    child.sendline("erin-pw")
    child.expect_exact(f"Added user 'erin' to \"{path}\"")
    assert finish(child) == 0
    assert "erin-pw" not in transcript.getvalue()
    assert verify_password("erin-pw", load_htpasswd(path)["erin"])


def test_without_a_terminal_the_prompt_fails_instead_of_reading_stdin(htfile: Path) -> None:
    before = snapshot(htfile)
    result = run(htfile, "carol", stdin="pw\npw\n")
    assert result.returncode != 0
    assert result.stderr.strip().startswith("torc-htpasswd: no terminal to ask for a password")
    assert len(result.stderr.strip().splitlines()) == 1
    assert snapshot(htfile) == before


# --- Apache form, non-interactive ---------------------------------------------------------------


def test_batch_create_add_update(tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    first = run("-c", "-b", "-C", "4", path, "alice", "pw1")
    assert first.returncode == 0, first.stderr
    assert "Adding password for user alice" in first.stderr
    assert "visible" in first.stderr  # the -b warning
    assert first.stdout == ""
    second = run("-b", "-C", "4", path, "bob", "pw2")
    assert "Adding password for user bob" in second.stderr
    third = run("-b", "-C4", path, "alice", "pw3")
    assert "Updating password for user alice" in third.stderr
    users = load_htpasswd(path)
    assert list(users) == ["alice", "bob"]
    assert verify_password("pw3", users["alice"])
    assert users["alice"].startswith("$2b$04$")


def test_combined_short_flags(tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    assert run("-cbC", "5", path, "alice", "pw").returncode == 0
    assert load_htpasswd(path)["alice"].startswith("$2b$05$")


def test_default_cost_is_12(tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    assert run("-cb", path, "alice", "pw").returncode == 0
    assert load_htpasswd(path)["alice"].startswith("$2b$12$")


def test_create_overwrites_an_existing_file(htfile: Path) -> None:
    result = run("-c", "-i", "-C", "4", htfile, "carol", stdin="carol-pw\n")
    assert result.returncode == 0, result.stderr
    assert list(load_htpasswd(htfile)) == ["carol"]


def test_stdin_password(htfile: Path) -> None:
    result = run("-i", "-C", "4", htfile, "carol", stdin="carol pw with spaces\n")
    assert result.returncode == 0, result.stderr
    assert result.stderr == "Adding password for user carol\n"
    assert verify_password("carol pw with spaces", load_htpasswd(htfile)["carol"])


@pytest.mark.parametrize("stdin", ["", "\n"])
def test_stdin_without_a_password_is_refused(htfile: Path, stdin: str) -> None:
    before = snapshot(htfile)
    result = run("-i", "-C", "4", htfile, "carol", stdin=stdin)
    assert result.returncode != 0
    assert result.stderr.startswith("torc-htpasswd: ")
    assert snapshot(htfile) == before


def test_comments_and_order_survive_apache_edits(htfile: Path) -> None:
    assert run("-b", "-C", "4", htfile, "alice", "x").returncode == 0
    assert run("-b", "-C", "4", htfile, "carol", "y").returncode == 0
    lines = htfile.read_text().splitlines()
    assert lines[:2] == ["# Torc users", ""]
    assert lines[3] == "# the second one"
    assert [line.split(":")[0] for line in lines if ":" in line] == ["alice", "bob", "carol"]
    assert lines[4] == f"bob:{H_BOB}"


def test_written_file_is_0600_and_no_temp_files_remain(htfile: Path) -> None:
    htfile.chmod(0o644)
    assert run("-b", "-C", "4", htfile, "carol", "pw").returncode == 0
    assert stat.S_IMODE(htfile.stat().st_mode) == 0o600
    assert [p.name for p in htfile.parent.iterdir()] == ["htpasswd"]


def test_delete(htfile: Path) -> None:
    result = run("-D", htfile, "alice")
    assert result.returncode == 0
    assert result.stderr == "Deleting password for user alice\n"
    assert htfile.read_text() == f"# Torc users\n\n# the second one\nbob:{H_BOB}\n"


def test_delete_unknown_user_errors_and_leaves_file_unchanged(htfile: Path) -> None:
    before = snapshot(htfile)
    result = run("-D", htfile, "dave")
    assert result.returncode == 1
    assert result.stderr == f"torc-htpasswd: user dave not found in {htfile}\n"
    assert snapshot(htfile) == before


def test_verify_batch(htfile: Path) -> None:
    good = run("-vb", htfile, "alice", "alice-pw")
    assert good.returncode == 0
    assert "Password for user alice correct." in good.stderr
    bad = run("-v", "-i", htfile, "alice", stdin="nope\n")
    assert bad.returncode == 3
    assert bad.stderr == "torc-htpasswd: password verification failed\n"
    unknown = run("-v", "-i", htfile, "zed", stdin="nope\n")
    assert unknown.returncode != 0
    assert "user zed not found" in unknown.stderr


def test_missing_file_without_create(tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    result = run("-b", path, "alice", "pw")
    assert result.returncode == 1
    assert result.stderr == f"torc-htpasswd: cannot modify file {path}; use '-c' to create it\n"
    assert not path.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-C", "3", "{f}", "carol"], "cost must be between 4 and 31"),
        (["-C", "32", "{f}", "carol"], "cost must be between 4 and 31"),
        (["-c", "-D", "{f}", "alice"], "-c and -D cannot be used together"),
        (["-D", "-v", "{f}", "alice"], "-D and -v cannot be used together"),
        (["-b", "-i", "{f}", "carol", "pw"], "-b and -i cannot be used together"),
        (["-b", "{f}", "carol"], "-b needs the password as the last argument"),
        (["{f}", "carol", "hunter2"], "too many arguments"),
        (["-b", "{f}", "ca:rol", "pw"], "must not contain ':'"),
        (["-b", "{f}", "#carol", "pw"], "must not start with '#'"),
        (["-b", "{f}", "anonymous", "pw"], "'anonymous' is reserved"),
        (["-b", "{f}", "carol", ""], "the password must not be empty"),
        (["{f}"], "Missing argument 'USER'"),
        (["-x", "{f}", "carol"], "No such option"),
    ],
)
def test_apache_errors_are_one_line_and_touch_nothing(
    htfile: Path, args: list[str], message: str
) -> None:
    before = snapshot(htfile)
    result = run(*[a.replace("{f}", str(htfile)) for a in args])
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if "visible" not in line]
    assert len(errors) == 1
    assert errors[0].startswith("torc-htpasswd: ")
    assert message in errors[0]
    assert "hunter2" not in result.stderr
    assert snapshot(htfile) == before


def test_malformed_file_is_reported_with_its_line_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    path.write_text(f"alice:{H_ALICE}\n\nbob:{{SHA}}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n")
    before = snapshot(path)
    result = run("-b", "-C", "4", path, "carol", "pw")
    assert result.returncode != 0
    assert result.stderr.splitlines()[-1] == (
        f"torc-htpasswd: {path} line 3: password hash for user 'bob' is not a bcrypt hash "
        "(must start with $2a$, $2b$ or $2y$)"
    )
    assert snapshot(path) == before


def test_file_named_like_a_subcommand(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert run("-cb", "-C", "4", "./add", "alice", "pw").returncode == 0
    assert list(load_htpasswd(tmp_path / "add")) == ["alice"]


# --- Torc form: `hash` (ported from Torc's tests/test_htpasswd.rs) -------------------------------


def test_hash_command_with_explicit_username() -> None:
    result = run("hash", "--password", "testpassword123", "testuser")
    assert result.returncode == 0
    assert result.stdout.startswith("testuser:$2b$12$")
    assert "Hashing password" in result.stderr
    assert "Send the line above" in result.stderr


def test_hash_command_defaults_to_env_user() -> None:
    result = run("hash", "--password", "pw", env=env_without("USERNAME", USER="envuser"))
    assert result.returncode == 0
    assert result.stdout.startswith("envuser:$2b$12$")


def test_hash_command_falls_back_to_username_env() -> None:
    result = run("hash", "--password", "pw", env=env_without("USER", USERNAME="winuser"))
    assert result.returncode == 0
    assert result.stdout.startswith("winuser:$2b$12$")


def test_hash_command_fails_without_username_or_env() -> None:
    result = run("hash", "--password", "pw", env=env_without("USER", "USERNAME"))
    assert result.returncode != 0
    assert "could not read from $USER or $USERNAME" in result.stderr
    assert result.stderr == (
        "Error: username not provided and could not read from $USER or $USERNAME\n"
    )


def test_hash_command_explicit_username_overrides_env() -> None:
    result = run("hash", "--password", "pw", "explicituser", env=env_without(USER="envuser"))
    assert result.returncode == 0
    assert result.stdout.startswith("explicituser:$2b$12$")


def test_hash_command_custom_cost() -> None:
    result = run("hash", "--password", "pw", "--cost", "4", "testuser")
    assert result.returncode == 0
    assert result.stdout.startswith("testuser:$2b$04$")


def test_hash_output_is_exactly_one_line_that_verifies() -> None:
    result = run("hash", "-p", "pw", "-c", "4", "alice")
    user, hashed = result.stdout.removesuffix("\n").split(":", 1)
    assert result.stdout.count("\n") == 1
    assert user == "alice"
    assert verify_password("pw", hashed)
    assert result.stderr.splitlines()[-2:] == [
        "Hashing password (cost=4)...",
        "Send the line above to your server administrator.",
    ]


# --- Torc form: add, remove, list, verify -------------------------------------------------------


def test_add_creates_then_updates(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "htpasswd"
    added = run("add", "-f", path, "alice", "-p", "pw", "-c", "4")
    assert added.returncode == 0, added.stderr
    assert added.stdout == f"Hashing password (cost=4)...\nAdded user 'alice' to \"{path}\"\n"
    updated = run("add", "--file", path, "alice", "--password", "pw2", "--cost", "4")
    assert updated.stdout.endswith(f"Updated user 'alice' to \"{path}\"\n")
    assert verify_password("pw2", load_htpasswd(path)["alice"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_add_keeps_comments_and_order(htfile: Path) -> None:
    assert run("add", "-f", htfile, "alice", "-p", "pw", "-c", "4").returncode == 0
    assert run("add", "-f", htfile, "carol", "-p", "pw", "-c", "4").returncode == 0
    lines = htfile.read_text().splitlines()
    assert lines[0] == "# Torc users"
    assert lines[3] == "# the second one"
    assert [line.split(":")[0] for line in lines if ":" in line] == ["alice", "bob", "carol"]


def test_add_with_bad_cost(htfile: Path) -> None:
    before = snapshot(htfile)
    result = run("add", "-f", htfile, "carol", "-p", "pw", "-c", "3")
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == "Error: cost must be between 4 and 31"
    assert snapshot(htfile) == before


def test_remove(htfile: Path) -> None:
    result = run("remove", "-f", htfile, "bob")
    assert result.returncode == 0
    assert result.stdout == f"Removed user 'bob' from \"{htfile}\"\n"
    assert list(load_htpasswd(htfile)) == ["alice"]


def test_remove_unknown_user_and_missing_file(htfile: Path, tmp_path: Path) -> None:
    before = snapshot(htfile)
    unknown = run("remove", "-f", htfile, "zed")
    assert unknown.returncode == 1
    assert unknown.stderr == f"Error: user 'zed' not found in \"{htfile}\"\n"
    assert snapshot(htfile) == before
    missing = run("remove", "-f", tmp_path / "nope", "zed")
    assert missing.returncode == 1
    assert missing.stderr == f'Error: file "{tmp_path / "nope"}" does not exist\n'


def test_list(htfile: Path, tmp_path: Path) -> None:
    result = run("list", "-f", htfile)
    assert result.stdout == f'Users in "{htfile}":\n  - alice\n  - bob\n'
    empty = tmp_path / "empty"
    empty.write_text("# nobody yet\n")
    assert run("list", "-f", empty).stdout == f'No users found in "{empty}"\n'


def test_verify(htfile: Path) -> None:
    good = run("verify", "-f", htfile, "alice", "-p", "alice-pw")
    assert (good.returncode, good.stdout) == (0, "✓ Password is correct for user 'alice'\n")
    bad = run("verify", "-f", htfile, "alice", "-p", "wrong")
    assert (bad.returncode, bad.stdout) == (1, "✗ Password is incorrect for user 'alice'\n")
    unknown = run("verify", "-f", htfile, "zed", "-p", "wrong")
    assert (unknown.returncode, unknown.stdout) == (1, "✗ Password is incorrect for user 'zed'\n")


def test_verify_reports_load_errors(tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    path.write_text(f"alice:{H_ALICE}\nbroken line\n")
    result = run("verify", "-f", path, "alice", "-p", "alice-pw")
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        f"Error loading htpasswd file: {path} line 2: expected 'username:hash'"
    )


def test_file_from_torc_example_loads(tmp_path: Path) -> None:
    # Torc's unit test: a comment, a blank line and $2b$/$2a$/$2y$ users give three users.
    path = tmp_path / "htpasswd"
    path.write_text(
        f"# Test htpasswd file\n\nuser1:{H_ALICE}\nuser2:$2a${H_BOB[4:]}\nuser3:$2y${H_BOB[4:]}\n"
    )
    assert run("list", "-f", path).stdout.count("  - ") == 3
    assert run("verify", "-f", path, "user3", "-p", "bob-pw").returncode == 0


# --- help -----------------------------------------------------------------------------------


def test_help_explains_both_forms() -> None:
    result = run("--help")
    assert result.returncode == 0
    for text in [
        "[-c] [-b] [-i] [-D] [-v] [-C COST] FILE USER [PASSWORD]",
        "torc-htpasswd -c /etc/torc/htpasswd alice",
        "torc-htpasswd add -f FILE USER",
        "torc-htpasswd hash [USER]",
        "remove",
        "list",
        "verify",
    ]:
        assert text in result.stdout


def test_no_arguments_prints_help_and_fails() -> None:
    result = run()
    assert result.returncode == 2
    assert "Apache htpasswd form" in result.stderr


def test_a_reserved_name_left_in_a_file_can_be_deleted(htfile: Path) -> None:
    """The server refuses a file with `anonymous`; the tool can still take it out."""
    htfile.write_text(f"{htfile.read_text()}anonymous:{H_BOB}\n")
    result = run("-D", htfile, "anonymous")
    assert result.returncode == 0, result.stderr
    assert "anonymous" not in htfile.read_text()
    refused = run("add", "--file", htfile, "anonymous", "--password", "pw")
    assert refused.returncode != 0 and "reserved" in refused.stderr


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0 and result.stdout.startswith("torc-htpasswd (teamgate), version ")


@pytest.mark.parametrize(
    ("args", "guess"),
    [
        (["ad", "-f", "FILE", "alice"], "add"),
        (["ad", "alice"], "add"),
        (["lst", "-f", "FILE"], "list"),
        (["verfy", "-f", "FILE", "alice"], "verify"),
    ],
)
def test_a_near_miss_of_a_subcommand_gets_a_did_you_mean(
    tmp_path: Path, args: list[str], guess: str
) -> None:
    htfile = tmp_path / "htpasswd"
    result = run(*(str(htfile) if a == "FILE" else a for a in args), env={**os.environ})
    assert result.returncode != 0 and not htfile.exists()
    assert result.stderr.rstrip().endswith(f"; did you mean 'torc-htpasswd {guess}'?"), (
        result.stderr
    )
    assert len(result.stderr.strip().splitlines()) == 1


def test_no_guess_for_a_file_that_exists(tmp_path: Path) -> None:
    """`ad` is a file here, so the Apache form meant it: no did-you-mean."""
    (tmp_path / "ad").write_text(f"alice:{H_ALICE}\n")
    result = subprocess.run(
        [TOOL, "-v", "-b", "ad", "alice", "wrong"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 3 and "did you mean" not in result.stderr
