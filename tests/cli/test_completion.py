"""`torc|taco|torc-htpasswd completion`: the scripts, and click's completion protocol."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.conftest import BIN


def run(prog: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.endswith("_COMPLETE")}
    full_env["PATH"] = f"{BIN}{os.pathsep}{full_env.get('PATH', '')}"
    full_env.update(env)
    return subprocess.run(
        [str(BIN / prog), *args], env=full_env, capture_output=True, text=True, timeout=60
    )


PROGS = ["torc", "taco", "torc-htpasswd"]


def complete_var(prog: str) -> str:
    return f"_{prog.upper().replace('-', '_')}_COMPLETE"


@pytest.mark.parametrize("prog", PROGS)
@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_a_script(prog: str, shell: str) -> None:
    result = run(prog, "completion", shell)
    assert result.returncode == 0, result.stderr
    assert f"{complete_var(prog)}={shell}_complete" in result.stdout
    assert f"_{prog.replace('-', '_')}_completion" in result.stdout
    assert result.stdout.endswith("\n")


@pytest.mark.parametrize(
    ("words", "cword", "expected"),
    [
        ("torc acc", "1", {"plain,access", "plain,access-groups"}),
        ("torc access ex", "2", {"plain,explain"}),
        ("torc comp", "1", {"plain,completion"}),
        ("taco unit p", "2", {"plain,pull", "plain,push"}),
        ("taco rbac test bob pull dev/app --ex", "6", {"plain,--explain"}),
        ("torc-htpasswd a", "1", {"plain,add"}),
        (
            "torc-htpasswd ",
            "1",
            {f"plain,{c}" for c in ("add", "completion", "hash", "list", "remove", "verify")},
        ),
        ("torc-htpasswd add --c", "2", {"plain,--cost"}),
    ],
)
def test_click_completion_protocol_returns_subcommands(
    words: str, cword: str, expected: set[str]
) -> None:
    prog = words.split()[0]
    env = {complete_var(prog): "bash_complete", "COMP_WORDS": words, "COMP_CWORD": cword}
    result = run(prog, **env)
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.splitlines()) == expected


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_the_bash_script_completes_in_bash() -> None:
    script = (
        "source <(torc completion bash)\n"
        "COMP_WORDS=(torc access-groups add-w); COMP_CWORD=2\n"
        "_torc_completion torc\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.endswith("_COMPLETE")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["add-workflow"]


@pytest.mark.parametrize("prog", PROGS)
def test_completion_help_says_how_to_install(prog: str) -> None:
    out = run(prog, "completion", "--help").stdout
    assert f'eval "$({prog} completion bash)"' in out
    assert f"~/.config/fish/completions/{prog}.fish" in out
    assert "zsh" in out
    unknown = run(prog, "completion", "tcsh")
    assert unknown.returncode == 2 and "'tcsh' is not one of" in unknown.stderr
