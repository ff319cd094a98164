"""`torc run SPEC_FILE_OR_ID`: run a workflow's jobs on this machine (creating it from a spec
file first), with progress on a terminal and a closing summary.

Exit status: 0 when every job completed; 1 when any failed, was canceled or could not run
(or on an error); 130 after Ctrl-C and 143 after SIGTERM, the running jobs stopped and
recorded as terminated (run `torc run ID` again to continue).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from teamgate.cli.common import examples, warn
from teamgate.cli.output import echo_json
from teamgate.cli.torc.common import Options, command, pass_options
from teamgate.cli.torc.runs import (
    EXIT_INTERRUPTED,
    Progress,
    exit_code,
    progress_wanted,
    summary_line,
)

SPEC_SUFFIXES = (".yaml", ".yml", ".json", ".json5")


def is_spec(argument: str) -> bool:
    """A spec file, not a workflow id: a spec's extension, or a file that exists (as Torc)."""
    return argument.lower().endswith(SPEC_SUFFIXES) or Path(argument).is_file()


def workflow_id_of(opts: Options, argument: str) -> int:
    """The id to run: a spec file becomes a new workflow (`Created workflow N`)."""
    if not is_spec(argument):
        try:
            return int(argument)
        except ValueError:
            raise click.BadParameter(
                f"{argument!r} is neither a spec file (.yaml, .yml, .json) nor a workflow id",
                param_hint="SPEC_FILE_OR_ID",
            ) from None
    from teamgate.cli.specs import load_spec_file

    spec = load_spec_file(Path(argument))
    with opts.client() as client:
        created = client.create_workflow_from_spec(spec)
    warn(created)
    # JSON output stays one document on stdout: the line goes to stderr then
    click.echo(f"Created workflow {created['id']}", err=opts.json)
    return int(created["id"])


@click.command(
    "run",
    epilog=examples(
        "torc run workflow.yaml",
        "torc run 3",
        "torc run 3 --max-parallel-jobs 4 --output-dir out",
        "torc run pipeline.yaml --num-cpus 8 --memory-gb 16",
    )
    + "\n\b\nExit status: 0 all jobs completed, 1 some failed or were canceled,\n"
    "130 interrupted by Ctrl-C (run `torc run ID` again to continue).",
)
@click.argument("spec_file_or_id")
@click.option(
    "-p",
    "--poll-interval",
    type=click.FloatRange(min=0.01),
    default=1.0,
    show_default=True,
    help="Seconds between checks for work that others made ready (a finished job here "
    "starts the next at once).",
)
@click.option(
    "--max-parallel-jobs",
    type=click.IntRange(min=1),
    help="Run at most N jobs at once, ignoring resource requirements.",
)
@click.option(
    "-o",
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("output"),
    show_default=True,
    help="Where job stdout/stderr (job_stdio/) and the runner log go.",
)
@click.option("--num-cpus", type=click.IntRange(min=1), help="CPUs to use [default: all].")
@click.option(
    "--memory-gb",
    type=click.FloatRange(min=0, min_open=True),
    help="Memory to use, GiB [default: all].",
)
@click.option("--num-gpus", type=click.IntRange(min=0), default=0, help="GPUs to use.")
@command
@pass_options
def run(
    opts: Options,
    spec_file_or_id: str,
    poll_interval: float,
    max_parallel_jobs: int | None,
    output_dir: Path,
    num_cpus: int | None,
    memory_gb: float | None,
    num_gpus: int,
) -> None:
    """Run a workflow's jobs on this machine, in parallel within its CPUs and memory.

    Given a spec file, creates the workflow first. Jobs run in this directory, as
    `bash -c COMMAND` with TORC_API_URL, TORC_WORKFLOW_ID and TORC_JOB_ID set; each job's
    stdout and stderr go to OUTPUT_DIR/job_stdio/. Ctrl-C stops the running jobs and records
    them as terminated; `torc run ID` then continues where the run stopped.
    """
    from teamgate.runner.loop import JobRunner, Settings

    workflow_id = workflow_id_of(opts, spec_file_or_id)
    settings = Settings(
        workflow_id=workflow_id,
        output_dir=output_dir,
        poll_interval=poll_interval,
        max_parallel_jobs=max_parallel_jobs,
        num_cpus=num_cpus,
        memory_gb=memory_gb,
        num_gpus=num_gpus,
    )
    progress = Progress(enabled=progress_wanted(opts.json))
    try:
        with opts.client() as client:
            outcome = JobRunner(client, settings, progress).run()
    finally:
        progress.close()
    if opts.json:
        echo_json({**outcome.summary, "terminated_here": outcome.terminated})
    else:
        click.echo(summary_line(outcome.summary))
    if outcome.signal is not None:
        click.echo(
            f"Interrupted: {outcome.terminated} running jobs stopped and recorded as terminated. "
            f"Continue with: torc run {workflow_id}",
            err=True,
        )
        sys.exit(EXIT_INTERRUPTED.get(outcome.signal, 1))
    if outcome.canceled:
        click.echo(f"Workflow {workflow_id} was canceled.", err=True)
    if outcome.stuck:
        click.echo(f"Stopped: {outcome.stuck}.", err=True)
    sys.exit(exit_code(outcome.summary))
