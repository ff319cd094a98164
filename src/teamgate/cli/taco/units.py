"""`taco unit`: Terraform/OpenTofu state units, their locks, versions and sharing."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import Any

import click

from teamgate.cli.common import access_option, answer, examples
from teamgate.cli.output import dumps, echo_json
from teamgate.cli.progress import counting, transfer, wanted
from teamgate.cli.taco.common import (
    AliasGroup,
    Options,
    alias,
    command,
    fields_table,
    listing,
    local_error,
    pass_options,
    quiet_option,
    table_total,
    when,
)


@click.group(
    cls=AliasGroup,
    epilog=examples(
        "taco unit create dev/app",
        "taco unit ls dev",
        "taco unit push dev/app terraform.tfstate",
        "taco unit pull dev/app terraform.tfstate",
        "taco unit lock dev/app",
        "taco unit versions dev/app",
    ),
)
def unit() -> None:
    """Terraform/OpenTofu state units: create, list, pull, push, lock, versions, sharing."""


@unit.command("create")
@click.argument("path")
@command
@pass_options
def unit_create(opts: Options, path: str) -> None:
    """Create an empty unit (you own it)."""
    with opts.client() as client:
        created = client.create_unit(path)
    echo_json(created) if opts.json else click.echo(f"Unit created: {created['path']}")


@unit.command(
    "ls",
    epilog=examples(
        "taco unit ls",
        "taco unit ls dev/",
        "taco -o json unit ls | jq -r '.[].path'",
    ),
)
@click.argument("prefix", required=False)
@click.option(
    "--page-size",
    type=click.IntRange(1, 10_000),
    default=1000,
    show_default=True,
    help="Units per request; the list follows the server's pages to the end.",
)
@quiet_option("running count while following pages")
@command
@pass_options
def unit_ls(opts: Options, prefix: str | None, page_size: int, quiet: bool) -> None:
    """List the units you may read, optionally under PREFIX (whole segments: dev ≠ devops)."""
    with opts.client() as client:
        units = client.iter_units(prefix, page_size=page_size)
        if opts.json:
            _echo_json_list(units)
            return
        # the table needs every width first; past the first page, count on the terminal
        counted = counting(units, "Listing units", enabled=wanted(quiet=quiet), after=page_size)
        rows = [_unit_row(u) for u in counted]
    if not rows:
        click.echo("No units found")
    else:
        click.echo(table_total(("ID", "SIZE", "UPDATED", "LOCKED"), rows, "unit"))


def _unit_row(found: dict[str, Any]) -> tuple[Any, ...]:
    return (found["path"], found["size"], when(found.get("updated_at")), _locked(found))


def _locked(found: dict[str, Any]) -> str:
    """`yes (alice)`: locked, and by which teamgate user (`yes` alone: not recorded)."""
    if not found.get("locked"):
        return ""
    holder = found.get("locked_by")
    return f"yes ({holder})" if holder else "yes"


def _echo_json_list(items: Iterable[Any]) -> None:
    """Print `items` exactly as `echo_json(list(items))` would, one item at a time (so that a
    long list is never held in memory)."""
    import textwrap

    first = True
    for item in items:
        click.echo(("[\n" if first else ",\n") + textwrap.indent(dumps(item), "  "), nl=False)
        first = False
    click.echo("[]" if first else "\n]")


@unit.command("info")
@click.argument("path")
@command
@pass_options
def unit_info(opts: Options, path: str) -> None:
    """Show a unit's metadata (owner, size, hash, lock, groups)."""
    with opts.client() as client:
        found = client.get_unit(path)
    echo_json(found) if opts.json else click.echo(fields_table(_info_fields(found)))


def _info_fields(found: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Every field of `unit info`; the lock's own fields as `lock.Who` and so on, with the
    teamgate user holding the lock (`locked_by`) right after what its client said (`Who`)."""
    beside_who = isinstance(found.get("lock"), dict) and "Who" in found["lock"]
    for name, value in found.items():
        if name == "shares" or (name == "locked_by" and beside_who):
            continue
        if name == "groups" and "shares" in found:  # each with its share's level
            yield name, ", ".join(f"{s['group']} ({s['access']})" for s in found["shares"])
        elif isinstance(value, dict):
            for key, inner in value.items():
                yield f"{name}.{key}", _shown(key, inner)
                if name == "lock" and key == "Who" and beside_who:
                    yield "locked_by", found.get("locked_by") or "-"
        else:
            yield name, _shown(name, value)


def _shown(name: str, value: Any) -> Any:
    if value is None and name in ("written_by", "token_id"):
        return "-"  # a password, or a state written before writers were recorded
    if isinstance(value, bool):
        return "yes" if value else "no"
    return when(value) if name.endswith("_at") or name == "Created" else value


@unit.command(
    "pull",
    epilog=examples(
        "taco unit pull dev/app terraform.tfstate",
        "taco unit pull dev/app > state.json",
        "taco unit pull dev/app - | jq .serial",
    ),
)
@click.argument("path")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@quiet_option("progress bar")
@command
@pass_options
def unit_pull(opts: Options, path: str, file: str | None, quiet: bool) -> None:
    """Download a unit's state to FILE (replaced only on success), or to stdout."""
    from pathlib import Path

    from teamgate.client.taco import atomic_output

    target = None if file is None or file == "-" else Path(file)
    # a bar beside state printed on the same terminal would garble both
    show = wanted(quiet=quiet, json=opts.json) and not (target is None and sys.stdout.isatty())
    with opts.client() as client:
        total = client.get_unit(path).get("size") if show else None
        with transfer(f"Downloading {path}", show=show, total=total) as progress:
            if target is None:
                client.download_state(path, sys.stdout.buffer, progress=progress)
                sys.stdout.buffer.flush()
                return
            with atomic_output(target) as out:
                size = client.download_state(path, out, progress=progress)
    if opts.json:
        echo_json({"path": path, "file": str(target), "size": size})
    else:
        click.echo(f"Unit downloaded to: {target} ({size} bytes)")


@unit.command(
    "push",
    epilog=examples(
        "taco unit push dev/app terraform.tfstate",
        "terraform state pull | taco unit push dev/app -",
        "taco unit push dev/app terraform.tfstate --lock-id 5f2c0d1e",
    ),
)
@click.argument("path")
@click.argument("file", type=click.File("rb", lazy=False))
@click.option("--lock-id", help="Lock to write under (default: the one 'taco unit lock' saved).")
@quiet_option("progress bar")
@command
@pass_options
def unit_push(opts: Options, path: str, file: Any, lock_id: str | None, quiet: bool) -> None:
    """Upload FILE (or - for stdin) as the unit's new state; the old one becomes a version."""
    lock_id = lock_id or opts.locks().find(path)
    show = wanted(quiet=quiet, json=opts.json)
    with opts.client() as client, transfer(f"Uploading {path}", show=show) as bar:
        updated = client.upload_state(path, file, lock_id=lock_id, progress=bar)
    echo_json(updated) if opts.json else click.echo(f"Unit uploaded: {path}")


@unit.command(
    "lock",
    epilog=examples(
        "taco unit lock dev/app",
        "taco unit push dev/app terraform.tfstate   # under the saved lock",
        "taco unit unlock dev/app",
    ),
)
@click.argument("path")
@command
@pass_options
def unit_lock(opts: Options, path: str) -> None:
    """Lock a unit; the lock ID is saved so that push, restore and unlock use it."""
    import socket
    import uuid

    from teamgate.client.taco import lock_field

    wanted = str(uuid.uuid4())
    with opts.client() as client:
        lock = client.lock_unit(path, lock_id=wanted, who=f"taco@{socket.gethostname()}")
    lock_id = lock_field(lock, "id") or wanted
    opts.locks().save(path, lock_id, who=lock_field(lock, "who"))
    echo_json(lock) if opts.json else click.echo(f"Unit locked: {path} (lock ID: {lock_id})")


@unit.command(
    "unlock",
    epilog=examples(
        "taco unit unlock dev/app",
        "taco unit unlock dev/app 5f2c0d1e",
        "taco unit unlock dev/app --force",
    ),
)
@click.argument("path")
@click.argument("lock_id", required=False)
@click.option("--force", is_flag=True, help="Remove whoever's lock it is (needs unit.lock).")
@command
@pass_options
def unit_unlock(opts: Options, path: str, lock_id: str | None, force: bool) -> None:
    """Unlock a unit with LOCK_ID, the saved lock ID, or --force."""
    locks = opts.locks()
    lock_id = lock_id or locks.find(path)
    if not lock_id and not force:
        raise local_error(
            f"no lock ID given and none saved for {path}; "
            "pass the lock ID or use --force to remove someone else's lock"
        )
    with opts.client() as client:
        result = client.unlock_unit(path, lock_id=lock_id, force=force)
    locks.remove(path)
    if opts.json:
        echo_json(result)
    elif force and result.get("locked_by"):  # say whose lock was removed
        click.echo(f"Unit unlocked: {path} (removed the lock of {result['locked_by']})")
    else:
        click.echo(f"Unit unlocked: {path}")


@unit.command("rm")
@click.argument("path")
@click.option("-y", "--yes", is_flag=True, help="Do not ask to confirm.")
@command
@pass_options
def unit_rm(opts: Options, path: str, yes: bool) -> None:
    """Delete a unit with its state and versions (asks first on a terminal)."""
    if not yes and sys.stdin.isatty():
        click.confirm(f"Delete unit {path} and all its versions?", abort=True)
    with opts.client() as client:
        deleted = client.delete_unit(path)
    opts.locks().remove(path)
    echo_json(deleted) if opts.json else click.echo(f"Unit deleted: {path}")


@unit.command(
    "versions",
    epilog=examples(
        "taco unit versions dev/app",
        "taco -o json unit versions dev/app | jq -r '.[] | [.version, .written_by] | @tsv'",
        "taco unit restore dev/app 3",
    ),
)
@click.argument("path")
@command
@pass_options
def unit_versions(opts: Options, path: str) -> None:
    """List a unit's earlier states, newest first: when each was written, by which teamgate
    user and with which API token ("-": a password, or written before writers were recorded)."""

    def row(v: dict[str, Any]) -> tuple[Any, ...]:
        return (
            v["version"],
            when(v.get("created_at")),
            v.get("written_by") or "-",
            "-" if v.get("token_id") is None else v["token_id"],
            v.get("size"),
            (v.get("sha256") or "")[:12],
        )

    headers = ("VERSION", "CREATED", "WRITTEN BY", "TOKEN", "SIZE", "HASH")
    answer(opts, lambda client: client.list_versions(path), listing(headers, row, "version"))


@unit.command(
    "restore", epilog=examples("taco unit versions dev/app", "taco unit restore dev/app 3")
)
@click.argument("path")
@click.argument("version", type=click.IntRange(min=0))
@click.option("--lock-id", help="Lock to write under (default: the one 'taco unit lock' saved).")
@command
@pass_options
def unit_restore(opts: Options, path: str, version: int, lock_id: str | None) -> None:
    """Make an earlier version the unit's state again (the current one is kept as a version)."""
    lock_id = lock_id or opts.locks().find(path)
    with opts.client() as client:
        restored = client.restore_version(path, version, lock_id=lock_id)
    if opts.json:
        echo_json(restored)
    else:
        digest = (restored.get("sha256") or "")[:12]
        click.echo(f"Unit {path} restored to version {version} (hash: {digest})")


@unit.command(
    "share",
    epilog=examples(
        "taco unit share dev/app data-team                # write: read, write, lock",
        "taco unit share dev/app auditors --access read",
        "taco unit info dev/app",
    ),
)
@click.argument("path")
@click.argument("group")
@access_option("unit")
@command
@pass_options
def unit_share(opts: Options, path: str, group: str, access: str | None) -> None:
    """Let the members of an access group use a unit, at a level: read, write (the default)
    or admin. Sharing it again with another level changes the level."""
    answer(
        opts,
        lambda client: client.share_unit(path, group, access=access),
        lambda out: out.get("message") or f"Unit {path} shared with group '{group}'",
    )


@unit.command(
    "access",
    epilog=examples(
        "taco unit access dev/app",
        "taco -o json unit access dev/app | jq -r '.users[].user'",
    ),
)
@click.argument("path")
@command
@pass_options
def unit_access(opts: Options, path: str) -> None:
    """Who can reach a unit, and how: every user and group.

    Lists the groups the unit is shared with (and their levels), every user who may read,
    write, lock, delete or share it with what allows each action (owner, a group and its
    level, an RBAC rule and its role), the deny rules that take actions from someone, and
    what system administrators may do as such. The server asks its own access decision
    about each candidate, so this is what their requests would get. For the unit's owner,
    its admin-level groups, RBAC managers and system administrators.
    """
    from teamgate.cli.reach import reach_text

    answer(opts, lambda client: client.unit_access(path), reach_text)


@unit.command("unshare")
@click.argument("path")
@click.argument("group")
@command
@pass_options
def unit_unshare(opts: Options, path: str, group: str) -> None:
    """Stop sharing a unit with an access group."""
    answer(
        opts,
        lambda client: client.unshare_unit(path, group),
        lambda _: f"Unit {path} no longer shared with group '{group}'",
    )


alias(unit, "ls", "list")
alias(unit, "info", "show", "describe")
alias(unit, "rm", "delete", "remove")
