"""`torc-server run`: start the teamgate server."""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import socket
import stat
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from teamgate import __version__
from teamgate.errors import ConfigError
from teamgate.settings import (
    SETTINGS,
    Setting,
    Settings,
    config_files,
    default_config_paths,
    load_settings,
)

log = logging.getLogger("teamgate.server")
FC = TypeVar("FC", bound=Callable[..., Any])

ENFORCED = (
    "Access control is ENABLED - users can only access their own workflows "
    "and workflows shared via access groups"
)
NOT_ENFORCED = "Access control is DISABLED - every authenticated caller may access everything"

EXAMPLES = """
\b
Examples:
  torc-server run
  torc-server run --port 0                  # pick a free port, printed as TORC_SERVER_PORT=<n>
  torc-server run --database /var/lib/torc/torc.db --auth-file /etc/torc/htpasswd \\
      --require-auth --enforce-access-control --admin-user alice
  torc-server run --config /etc/torc/config.toml   # [server] table; flags override it
  torc-server run --workers 4 --log-format json    # 4 processes, JSON logs, /metrics summed
"""


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="torc-server (teamgate)")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """The teamgate server: Torc API, OpenTaco API and Terraform state backend."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(run)


def _option(record: Setting) -> Callable[[FC], FC]:
    """The `torc-server run` option of one setting, made from its record."""
    decls = list(record.flags)
    if record.kind is bool:
        decls = [f"{flag}/--no-{flag[2:]}" for flag in decls if flag.startswith("--")]
    options: dict[str, Any] = {"help": record.help, "show_default": True}
    if record.repeatable:
        options["multiple"] = True  # and comma-separated in the env var: see `_overrides`
    else:
        options["default"] = record.default
    if record.choices:
        options["type"] = click.Choice(record.choices, case_sensitive=not record.fold_case)
    elif record.kind is int and record.low is not None:
        high = None if record.high is None else int(record.high)
        options["type"] = click.IntRange(int(record.low), high)
    elif record.kind is float and record.low is not None:
        options["type"] = click.FloatRange(record.low, record.high)
    elif record.file:
        options["type"] = click.Path(dir_okay=False)
    if record.env:
        options.update(envvar=record.env, show_envvar=True)
    return click.option(*decls, record.name, **options)


def setting_options(command: FC) -> FC:
    """Every setting's option, in the order the settings are declared."""
    for record in reversed(SETTINGS):
        if record.cli:
            command = _option(record)(command)
    return command


def _overrides(ctx: click.Context, flags: dict[str, Any]) -> dict[str, Any]:
    """The settings given on the command line or in their env var (not click's defaults)."""
    given = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    overrides: dict[str, Any] = {}
    for record in SETTINGS:
        if record.cli and ctx.get_parameter_source(record.name) in given:
            value = flags[record.name]
            if record.repeatable:
                value = tuple(u.strip() for item in value for u in item.split(",") if u.strip())
            overrides[record.name] = value
    return overrides


@cli.command(epilog=EXAMPLES)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="config.toml with a [server] table (default: ./torc.toml, "
    "~/.config/torc/config.toml, /etc/torc/config.toml).",
)
@setting_options
@click.pass_context
def run(ctx: click.Context, /, config_file: Path | None, **flags: Any) -> None:
    """Run the server in the foreground."""
    try:
        read = config_files(config_file)
        settings = load_settings(config_file, _overrides(ctx, flags))
    except ConfigError as exc:
        raise click.ClickException(exc.message) from None
    sys.exit(serve(settings, config_read=read))


def _bind(host: str, port: int) -> socket.socket:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    infos.sort(key=lambda info: info[0] != socket.AF_INET)  # prefer IPv4 for "localhost"
    family, kind, proto, _name, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _log_startup(settings: Settings, user_count: int) -> None:
    if settings.auth_file:
        log.info("Loaded %d users from htpasswd file", user_count)
        if settings.require_auth:
            log.info("Authentication is REQUIRED for all requests")
        else:
            log.info(
                "Authentication is OPTIONAL (missing credentials are anonymous; "
                "wrong credentials are refused)"
            )
    elif not settings.oidc_issuer:
        log.info("No htpasswd file configured, authentication disabled")
    if settings.oidc_issuer:
        log.info(
            "Sign-in through the identity provider %s (client id %s); authentication is %s",
            settings.oidc_issuer,
            settings.oidc_client_id,
            "REQUIRED for all requests" if settings.require_auth else "OPTIONAL",
        )
    log.info(ENFORCED if settings.enforce_access_control else NOT_ENFORCED)
    if settings.admin_users:
        log.info("Admin users configured: %s", json.dumps(list(settings.admin_users)))
    if settings.forwarded_allow_ips:
        proxies = ", ".join(settings.forwarded_allow_ips)
        log.info("Client addresses from X-Forwarded-For are believed from: %s", proxies)


def is_loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1: addresses only this machine can reach."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def security_warnings(settings: Settings) -> list[str]:
    """One line for each risky choice: open to the network, loose htpasswd mode, no TLS."""
    warnings: list[str] = []
    exposed = not is_loopback(settings.host)
    if exposed and not settings.require_auth:
        warnings.append(
            f"SECURITY: serving on {settings.host} without --require-auth: anyone who can reach "
            "this address can use the server anonymously; add --auth-file and --require-auth"
        )
    if exposed and (settings.auth_file or settings.oidc_issuer) and not settings.tls_cert:
        warnings.append(
            f"SECURITY: authentication is on but TLS is off on {settings.host}: passwords and "
            "tokens cross the network in clear text; use --tls-cert/--tls-key or a TLS proxy"
        )
    if "*" in settings.forwarded_allow_ips:
        warnings.append(
            "SECURITY: forwarded_allow_ips '*' believes X-Forwarded-For from every client, so "
            "anyone can choose the address the sign-in throttle and the audit log see; list "
            "your proxies' addresses instead"
        )
    if settings.auth_file:
        mode = _loose_mode(settings.auth_file)
        if mode is not None:
            warnings.append(
                f"SECURITY: htpasswd file {settings.auth_file} is readable or writable by group "
                f"or others (mode {mode:04o}); run: chmod 600 {settings.auth_file}"
            )
    return warnings


def _loose_mode(path: str) -> int | None:
    """The permission bits of `path` when group or others have any; else None."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None
    return mode if mode & 0o077 else None


def config_notes(read: Sequence[Path], cwd: Path | None = None) -> list[tuple[int, str]]:
    """Startup log lines as (level, message): the config files read, or where none was found,
    and a warning for a `config.toml` in the working directory that is not one of them (a new
    user's ./config.toml was silently ignored, and a database appeared in $HOME)."""
    cwd = cwd or Path.cwd()
    read = [(cwd / path).resolve() for path in read]
    lookup = [cwd / path for path in reversed(default_config_paths())]  # highest priority first
    if read:
        notes = [(logging.INFO, f"Read config file {path}") for path in read]
    else:
        looked = ", ".join(map(str, lookup))
        notes = [(logging.INFO, f"No config file found (looked in: {looked})")]
    stray = cwd / "config.toml"
    if stray.is_file() and stray.resolve() not in read:
        notes.append(
            (
                logging.WARNING,
                f"{stray} is not read: the server reads --config FILE, else "
                f"{', '.join(map(str, lookup))}. To use it, run with --config ./config.toml "
                "or rename it to torc.toml",
            )
        )
    return notes


def serve(settings: Settings, *, config_read: Sequence[Path] = ()) -> int:
    """Start the server and block until it stops; returns the exit code."""
    from teamgate.web import serving
    from teamgate.web.app import create_app
    from teamgate.web.logs import configure_logging

    serving.limit_malloc_arenas()  # before any thread: see its docstring
    configure_logging(settings.log_level, settings.log_format)
    log.info("Starting torc-server version=%s (teamgate)", __version__)
    for level, note in config_notes(config_read):
        log.log(level, "%s", note)
    try:
        app = create_app(settings)  # migrates the database, once, before any worker starts
    except ConfigError as exc:
        print(f"Error: {exc.message}", file=sys.stderr)
        return 1
    log.info("Connected to database: %s", app.state.database.url)
    _log_startup(settings, app.state.authenticator.user_count)
    for warning in security_warnings(settings):
        log.warning("%s", warning)
    try:
        sock = _bind(settings.host, settings.port)
    except OSError as exc:
        print(
            f"Error: cannot listen on {settings.host}:{settings.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 1
    port = sock.getsockname()[1]
    log.info("Listening on %s:%d", settings.host, port)
    if settings.port == 0:  # the caller asked for any free port and needs to know which
        print(f"TORC_SERVER_PORT={port}", flush=True)
    if settings.workers == 1:
        return serving.run_one(app, settings, sock)
    app.state.database.dispose()  # the workers open their own
    return serving.run_workers(settings, sock)


def main() -> None:
    cli(prog_name="torc-server")
