"""`taco`: the OpenTaco command-line client (login, RBAC, units).

httpx and the client modules are imported inside the commands, so `taco --help` starts fast.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from teamgate.cli.common import FORMAT, leaf_command
from teamgate.cli.output import echo_json, render_table

if TYPE_CHECKING:
    from teamgate.client.taco import LockStore, TacoClient


DEFAULT_SERVER = "http://localhost:8080"
EPILOG = """
\b
Environment:
  OPENTACO_SERVER     server URL (default http://localhost:8080)
  OPENTACO_TOKEN      API token to use instead of the one saved by 'taco login'
  OPENTACO_USERNAME   user name for 'taco login', and with OPENTACO_PASSWORD
  OPENTACO_PASSWORD   HTTP Basic credentials when there is no token
  SSL_CERT_FILE       CA certificates for an https server with a private CA
\b
Examples:
  taco login --username alice
  taco rbac permission create dev-access "Developer Access" "dev units" \\
      --rule "allow:unit.read,unit.write,unit.lock:dev/*"
  taco rbac test bob@example.com pull dev/app
  taco -o json unit ls dev
"""


@dataclass
class Options:
    server: str
    output: str = "table"

    @property
    def json(self) -> bool:
        return self.output == "json"

    def client(self, *, basic: tuple[str, str] | None = None) -> TacoClient:
        """A client with the first credentials found.

        In order: `basic`, OPENTACO_TOKEN, the token saved for this server, then
        OPENTACO_USERNAME with OPENTACO_PASSWORD; none means anonymous.
        """
        from teamgate.client.taco import TacoClient

        token = None if basic else (os.environ.get("OPENTACO_TOKEN") or self.saved_token())
        if token:
            return TacoClient(self.server, headers={"Authorization": f"Bearer {token}"})
        if basic is None:
            user = os.environ.get("OPENTACO_USERNAME")
            password = os.environ.get("OPENTACO_PASSWORD")
            basic = (user, password) if user and password is not None else None
        return TacoClient(self.server, auth=basic)

    def saved_token(self) -> str | None:
        from teamgate.client.taco import CredentialStore

        saved = CredentialStore().find(self.server)
        return saved.token if saved else None

    def locks(self) -> LockStore:
        from teamgate.client.taco import LockStore

        return LockStore(self.server)


def _store_format(ctx: click.Context, value: str) -> None:
    ctx.find_object(Options).output = value  # type: ignore[union-attr]


command = leaf_command("-o", "--output", apply=_store_format)


def _local_error(message: str) -> Exception:
    from teamgate.errors import Invalid

    return Invalid(message)


class AliasGroup(click.Group):
    """A group whose commands may have aliases (`unit ls` = `unit list`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.aliases: dict[str, str] = {}

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, self.aliases.get(cmd_name, cmd_name))

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        _name, cmd, rest = super().resolve_command(ctx, args)
        return (cmd.name if cmd else _name), cmd, rest

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        labelled = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is None or cmd.hidden:
                continue
            extra = [a for a, target in self.aliases.items() if target == name]
            labelled.append((f"{name} ({', '.join(extra)})" if extra else name, cmd))
        if labelled:
            limit = formatter.width - 6 - max(len(label) for label, _ in labelled)
            with formatter.section("Commands"):
                formatter.write_dl([(lbl, cmd.get_short_help_str(limit)) for lbl, cmd in labelled])


@click.group(
    cls=AliasGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.option(
    "--server",
    envvar="OPENTACO_SERVER",
    default=DEFAULT_SERVER,
    show_default=True,
    help="Server URL [env: OPENTACO_SERVER].",
)
@click.option(
    "-o",
    "--output",
    "output_format",
    type=FORMAT,
    default="table",
    help="Output format (table or json); also accepted after the subcommand.",
)
@click.version_option(package_name="teamgate", prog_name="taco (teamgate)")
@click.pass_context
def cli(ctx: click.Context, server: str, output_format: str) -> None:
    """OpenTaco client: Terraform state units and role-based access control."""
    ctx.obj = Options(server=server.strip().rstrip("/"), output=output_format.lower())


pass_options = click.make_pass_decorator(Options)


def alias(group: click.Group, name: str, *aliases: str) -> None:
    """Let `aliases` stand for the command `name` of `group` (an AliasGroup)."""
    assert isinstance(group, AliasGroup) and name in group.commands
    for other in aliases:
        group.aliases[other] = name


def _when(value: Any) -> str:
    """An ISO timestamp as `2006-01-02 15:04:05` (as OpenTaco prints them)."""
    if not value:
        return ""
    try:
        return datetime.fromisoformat(str(value)).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return str(value)


def _table(headers: tuple[str, ...], rows: Iterable[tuple[Any, ...]], total: str) -> None:
    click.echo(render_table(headers, list(rows)))
    click.echo()
    click.echo(total)


# -- login, logout, whoami -----------------------------------------------------------------


@cli.command()
@click.option("--username", "-u", envvar="OPENTACO_USERNAME", help="[env: OPENTACO_USERNAME]")
@click.option(
    "--password",
    envvar="OPENTACO_PASSWORD",
    help="[env: OPENTACO_PASSWORD] Visible to other local users; prefer the env var or the prompt.",
)
@click.option("--ttl-days", type=click.IntRange(1, 365), help="Token lifetime (server default 30).")
@command
@click.pass_context
def login(
    ctx: click.Context, username: str | None, password: str | None, ttl_days: int | None
) -> None:
    """Sign in with user name and password; saves an API token for this server."""
    from teamgate.client.taco import CredentialStore, SavedToken

    opts = ctx.find_object(Options)
    assert opts is not None
    if password is not None and (
        ctx.get_parameter_source("password") is click.core.ParameterSource.COMMANDLINE
    ):
        click.echo(
            "Warning: --password is visible to other users in the process list; "
            "prefer OPENTACO_PASSWORD or the prompt.",
            err=True,
        )
    if not username:
        username = click.prompt("Username", default=os.environ.get("USER") or None, err=True)
    if password is None:
        password = click.prompt("Password", hide_input=True, err=True)
    assert username is not None and password is not None
    with opts.client(basic=(username, password)) as client:
        issued = client.issue_token(
            description=f"taco on {socket.gethostname()}", ttl_days=ttl_days
        )
    saved = SavedToken(issued["token"], issued["user"], issued.get("expires_at"), issued.get("id"))
    CredentialStore().save(opts.server, saved)
    if opts.json:
        echo_json({k: v for k, v in issued.items() if k != "token"} | {"server": opts.server})
    else:
        click.echo(f"Logged in to {opts.server} as {saved.user} (token expires {saved.expires_at})")


@cli.command()
@command
@pass_options
def logout(opts: Options) -> None:
    """Revoke the saved token on the server and forget it."""
    from teamgate.client.http import ApiError
    from teamgate.client.taco import CredentialStore, TacoClient

    store = CredentialStore()
    saved = store.find(opts.server)
    if saved is None:
        click.echo(f"Not logged in to {opts.server}")
        return
    with TacoClient(opts.server, headers={"Authorization": f"Bearer {saved.token}"}) as client:
        try:
            client.revoke_token()
        except ApiError as exc:
            if exc.status != 401:  # 401: already expired or revoked; forgetting it is enough
                raise
    store.remove(opts.server)
    click.echo(f"Logged out of {opts.server}")


@cli.command()
@command
@pass_options
def whoami(opts: Options) -> None:
    """Show the identity the server sees for your credentials."""
    with opts.client() as client:
        me = client.whoami()
    if opts.json:
        echo_json(me)
        return
    click.echo(f"Server: {opts.server}")
    if not me.get("user"):
        click.echo("User: anonymous (no credentials; run 'taco login')")
        return
    click.echo(f"User: {me['user']}")
    click.echo(f"Authenticated with: {me.get('auth')}")
    click.echo(f"System administrator: {'yes' if me.get('system_admin') else 'no'}")


# -- rbac ------------------------------------------------------------------------------------


@cli.group(cls=AliasGroup)
def rbac() -> None:
    """Role-based access control: permissions, roles, user assignments."""


@rbac.command("init")
@command
@pass_options
def rbac_init(opts: Options) -> None:
    """Create the built-in admin and default roles and make you the RBAC administrator."""
    with opts.client() as client:
        result = client.rbac_init()
    if opts.json:
        echo_json(result)
        return
    click.echo("RBAC system initialized successfully!")
    click.echo(f"Admin role assigned to: {result.get('admin')}")
    click.echo("Default permissions and roles created.")


@rbac.command("me")
@command
@pass_options
def rbac_me(opts: Options) -> None:
    """Show your roles, permissions and rules."""
    with opts.client() as client:
        me = client.rbac_me()
    click.echo(json.dumps(me, indent=2, sort_keys=True, ensure_ascii=False))


# operation → (action, needs a unit); `ls`/`list` take an optional unit, `manage` none
OPERATIONS: dict[str, tuple[str, bool | None]] = {
    "read": ("unit.read", True),
    "pull": ("unit.read", True),
    "write": ("unit.write", True),
    "push": ("unit.write", True),
    "create": ("unit.write", True),
    "lock": ("unit.lock", True),
    "unlock": ("unit.lock", True),
    "delete": ("unit.delete", True),
    "rm": ("unit.delete", True),
    "ls": ("unit.read", None),
    "list": ("unit.read", None),
    "manage": ("rbac.manage", False),
}


def _operation(operation: str, unit: str | None) -> tuple[str, str]:
    """The (action, resource) that `rbac test` asks about; a usage error when it makes no sense."""
    known = OPERATIONS.get(operation.lower())
    if known is None:
        raise click.UsageError(
            f"unknown operation '{operation}'; use one of: {', '.join(OPERATIONS)}"
        )
    action, needs_unit = known
    if needs_unit and not unit:
        raise click.UsageError(
            f"operation '{operation}' needs a unit path, e.g. "
            f"'taco rbac test bob@example.com {operation} myapp/prod'"
        )
    if needs_unit is False and unit:
        raise click.UsageError(f"operation '{operation}' takes no unit (it tests {action} on '*')")
    return action, unit or "*"


@rbac.command("test")
@click.argument("email")
@click.argument("operation")
@click.argument("unit", required=False)
@command
@pass_options
def rbac_test(opts: Options, email: str, operation: str, unit: str | None) -> None:
    """Would EMAIL be allowed OPERATION on UNIT, and why? Changes nothing.

    OPERATION: read|pull, write|push|create, lock|unlock, delete|rm (these need UNIT),
    ls|list (UNIT optional) or manage.
    """
    action, resource = _operation(operation, unit)
    with opts.client() as client:
        result = client.rbac_test(email, action, resource)
    if opts.json:
        echo_json(result)
        return
    click.echo(f"Testing operation for user: {email}")
    click.echo(f"Operation: {operation}{f' {unit}' if unit else ''}")
    click.echo(f"Result: {result['status']}")
    if result.get("reason"):
        click.echo(f"Reason: {result['reason']}")
    click.echo(f"User roles: {', '.join(result.get('user_roles') or []) or 'none'}")
    permissions = result.get("applicable_permissions") or []
    click.echo(f"Applicable permissions: {', '.join(permissions) or 'none'}")


@rbac.group("permission", cls=AliasGroup)
def rbac_permission() -> None:
    """Permissions: named lists of effect:actions:resources rules."""


@rbac_permission.command("create")
@click.argument("permission_id")
@click.argument("name")
@click.argument("description", required=False)
@click.option(
    "--rule",
    "rules",
    multiple=True,
    required=True,
    help="effect:actions:resources, e.g. allow:unit.read,unit.write,unit.lock:dev/* "
    "(repeatable; effect allow or deny; actions unit.read, unit.write, unit.lock, "
    "unit.delete, rbac.manage, workflow.*, *).",
)
@command
@pass_options
def permission_create(
    opts: Options,
    permission_id: str,
    name: str,
    description: str | None,
    rules: tuple[str, ...],
) -> None:
    """Create a permission from one or more rules."""
    with opts.client() as client:
        created = client.create_permission(
            permission_id, name=name, description=description, rules=list(rules)
        )
    if opts.json:
        echo_json(created)
    else:
        click.echo(f"Permission '{created['id']}' created successfully")


@rbac_permission.command("list")
@command
@pass_options
def permission_list(opts: Options) -> None:
    """List permissions with their rules."""
    with opts.client() as client:
        items = client.list_permissions()
    if opts.json:
        echo_json(items)
    elif not items:
        click.echo("No permissions found")
    else:
        rows = (
            (
                p["id"],
                p["name"],
                p.get("description"),
                "; ".join(p["rules"]),
                _when(p["created_at"]),
            )
            for p in items
        )
        headers = ("ID", "NAME", "DESCRIPTION", "RULES", "CREATED")
        _table(headers, rows, f"Total: {len(items)} permissions")


@rbac_permission.command("delete")
@click.argument("permission_id")
@command
@pass_options
def permission_delete(opts: Options, permission_id: str) -> None:
    """Delete a permission (and remove it from every role)."""
    with opts.client() as client:
        result = client.delete_permission(permission_id)
    if opts.json:
        echo_json(result)
    else:
        click.echo(f"Permission '{permission_id}' deleted successfully")


alias(rbac_permission, "delete", "rm")
alias(rbac_permission, "list", "ls")


@rbac.group("role", cls=AliasGroup)
def rbac_role() -> None:
    """Roles: sets of permissions given to users."""


@rbac_role.command("create")
@click.argument("role_id")
@click.argument("name")
@click.argument("description", required=False)
@command
@pass_options
def role_create(opts: Options, role_id: str, name: str, description: str | None) -> None:
    """Create a role (then give it permissions with assign-permission)."""
    with opts.client() as client:
        created = client.create_role(role_id, name=name, description=description)
    if opts.json:
        echo_json(created)
    else:
        click.echo(f"Role {created['id']} created successfully: {created['name']}")


@rbac_role.command("list")
@command
@pass_options
def role_list(opts: Options) -> None:
    """List roles with their permissions."""
    with opts.client() as client:
        items = client.list_roles()
    if opts.json:
        echo_json(items)
    elif not items:
        click.echo("No roles found")
    else:
        rows = (
            (
                r["id"],
                r["name"],
                r.get("description"),
                ", ".join(r["permissions"]),
                _when(r["created_at"]),
            )
            for r in items
        )
        headers = ("ID", "NAME", "DESCRIPTION", "PERMISSIONS", "CREATED")
        _table(headers, rows, f"Total: {len(items)} roles")


@rbac_role.command("delete")
@click.argument("role_id")
@command
@pass_options
def role_delete(opts: Options, role_id: str) -> None:
    """Delete a role (and take it away from every user)."""
    with opts.client() as client:
        result = client.delete_role(role_id)
    if opts.json:
        echo_json(result)
    else:
        click.echo(f"Role {role_id} deleted successfully")


@rbac_role.command("assign-permission")
@click.argument("role_id")
@click.argument("permission_id")
@command
@pass_options
def role_assign_permission(opts: Options, role_id: str, permission_id: str) -> None:
    """Add a permission to a role."""
    with opts.client() as client:
        result = client.assign_permission(role_id, permission_id)
    if opts.json:
        echo_json(result)
    else:
        click.echo(f"Permission '{permission_id}' assigned to role '{role_id}' successfully")


@rbac_role.command("revoke-permission")
@click.argument("role_id")
@click.argument("permission_id")
@command
@pass_options
def role_revoke_permission(opts: Options, role_id: str, permission_id: str) -> None:
    """Remove a permission from a role."""
    with opts.client() as client:
        result = client.revoke_permission(role_id, permission_id)
    if opts.json:
        echo_json(result)
    else:
        click.echo(f"Permission '{permission_id}' revoked from role '{role_id}' successfully")


alias(rbac_role, "assign-permission", "assign-policy")
alias(rbac_role, "delete", "rm")
alias(rbac_role, "list", "ls")


@rbac.group("user", cls=AliasGroup)
def rbac_user() -> None:
    """Give users (by user name or e-mail) roles."""


@rbac_user.command("assign")
@click.argument("email")
@click.argument("role_id")
@command
@pass_options
def user_assign(opts: Options, email: str, role_id: str) -> None:
    """Give a user a role."""
    with opts.client() as client:
        result = client.assign_role(email, role_id)
    if opts.json:
        echo_json(result)
    elif result.get("changed", True):
        click.echo(f"Role {role_id} assigned to {email}")
    else:
        click.echo(f"Role {role_id} was already assigned to {email}")


@rbac_user.command("unassign")
@click.argument("email")
@click.argument("role_id")
@command
@pass_options
def user_unassign(opts: Options, email: str, role_id: str) -> None:
    """Take a role away from a user."""
    with opts.client() as client:
        result = client.revoke_role(email, role_id)
    if opts.json:
        echo_json(result)
    else:
        click.echo(f"Role {role_id} revoked from {email}")


@rbac_user.command("list")
@command
@pass_options
def user_list(opts: Options) -> None:
    """List users and their roles."""
    with opts.client() as client:
        items = client.list_users()
    if opts.json:
        echo_json(items)
    elif not items:
        click.echo("No user assignments found")
    else:
        rows = (
            (u["subject"], u["email"], ", ".join(u["roles"]), _when(u.get("updated_at")))
            for u in items
        )
        headers = ("SUBJECT", "EMAIL", "ROLES", "UPDATED")
        _table(headers, rows, f"Total: {len(items)} user assignments")


alias(rbac_user, "unassign", "revoke")
alias(rbac_user, "list", "ls")


# -- units -------------------------------------------------------------------------------------


@cli.group(cls=AliasGroup)
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


@unit.command("ls")
@click.argument("prefix", required=False)
@command
@pass_options
def unit_ls(opts: Options, prefix: str | None) -> None:
    """List the units you may read, optionally under PREFIX (whole segments: dev ≠ devops)."""
    with opts.client() as client:
        result = client.list_units(prefix)
    units = result["units"]
    if opts.json:
        echo_json(units)
    elif not units:
        click.echo("No units found")
    else:
        rows = (
            (u["path"], u["size"], _when(u.get("updated_at")), "yes" if u.get("locked") else "")
            for u in units
        )
        _table(("ID", "SIZE", "UPDATED", "LOCKED"), rows, f"Total: {result['count']} units")


@unit.command("info")
@click.argument("path")
@command
@pass_options
def unit_info(opts: Options, path: str) -> None:
    """Show a unit's metadata (owner, size, hash, lock, groups) as JSON."""
    with opts.client() as client:
        echo_json(client.get_unit(path))


@unit.command("pull")
@click.argument("path")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@command
@pass_options
def unit_pull(opts: Options, path: str, file: Path | None) -> None:
    """Download a unit's state to FILE (replaced only on success), or to stdout."""
    from teamgate.client.taco import atomic_output

    with opts.client() as client:
        if file is None or str(file) == "-":
            client.download_state(path, sys.stdout.buffer)
            sys.stdout.buffer.flush()
            return
        with atomic_output(file) as out:
            size = client.download_state(path, out)
    if opts.json:
        echo_json({"path": path, "file": str(file), "size": size})
    else:
        click.echo(f"Unit downloaded to: {file} ({size} bytes)")


@unit.command("push")
@click.argument("path")
@click.argument("file", type=click.File("rb", lazy=False))
@click.option("--lock-id", help="Lock to write under (default: the one 'taco unit lock' saved).")
@command
@pass_options
def unit_push(opts: Options, path: str, file: Any, lock_id: str | None) -> None:
    """Upload FILE (or - for stdin) as the unit's new state; the old one becomes a version."""
    lock_id = lock_id or opts.locks().find(path)
    with opts.client() as client:
        updated = client.upload_state(path, file, lock_id=lock_id)
    echo_json(updated) if opts.json else click.echo(f"Unit uploaded: {path}")


@unit.command("lock")
@click.argument("path")
@command
@pass_options
def unit_lock(opts: Options, path: str) -> None:
    """Lock a unit; the lock ID is saved so that push, restore and unlock use it."""
    from teamgate.client.taco import lock_field

    wanted = str(uuid.uuid4())
    with opts.client() as client:
        lock = client.lock_unit(path, lock_id=wanted, who=f"taco@{socket.gethostname()}")
    lock_id = lock_field(lock, "id") or wanted
    opts.locks().save(path, lock_id, who=lock_field(lock, "who"))
    echo_json(lock) if opts.json else click.echo(f"Unit locked: {path} (lock ID: {lock_id})")


@unit.command("unlock")
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
        raise _local_error(
            f"no lock ID given and none saved for {path}; "
            "pass the lock ID or use --force to remove someone else's lock"
        )
    with opts.client() as client:
        result = client.unlock_unit(path, lock_id=lock_id, force=force)
    locks.remove(path)
    echo_json(result) if opts.json else click.echo(f"Unit unlocked: {path}")


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


@unit.command("versions")
@click.argument("path")
@command
@pass_options
def unit_versions(opts: Options, path: str) -> None:
    """List a unit's earlier states, newest first."""
    with opts.client() as client:
        versions = client.list_versions(path)
    if opts.json:
        echo_json(versions)
    elif not versions:
        click.echo("No versions found")
    else:
        rows = (
            (v["version"], _when(v.get("created_at")), v.get("size"), (v.get("sha256") or "")[:12])
            for v in versions
        )
        _table(("VERSION", "CREATED", "SIZE", "HASH"), rows, f"Total: {len(versions)} versions")


@unit.command("restore")
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


@unit.command("share")
@click.argument("path")
@click.argument("group")
@command
@pass_options
def unit_share(opts: Options, path: str, group: str) -> None:
    """Let the members of an access group use a unit."""
    with opts.client() as client:
        result = client.share_unit(path, group)
    echo_json(result) if opts.json else click.echo(f"Unit {path} shared with group '{group}'")


@unit.command("unshare")
@click.argument("path")
@click.argument("group")
@command
@pass_options
def unit_unshare(opts: Options, path: str, group: str) -> None:
    """Stop sharing a unit with an access group."""
    with opts.client() as client:
        result = client.unshare_unit(path, group)
    if opts.json:
        echo_json(result)
    else:
        click.echo(f"Unit {path} no longer shared with group '{group}'")


alias(unit, "ls", "list")
alias(unit, "info", "show", "describe")
alias(unit, "rm", "delete", "remove")


def main() -> None:
    cli(prog_name="taco")
