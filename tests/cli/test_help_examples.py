"""The "Examples:" in `--help`: where they must be, that they print as written, and that every
one of them is a command line the CLI accepts (so they cannot drift from the commands)."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from teamgate.cli.taco import cli as taco_cli
from teamgate.cli.torc import cli as torc_cli

CLIS: dict[str, click.Command] = {"torc": torc_cli, "taco": taco_cli}

# every command group, and the commands people use most
WITH_EXAMPLES = [
    "torc",
    "torc workflows",
    "torc workflows create",
    "torc workflows list",
    "torc workflows get",
    "torc workflows delete",
    "torc workflows status",
    "torc workflows reset-status",
    "torc run",
    "torc watch",
    "torc jobs",
    "torc jobs list",
    "torc results list",
    "torc reports summary",
    "torc access-groups",
    "torc access-groups create",
    "torc access-groups add-user",
    "torc access-groups add-workflow",
    "torc access",
    "torc access check",
    "torc access explain",
    "torc access who",
    "torc completion",
    "taco",
    "taco login",
    "taco rbac",
    "taco rbac test",
    "taco rbac permission",
    "taco rbac permission create",
    "taco rbac role",
    "taco rbac role create",
    "taco rbac role assign-permission",
    "taco rbac user",
    "taco rbac user assign",
    "taco unit",
    "taco unit ls",
    "taco unit pull",
    "taco unit push",
    "taco unit lock",
    "taco unit unlock",
    "taco unit access",
    "taco completion",
]


def walk(command: click.Command, path: str) -> Iterator[tuple[str, click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from walk(sub, f"{path} {name}")


def find(path: str) -> click.Command:
    prog, *names = path.split()
    command = CLIS[prog]
    for name in names:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return command


def example_lines(epilog: str | None) -> list[str]:
    """The lines of an epilog's `Examples…:` sections, as written."""
    found: list[str] = []
    inside = False
    for raw in (epilog or "").splitlines():
        line = raw.strip()
        if line.startswith("Examples"):
            inside = True
        elif not line or line == "\b":
            inside = False
        elif inside:
            found.append(line)
    return found


def examples_in(epilog: str | None) -> list[str]:
    """The example command lines of an epilog, with continuation lines (`\\`) joined."""
    joined: list[str] = []
    for line in example_lines(epilog):
        if joined and joined[-1].endswith("\\"):
            joined[-1] = f"{joined[-1][:-1].rstrip()} {line}"
        else:
            joined.append(line)
    return joined


def every_example() -> list[tuple[str, str]]:
    return [
        (prog, line)
        for prog, cli in CLIS.items()
        for _path, command in walk(cli, prog)
        for line in examples_in(command.epilog)
    ]


@pytest.mark.parametrize("path", WITH_EXAMPLES)
def test_examples_are_in_the_help_as_written(path: str) -> None:
    lines = example_lines(find(path).epilog)
    assert lines, f"'{path} --help' has no examples"
    prog, *argv = path.split()
    result = CliRunner().invoke(CLIS[prog], [*argv, "--help"], prog_name=prog, terminal_width=80)
    assert result.exit_code == 0, result.output
    shown = [line.strip() for line in result.output.splitlines()]
    for example in lines:
        assert example in shown, (path, example)


def invocation(prog: str, line: str) -> list[str]:
    """The arguments `prog` gets in an example shell line: through pipes, redirections,
    comments, `VAR=value` prefixes and `$(…)`."""
    segments: list[list[str]] = [[]]
    words = iter(shlex.split(line, comments=True))
    for word in words:
        if word == "|":
            segments.append([])
        elif word in (">", "<", ">>"):
            next(words)  # the file redirected to or from
        elif word.startswith("$(") and word.endswith(")"):
            segments.append(shlex.split(word[2:-1]))
        else:
            segments[-1].append(word)
    for segment in segments:
        while segment and "=" in segment[0] and not segment[0].startswith("-"):
            segment = segment[1:]
        if segment and segment[0] == prog:
            return segment[1:]
    raise AssertionError(f"'{line}' does not run {prog}")


@pytest.mark.parametrize(("prog", "line"), every_example())
def test_every_example_parses(
    prog: str, line: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    argv = invocation(prog, line)
    for _path, command in walk(CLIS[prog], prog):
        if not isinstance(command, click.Group):
            monkeypatch.setattr(command, "callback", lambda *_a, **_k: None)
    monkeypatch.chdir(tmp_path)
    for name in argv:
        if name.endswith((".tfstate", ".yaml", ".json")):
            (tmp_path / name).write_text("{}")  # files that commands open while parsing
    try:
        CLIS[prog].main(argv, prog_name=prog, standalone_mode=False)
    except click.ClickException as exc:
        pytest.fail(f"'{line}': {exc.format_message()}")
