"""`torc-server run`: start the teamgate server."""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import socket
import stat
import sys
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from teamgate import __version__
from teamgate.errors import ConfigError
from teamgate.settings import (
    LOG_FORMATS,
    MAX_HEADER_TIMEOUT_SECS,
    MAX_POOL,
    MAX_RETENTION_DAYS,
    MAX_THROTTLE_SECS,
    MAX_WORKERS,
    Settings,
    load_settings,
)

log = logging.getLogger("teamgate.server")

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


# flag name → Settings field, for the overrides that came from the command line
_FLAG_FIELDS = {
    "database": "database",
    "auth_file": "auth_file",
    "require_auth": "require_auth",
    "enforce_access_control": "enforce_access_control",
    "admin_user": "admin_users",
    "host": "host",
    "port": "port",
    "credential_cache_ttl_secs": "credential_cache_ttl_secs",
    "login_throttle": "login_throttle",
    "login_throttle_user_failures": "login_throttle_user_failures",
    "login_throttle_address_failures": "login_throttle_address_failures",
    "login_throttle_window_secs": "login_throttle_window_secs",
    "login_throttle_delay_secs": "login_throttle_delay_secs",
    "login_throttle_max_delay_secs": "login_throttle_max_delay_secs",
    "blob_store": "blob_store",
    "tls_cert": "tls_cert",
    "tls_key": "tls_key",
    "log_level": "log_level",
    "max_body_bytes": "max_body_bytes",
    "max_state_bytes": "max_state_bytes",
    "max_versions": "max_versions",
    "workers": "workers",
    "log_format": "log_format",
    "metrics": "metrics",
    "db_pool_size": "db_pool_size",
    "db_max_overflow": "db_max_overflow",
    "audit_retention_days": "audit_retention_days",
    "header_timeout_secs": "header_timeout_secs",
    "forwarded_allow_ips": "forwarded_allow_ips",
    "public_metrics": "public_metrics",
}
_LIST_FLAGS = ("admin_user", "forwarded_allow_ips")  # repeatable, or comma-separated in the env


@cli.command(epilog=EXAMPLES)
@click.option(
    "-d",
    "--database",
    help="SQLite file path or postgresql:// URL. Default: torc.db in the user's data directory.",
)
@click.option(
    "--auth-file",
    envvar="TORC_AUTH_FILE",
    show_envvar=True,
    help="htpasswd file (bcrypt). Reloaded automatically when it changes.",
)
@click.option(
    "--require-auth/--no-require-auth",
    default=False,
    help="Reject requests without valid credentials (401).",
)
@click.option(
    "--enforce-access-control/--no-enforce-access-control",
    default=False,
    help="Users see only their own workflows and those shared with their groups.",
)
@click.option(
    "--admin-user",
    multiple=True,
    envvar="TORC_ADMIN_USERS",
    show_envvar=True,
    help="System administrator (repeatable; the env var takes a comma-separated list).",
)
@click.option(
    "--host",
    "-u",
    "--url",
    "host",
    default="localhost",
    show_default=True,
    help="Address to bind to.",
)
@click.option(
    "-p",
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="Port; 0 picks a free one (printed as TORC_SERVER_PORT=<n> on stdout).",
)
@click.option(
    "--credential-cache-ttl-secs",
    type=click.FloatRange(min=0),
    default=60,
    envvar="TORC_CREDENTIAL_CACHE_TTL_SECS",
    show_default=True,
    help="Remember successful password checks this long; 0 turns the cache off.",
)
@click.option(
    "--login-throttle/--no-login-throttle",
    default=True,
    show_default=True,
    help="Refuse sign-in attempts (429, Retry-After) after repeated failures for a user name "
    "or from a client address, before checking the password. Counted per process.",
)
@click.option(
    "--login-throttle-user-failures",
    type=click.IntRange(1, 1000),
    default=10,
    show_default=True,
    help="Failed passwords for one user name before its attempts are refused.",
)
@click.option(
    "--login-throttle-address-failures",
    type=click.IntRange(1, 100_000),
    default=50,
    show_default=True,
    help="Failed passwords from one client address before its attempts are refused "
    "(known-good credentials and tokens still pass).",
)
@click.option(
    "--login-throttle-window-secs",
    type=click.FloatRange(1, MAX_THROTTLE_SECS),
    default=900,
    show_default=True,
    help="Failures are forgotten this long after the last one (a success forgets a user's).",
)
@click.option(
    "--login-throttle-delay-secs",
    type=click.FloatRange(0.1, MAX_THROTTLE_SECS),
    default=1,
    show_default=True,
    help="First refusal period; doubled by each further failure.",
)
@click.option(
    "--login-throttle-max-delay-secs",
    type=click.FloatRange(0.1, MAX_THROTTLE_SECS),
    default=300,
    show_default=True,
    help="Longest refusal period (never shorter than the first).",
)
@click.option("--blob-store", help="State blob store: a directory or s3://bucket/prefix.")
@click.option("--tls-cert", type=click.Path(dir_okay=False), help="TLS certificate (PEM).")
@click.option("--tls-key", type=click.Path(dir_okay=False), help="TLS private key (PEM).")
@click.option(
    "--max-body-bytes",
    type=click.IntRange(min=1024),
    default=10 * 1024 * 1024,
    show_default=True,
    help="Largest request body accepted.",
)
@click.option(
    "--max-state-bytes",
    type=click.IntRange(min=1024),
    default=1024 * 1024 * 1024,
    show_default=True,
    help="Largest Terraform state accepted (streamed to the blob store).",
)
@click.option(
    "--max-versions",
    type=click.IntRange(1, 1000),
    default=10,
    show_default=True,
    help="Earlier states kept per unit.",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="config.toml with a [server] table (default: ./torc.toml, "
    "~/.config/torc/config.toml, /etc/torc/config.toml).",
)
@click.option(
    "-l",
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["error", "warn", "warning", "info", "debug", "trace"], case_sensitive=False),
)
@click.option(
    "--log-format",
    type=click.Choice(LOG_FORMATS),
    default="text",
    show_default=True,
    help="json: one object per line (time, level, logger, message; access lines add "
    "method, path, status, duration_ms, user, client).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, MAX_WORKERS),
    default=1,
    show_default=True,
    help="Server processes sharing the port (the database is migrated once, before they start).",
)
@click.option(
    "--metrics/--no-metrics",
    default=True,
    show_default=True,
    help="Serve Prometheus metrics at /metrics (with --require-auth, to any signed-in user "
    "unless --public-metrics).",
)
@click.option(
    "--public-metrics/--no-public-metrics",
    default=False,
    show_default=True,
    help="Serve /metrics without credentials even with --require-auth (for a scraper that "
    "cannot sign in; it holds counts, never user names or unit paths).",
)
@click.option(
    "--db-pool-size",
    type=click.IntRange(1, MAX_POOL),
    default=10,
    show_default=True,
    help="PostgreSQL connections kept open per process (SQLite ignores it).",
)
@click.option(
    "--db-max-overflow",
    type=click.IntRange(0, MAX_POOL),
    default=10,
    show_default=True,
    help="Extra PostgreSQL connections a process may open under load (SQLite ignores it).",
)
@click.option(
    "--audit-retention-days",
    type=click.IntRange(0, MAX_RETENTION_DAYS),
    default=90,
    show_default=True,
    help="Delete audit log events older than this (at startup, then hourly); 0 keeps them.",
)
@click.option(
    "--header-timeout-secs",
    type=click.FloatRange(0.1, MAX_HEADER_TIMEOUT_SECS),
    default=20,
    show_default=True,
    help="Close a connection whose request headers have not all arrived this long after "
    "its request began (slow or stalled clients cannot hold connections open).",
)
@click.option(
    "--forwarded-allow-ips",
    multiple=True,
    envvar="TORC_FORWARDED_ALLOW_IPS",
    show_envvar=True,
    help="A proxy (IP address or network) whose X-Forwarded-For and X-Forwarded-Proto are "
    "believed (repeatable; the env var takes a comma-separated list). Default: none, so the "
    "client address used by the sign-in throttle and the audit log is always the peer's.",
)
@click.pass_context
def run(ctx: click.Context, /, config_file: Path | None, **flags: Any) -> None:
    """Run the server in the foreground."""
    overrides: dict[str, Any] = {}
    for flag, field_name in _FLAG_FIELDS.items():
        source = ctx.get_parameter_source(flag)
        if source in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT):
            value = flags[flag]
            if flag in _LIST_FLAGS:
                value = tuple(u.strip() for item in value for u in item.split(",") if u.strip())
            overrides[field_name] = value
    try:
        settings = load_settings(config_file, overrides)
    except ConfigError as exc:
        raise click.ClickException(exc.message) from None
    sys.exit(serve(settings))


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
    else:
        log.info("No htpasswd file configured, authentication disabled")
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
    if exposed and settings.auth_file and not settings.tls_cert:
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


def serve(settings: Settings) -> int:
    """Start the server and block until it stops; returns the exit code."""
    from teamgate.web import serving
    from teamgate.web.app import create_app
    from teamgate.web.logs import configure_logging

    serving.limit_malloc_arenas()  # before any thread: see its docstring
    configure_logging(settings.log_level, settings.log_format)
    log.info("Starting torc-server version=%s (teamgate)", __version__)
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
    print(f"TORC_SERVER_PORT={port}", flush=True)
    if settings.workers == 1:
        return serving.run_one(app, settings, sock)
    app.state.database.dispose()  # the workers open their own
    return serving.run_workers(settings, sock)


def main() -> None:
    cli(prog_name="torc-server")
