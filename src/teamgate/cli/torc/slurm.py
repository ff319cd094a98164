"""`torc submit-slurm SPEC_FILE_OR_ID` and `torc slurm status ID`: a workflow's jobs run in
Slurm allocations (runner/slurm.py does the work)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from teamgate.cli.common import examples
from teamgate.cli.output import echo_json, render_table
from teamgate.cli.torc.common import Options, command, pass_options, workflow_argument

DEFAULT_TTL_HOURS = 168.0  # the server's default; it allows up to 720
# Slurm job states after which the allocation's runner is gone
SLURM_ENDED = {
    "COMPLETED": "done",
    "CANCELLED": "canceled",
    "FAILED": "failed",
    "TIMEOUT": "failed",
    "NODE_FAIL": "failed",
    "OUT_OF_MEMORY": "failed",
    "PREEMPTED": "failed",
    "BOOT_FAIL": "failed",
    "DEADLINE": "failed",
    "gone": "done",
}


def write_token_file(output_dir: Path, workflow_id: int, token: str) -> Path:
    """OUTPUT_DIR/.runner/wfN.token, 0600 in a 0700 directory (only the user reads it)."""
    directory = output_dir.resolve() / ".runner"
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)
    path = directory / f"wf{workflow_id}.token"
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, token.encode() + b"\n")
    finally:
        os.close(fd)
    return path


def _mib(value: int) -> str:
    return f"{value // (1 << 20)}M"


@click.command(
    "submit-slurm",
    epilog=examples(
        "torc submit-slurm --account myproject workflow.yaml",
        "torc submit-slurm --account myproject --partition debug 3",
        "torc -f json submit-slurm --account myproject workflow.yaml",
    ),
)
@click.argument("spec_file_or_id")
@click.option("--account", required=True, help="Slurm account to charge (sbatch --account).")
@click.option("--partition", help="Slurm partition [default: the cluster's default].")
@click.option(
    "-o",
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("output"),
    show_default=True,
    help="Where Slurm's output files (slurm_JOBID.out), job stdout/stderr and runner logs go.",
)
@click.option(
    "--token-ttl-hours",
    type=click.FloatRange(min=0.1, max=720),
    default=DEFAULT_TTL_HOURS,
    show_default=True,
    help="How long the allocations' runner token is good for.",
)
@command
@pass_options
def submit_slurm(
    opts: Options,
    spec_file_or_id: str,
    account: str,
    partition: str | None,
    output_dir: Path,
    token_ttl_hours: float,
) -> None:
    """Run a workflow's jobs in Slurm allocations, one per group of resource requirements.

    Given a spec file, creates the workflow first. Initializes its jobs, mints a runner token
    for this workflow only (saved 0600 under OUTPUT_DIR/.runner/; allocations get its path,
    never the token or your password), and for each group of ready jobs submits an
    allocation with the group's CPUs, memory and runtime. Each allocation runs the jobs that
    fit it, in this directory, then submits allocations for the groups its jobs made ready.
    Follow with `torc slurm status ID`; `torc workflows cancel ID` also cancels them.
    """
    from teamgate.cli.torc.run import workflow_id_of
    from teamgate.runner.slurm import check_slurm_name, ready_groups, submit_ready

    check_slurm_name(account, "account")
    if partition is not None:
        check_slurm_name(partition, "partition")
    workflow_id = workflow_id_of(opts, spec_file_or_id)
    with opts.client() as client:
        # never a full initialisation: it would take back jobs running elsewhere (see runner.loop)
        client.initialize_jobs(workflow_id, only_uninitialized=True)
        groups = ready_groups(client, workflow_id)
        if not groups:  # no allocation to give a token to: mint none
            _nothing_ready(opts, workflow_id)
            return
        minted = client.create_runner_token(workflow_id, ttl_hours=token_ttl_hours)
        token_file = write_token_file(output_dir, workflow_id, minted["token"])
        submitted, skipped = submit_ready(
            client,
            workflow_id,
            account=account,
            partition=partition,
            output_dir=output_dir,
            token_file=token_file,
            workdir=Path.cwd(),
            groups=groups,
        )
    if opts.json:
        echo_json(
            {
                "workflow_id": workflow_id,
                "token_expires_at": minted.get("expires_at"),
                "allocations": submitted,
                "groups_with_active_allocation": [g.name for g in skipped],
            }
        )
        return
    for made in submitted:
        click.echo(
            f"Submitted Slurm job {made['slurm_job_id']} (allocation {made['id']}) for group "
            f"{made['group_name']}: {made['ready_jobs']} ready jobs, {made['num_cpus']} CPUs, "
            f"{_mib(made['memory_bytes'])}, time {made['time_limit'] or 'partition default'}"
        )
    for group in skipped:
        click.echo(f"Group {group.name} already has an allocation submitted or running.")
    click.echo(f"Follow with: torc slurm status {workflow_id}")


def _nothing_ready(opts: Options, workflow_id: int) -> None:
    if opts.json:
        echo_json(
            {
                "workflow_id": workflow_id,
                "token_expires_at": None,
                "allocations": [],
                "groups_with_active_allocation": [],
            }
        )
        return
    click.echo(
        f"Workflow {workflow_id} has no ready jobs: nothing submitted, and no runner token "
        f"minted. See `torc workflows status {workflow_id}`."
    )


@click.group("slurm")
def slurm() -> None:
    """Slurm allocations of a workflow (see `torc submit-slurm`)."""


@slurm.command("status", epilog=examples("torc slurm status 3", "torc slurm status 3 -f json"))
@workflow_argument
@command
@pass_options
def slurm_status(opts: Options, workflow_id: int | None) -> None:
    """Show a workflow's Slurm allocations: what each asked for, its state here and Slurm's
    (from squeue, or scontrol for a job that left the queue)."""
    from teamgate.runner.slurm import slurm_states

    workflow_id = opts.workflow(workflow_id)
    with opts.client() as client:
        allocations = client.list_slurm_allocations(workflow_id)
    ids = [a["slurm_job_id"] for a in allocations if a["slurm_job_id"]]
    try:
        states = slurm_states(ids)
    except OSError as exc:
        click.echo(f"Warning: cannot ask Slurm ({exc}): its states are not shown.", err=True)
        states = {}
    rows: list[dict[str, Any]] = [
        {**a, "slurm_state": states.get(a["slurm_job_id"] or "")} for a in allocations
    ]
    with opts.client() as client:
        rows = [_settle(client, workflow_id, row) for row in rows]
    if opts.json:
        echo_json(rows)
        return
    if not rows:
        click.echo(f"Workflow {workflow_id} has no Slurm allocations.")
        return
    headers = ("ID", "Slurm job", "Group", "CPUs", "Memory", "Time", "State", "Slurm state")
    table = [
        (
            r["id"],
            r["slurm_job_id"],
            r["group_name"],
            r["num_cpus"],
            _mib(r["memory_bytes"]),
            r["time_limit"] or "default",
            r["state"],
            r["slurm_state"] or "",
        )
        for r in rows
    ]
    click.echo(render_table(headers, table))


def _settle(client: Any, workflow_id: int, row: dict[str, Any]) -> dict[str, Any]:
    """An allocation still submitted or running here whose Slurm job has ended is recorded as
    ended (its runner could not say so: killed, timed out, or its token ended with the
    workflow); unchanged when the caller may not change it."""
    from teamgate.client.http import ApiError

    ended = SLURM_ENDED.get((row["slurm_state"] or "").split()[0] if row["slurm_state"] else "")
    if row["state"] not in ("submitted", "running") or ended is None:
        return row
    try:
        changed = client.update_slurm_allocation(workflow_id, row["id"], {"state": ended})
    except ApiError:
        return row
    return {**row, **changed}


def cancel_allocations(client: Any, workflow_id: int) -> tuple[list[str], str | None]:
    """scancel the workflow's submitted or running allocations and mark them canceled:
    (the Slurm job ids canceled, a warning when Slurm could not be asked)."""
    import subprocess

    from teamgate.client.http import ApiError

    try:
        listed = client.list_slurm_allocations(workflow_id)
    except ApiError as exc:
        if exc.status in (404, 405):  # a server without Slurm allocations (Torc's own)
            return [], None
        raise
    active = [a for a in listed if a["state"] in ("submitted", "running")]
    if not active:
        return [], None
    ids = [a["slurm_job_id"] for a in active if a["slurm_job_id"]]
    warning = None
    if ids:
        try:
            done = subprocess.run(
                ["scancel", *ids], capture_output=True, text=True, timeout=60, check=False
            )
            if done.returncode != 0:
                warning = f"scancel failed: {done.stderr.strip() or done.returncode}"
        except OSError as exc:
            warning = f"cannot run scancel ({exc}): cancel Slurm jobs {', '.join(ids)} yourself"
    if warning is None:
        for allocation in active:
            client.update_slurm_allocation(workflow_id, allocation["id"], {"state": "canceled"})
    return ids if warning is None else [], warning
