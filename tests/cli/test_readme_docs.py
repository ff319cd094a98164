"""The README's commands exist: every `torc`, `taco`, `torc-server` and `torc-htpasswd` command
line in its ```sh blocks names real subcommands and options, and `<tool> <subcommands…> --help`
exits 0 for each of them. The files it shows are the ones committed under examples/.

(Its config keys are checked by tests/unit/test_settings_docs.py, its metrics by
tests/unit/test_metrics.py.)"""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from teamgate.cli.taco import cli as taco_cli
from teamgate.cli.torc import cli as torc_cli
from teamgate.cli.torc_htpasswd import is_apache_form
from teamgate.cli.torc_htpasswd import main as htpasswd_cli
from teamgate.cli.torc_server import cli as server_cli
from teamgate.web.errors import STATUS
from tests.conftest import BIN

ROOT = Path(__file__).parents[2]
README = ROOT / "README.md"
TOOLS: dict[str, click.Command] = {
    "torc": torc_cli,
    "taco": taco_cli,
    "torc-server": server_cli,
    "torc-htpasswd": htpasswd_cli,
}
SEPARATORS = {";", "&&", "||", "|", "&", "(", ")", "$"}
ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")


def blocks(text: str, language: str) -> Iterator[str]:
    """The bodies of the fenced blocks of one language."""
    yield from re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def shell_lines(text: str) -> Iterator[str]:
    """Each logical line of the ```sh blocks (backslash continuations joined)."""
    for block in blocks(text, "sh"):
        yield from block.replace("\\\n", " ").splitlines()


def simple_commands(line: str) -> Iterator[list[str]]:
    """The words of each simple command in a shell line, also inside `$(…)`, without comments
    and leading `NAME=value` assignments."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|()")
    lexer.whitespace_split = True
    words: list[str] = []
    for token in [*lexer, ";"]:
        if "$(" in token:  # a command substitution inside a quoted word
            inner = token[token.index("$(") + 2 :]
            yield from simple_commands(inner[: inner.rfind(")")])
        if token.rstrip("$") != token and ASSIGNMENT.match(token):
            token = token.rstrip("$")  # `ID=$(…`: the shell's `$(` split by the lexer
        if token in SEPARATORS:
            if words:
                yield words
            words = []
        elif words or not ASSIGNMENT.match(token):
            words.append(token)


def tool_invocations(text: str) -> Iterator[tuple[str, list[str]]]:
    """(tool, arguments) for each command line of the four tools the README shows."""
    for line in shell_lines(text):
        for words in simple_commands(line):
            if words[0] in TOOLS:
                yield words[0], words[1:]


def find_option(chain: list[click.Command], name: str) -> click.Option | None:
    """The option a command, or a group above it, accepts under this name."""
    for command in reversed(chain):
        for param in command.params:
            if isinstance(param, click.Option) and name in (*param.opts, *param.secondary_opts):
                return param
    return None


def command_path(tool: str, args: list[str]) -> list[str]:
    """The subcommands named by a command line; fails on an unknown subcommand or option."""
    if tool == "torc-htpasswd" and is_apache_form(args):
        return []  # Apache's `torc-htpasswd [-c] FILE USER`: options of the tool itself
    chain, path, rest = [TOOLS[tool]], [], iter(args)
    for word in rest:
        shown = " ".join([tool, *path])
        if word.startswith("-") and word not in ("-", "--"):
            name = word.split("=", 1)[0]
            option = find_option(chain, name)
            assert option is not None, f"README: `{shown}` has no option {name}"
            inline = "=" in word or (len(name) > 2 and not name.startswith("--"))
            if not (option.is_flag or option.count or inline or name in ("-h", "--help")):
                next(rest, None)  # the option's value
            continue
        group = chain[-1]
        if not isinstance(group, click.Group):
            break  # arguments of the command
        sub = group.get_command(click.Context(group), word)
        assert sub is not None, f"README: `{shown}` has no subcommand {word!r}"
        chain.append(sub)
        path.append(word)
    return path


def readme_command_paths() -> list[tuple[str, ...]]:
    found = {
        (tool, *command_path(tool, args)) for tool, args in tool_invocations(README.read_text())
    }
    return sorted(found)


def test_the_readme_shows_commands_of_every_tool() -> None:
    tools = {path[0] for path in readme_command_paths()}
    assert tools == set(TOOLS)


@pytest.mark.parametrize("path", readme_command_paths(), ids=" ".join)
def test_each_readme_command_answers_help(path: tuple[str, ...]) -> None:
    tool, *subcommands = path
    result = subprocess.run(
        [str(BIN / tool), *subcommands, "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, f"{' '.join(path)} --help: {result.stderr}"
    assert "Usage:" in result.stdout


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("torc ping", [("torc", ["ping"])]),
        (
            'ID=$(torc -f json workflows create x.yaml | jq -r ".id")  # c',
            [("torc", ["-f", "json", "workflows", "create", "x.yaml"])],
        ),
        (
            "A=1 B=2 torc access check 1 bob; taco unit ls",
            [("torc", ["access", "check", "1", "bob"]), ("taco", ["unit", "ls"])],
        ),
        ('eval "$(taco completion bash)"', [("taco", ["completion", "bash"])]),
        ("curl -u alice http://x/torc", []),
    ],
)
def test_command_lines_are_found_in_shell_text(
    line: str, expected: list[tuple[str, list[str]]]
) -> None:
    assert list(tool_invocations(f"```sh\n{line}\n```\n")) == expected


@pytest.mark.parametrize(
    ("tool", "args", "message"),
    [
        ("torc", ["workflow", "list"], "no subcommand 'workflow'"),
        ("torc", ["workflows", "list", "--colour", "x"], "no option --colour"),
        ("taco", ["unit", "frobnicate", "a/b"], "no subcommand 'frobnicate'"),
    ],
)
def test_a_command_that_does_not_exist_is_caught(tool: str, args: list[str], message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        command_path(tool, args)


def test_options_and_their_values_are_skipped() -> None:
    args = ["-f", "json", "--prompt-password", "workflows", "list", "-f", "json"]
    assert command_path("torc", args) == ["workflows", "list"]
    assert command_path("torc-htpasswd", ["-c", "pw/htpasswd", "alice"]) == []
    assert command_path("torc-htpasswd", ["add", "-f", "pw", "dave"]) == ["add"]


def test_the_example_files_exist_and_the_one_shown_is_as_committed() -> None:
    text = README.read_text()
    named = set(re.findall(r"examples/[\w./-]+", text))
    assert "examples/ml_training.yaml" in named
    for name in named:
        assert (ROOT / name).is_file(), f"README names {name}, which is not in the repository"
    committed = (ROOT / "examples/ml_training.yaml").read_text()
    assert committed in blocks(text, "yaml"), "README does not show examples/ml_training.yaml"


def test_the_architecture_names_every_package_and_only_real_modules() -> None:
    text = README.read_text()
    section = text[text.index("## Architecture") :]
    tree = next(iter(blocks(section, "")))
    src = ROOT / "src" / "teamgate"
    packages = {p.parent.name for p in src.glob("*/__init__.py")}
    named = set(re.findall(r"^  (\w+)/", tree, flags=re.MULTILINE))
    assert named == packages
    for module in re.findall(r"\b(\w+)\.py\b", tree):
        assert list(src.rglob(f"{module}.py")), f"README's architecture names {module}.py"


def test_the_readme_lists_every_error_status() -> None:
    text = README.read_text()
    sentence = text[text.index("Errors are JSON bodies") :]
    sentence = sentence[: sentence.index("\n\n")]
    named = {int(code) for code in re.findall(r"\b([1-5]\d\d)\b", sentence)}
    expected = (set(STATUS.values()) - {500}) | {405, 408, 415}
    assert expected <= named, f"README's error list lacks {sorted(expected - named)}"
