"""`torc`: the Torc command-line client (workflows, running them, and access groups).

This package holds the main group and `ping`; `workflows`, `access_groups`, `access` and `audit`
hold those command groups, `run` the local runner's command, `jobs`, `results`, `records`
(events, files) and `reports` (summary, watch) what reads a run, and `common`/`runs` what they
share. The client (httpx), spec parsing
(PyYAML) and the stdlib modules that click does not load anyway are imported inside the commands
that use them, so `torc --help` starts fast; tests/cli/test_cli_imports.py keeps it so.
"""

from __future__ import annotations

import os

import click

from teamgate import __version__
from teamgate.cli.common import FORMAT, read_password, skip_httpx_cli
from teamgate.cli.completion import completion_command
from teamgate.cli.torc.access import access
from teamgate.cli.torc.access_groups import access_groups
from teamgate.cli.torc.audit import audit
from teamgate.cli.torc.common import Options, command, pass_options
from teamgate.cli.torc.jobs import jobs
from teamgate.cli.torc.login import login, logout, whoami
from teamgate.cli.torc.records import events, files
from teamgate.cli.torc.reports import reports, watch
from teamgate.cli.torc.results import results
from teamgate.cli.torc.run import run
from teamgate.cli.torc.slurm import slurm, submit_slurm
from teamgate.cli.torc.sync_status import sync_status
from teamgate.cli.torc.tokens import tokens
from teamgate.cli.torc.workflows import workflows

EPILOG = """
\b
Environment:
  TORC_API_URL    server URL (default http://localhost:8080/torc-service/v1)
  TORC_USERNAME   user name (default: $USER, then $USERNAME)
  TORC_PASSWORD   password (sent only when set; prefer this or --prompt-password);
                  without it, the identity-provider sign-in 'torc login' saved, if any
\b
Examples:
  torc ping
  torc access-groups create ml-team --description "Machine Learning Team"
  torc workflows create spec.yaml -f json | jq -r '.id'
  torc run workflow.yaml
  torc results list 1
  torc -f json workflows list
  torc access explain 1 carol
  eval "$(torc completion bash)"
"""


def _user_and_source(ctx: click.Context, username: str | None) -> tuple[str | None, str]:
    """The user name to sign in with and where it came from (named in a 401's hint)."""
    if username:
        source = ctx.get_parameter_source("username")
        from_env = source is click.core.ParameterSource.ENVIRONMENT
        return username, "from TORC_USERNAME" if from_env else "from --username"
    for name in ("USER", "USERNAME"):
        if os.environ.get(name):
            return os.environ[name], f"from ${name}"
    return None, "no user name"


# Torc's newer top-level forms of the workflow commands (its quick start and tutorials use them).
WORKFLOW_ALIASES = ("status", "create", "cancel", "delete", "reset-status")
NOT_HERE = {
    "tui": "teamgate has no terminal UI: 'torc watch ID' follows a run, 'torc jobs list ID' "
    "and 'torc results list ID' show its jobs and results",
    "init-jobs": "'torc run ID' initializes a workflow's jobs and runs them",
}


class TorcGroup(click.Group):
    """`torc status ID` and the like run `torc workflows status ID`; names of Torc commands
    that teamgate does not have say what to use instead."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is None and cmd_name in WORKFLOW_ALIASES:
            return workflows.get_command(ctx, cmd_name)
        if found is None and cmd_name in NOT_HERE:
            raise click.UsageError(f"No such command '{cmd_name}': {NOT_HERE[cmd_name]}.", ctx)
        return found


@click.group(cls=TorcGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--url",
    envvar="TORC_API_URL",
    default="http://localhost:8080/torc-service/v1",
    show_default=True,
    help="Torc API URL [env: TORC_API_URL].",
)
@click.option(
    "--username", envvar="TORC_USERNAME", help="User name [env: TORC_USERNAME; default $USER]."
)
@click.option(
    "--password",
    envvar="TORC_PASSWORD",
    show_envvar=False,
    help="Password [env: TORC_PASSWORD]. Visible to other local users; "
    "prefer the env var or --prompt-password.",
)
@click.option("--prompt-password", is_flag=True, help="Ask for the password (no echo).")
@click.option(
    "-f",
    "--format",
    "output_format",
    type=FORMAT,
    default="table",
    help="Output format (table or json); also accepted after the subcommand.",
)
# the version string, not package_name: looking it up in the metadata costs ~45 ms
@click.version_option(__version__, prog_name="torc (teamgate)")
@click.pass_context
def cli(
    ctx: click.Context,
    url: str,
    username: str | None,
    password: str | None,
    prompt_password: bool,
    output_format: str,
) -> None:
    """Torc client: workflows, running them, and team access groups."""
    source = ctx.get_parameter_source("password")
    if password is not None and source is click.core.ParameterSource.COMMANDLINE:
        click.echo(
            "Warning: --password is visible to other users in the process list; "
            "prefer TORC_PASSWORD or --prompt-password.",
            err=True,
        )
    if prompt_password:
        password = read_password()
    user, user_from = _user_and_source(ctx, username)
    ctx.obj = Options(
        url=url,
        username=user,
        password=password,
        format=output_format.lower(),
        username_from=user_from,
    )


workflows.add_command(sync_status)
cli.add_command(workflows)
cli.add_command(run)
cli.add_command(submit_slurm)
cli.add_command(slurm)
cli.add_command(watch)
cli.add_command(jobs)
cli.add_command(results)
cli.add_command(events)
cli.add_command(files)
cli.add_command(reports)
cli.add_command(access_groups)
cli.add_command(access)
cli.add_command(audit)
cli.add_command(tokens)
cli.add_command(login)
cli.add_command(logout)
cli.add_command(whoami)
cli.add_command(completion_command("torc"))


@cli.command()
@command
@pass_options
def ping(opts: Options) -> None:
    """Check that the server answers."""
    import json

    with opts.client() as client:
        click.echo(json.dumps(client.ping()))


def main() -> None:
    skip_httpx_cli()
    cli(prog_name="torc")
