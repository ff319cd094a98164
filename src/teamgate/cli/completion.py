"""`torc completion` and `taco completion`: print a shell completion script (click's own).

The script calls the CLI back with `_<PROG>_COMPLETE` set; click answers that in `main()` before
any command runs, so completing costs one light start-up.
"""

from __future__ import annotations

import click

SHELLS = ("bash", "zsh", "fish")

HELP = """Print the shell completion script for SHELL (bash, zsh or fish).

Completes commands, subcommands, options and choices. Load it once in the current shell, or
install it to have it in every new one.
"""

EPILOG = """
\b
Examples (load in the current shell):
  eval "$({prog} completion bash)"
  eval "$({prog} completion zsh)"
  {prog} completion fish | source
\b
Install (then start a new shell):
  bash: {prog} completion bash > ~/.local/share/bash-completion/completions/{prog}
        (or add  eval "$({prog} completion bash)"  to ~/.bashrc)
  zsh:  {prog} completion zsh > ~/.zfunc/_{prog}
        with  fpath=(~/.zfunc $fpath); autoload -Uz compinit; compinit  in ~/.zshrc
        (or add  eval "$({prog} completion zsh)"  to ~/.zshrc, after compinit)
  fish: {prog} completion fish > ~/.config/fish/completions/{prog}.fish
"""


def complete_var(prog: str) -> str:
    """The environment variable click's `main()` reads for `prog` (`_TORC_COMPLETE`)."""
    return "_{}_COMPLETE".format(prog.replace("-", "_").replace(".", "_").upper())


def completion_script(root: click.Command, prog: str, shell: str) -> str:
    """The completion script of `shell` for the CLI `root`, installed as `prog`."""
    from click.shell_completion import get_completion_class

    completion = get_completion_class(shell)
    if completion is None:
        raise click.UsageError(f"no completion for shell '{shell}'; use one of {', '.join(SHELLS)}")
    return completion(root, {}, prog, complete_var(prog)).source()


def completion_command(prog: str) -> click.Command:
    """A `completion SHELL` command for the CLI installed as `prog`."""

    @click.command(
        "completion",
        help=HELP,
        epilog=EPILOG.format(prog=prog),
        short_help="Print a shell completion script.",
    )
    @click.argument("shell", metavar="SHELL", type=click.Choice(SHELLS))
    @click.pass_context
    def completion(ctx: click.Context, shell: str) -> None:
        script = completion_script(ctx.find_root().command, prog, shell)
        click.echo(script, nl=not script.endswith("\n"))

    return completion
