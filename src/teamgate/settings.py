"""Server settings: each one declared once, as a field of `Settings`.

A field's `setting(...)` record says everything about it: default, help, range or choices,
flags, environment variable, extra config keys. From these records come the `[server]` table's
type checks, the range checks, and the `torc-server run` options (see `cli/torc_server.py`).
Command-line flags override the file; a file with an unknown key or a wrong type is an error
that names the key (never a silent fallback to defaults).
"""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from platformdirs import user_config_dir, user_data_dir

from teamgate.errors import ConfigError

LOG_LEVELS = ("error", "warning", "warn", "info", "debug", "trace")
LOG_FORMATS = ("text", "json")
_DAY = 86_400
_POOL = 1000

T = TypeVar("T")


def setting(
    default: T,
    help: str,
    *,
    low: float | None = None,
    high: float | None = None,
    choices: tuple[str, ...] = (),
    flags: tuple[str, ...] = (),
    env: str | None = None,
    aliases: tuple[str, ...] = (),
    file: bool = False,
    cli: bool = True,
    fold_case: bool = False,
) -> T:
    """A `Settings` field with its record. `flags` default to `--<name with dashes>`;
    `cli=False` makes a setting config-only; `file` shows the flag as a FILE path;
    `fold_case` accepts the choices in any case."""
    spec = {
        "help": help,
        "low": low,
        "high": high,
        "choices": choices,
        "flags": flags,
        "env": env,
        "aliases": aliases,
        "file": file,
        "cli": cli,
        "fold_case": fold_case,
    }
    return field(default=default, metadata={"setting": spec})


@dataclass(frozen=True)
class Settings:
    """Everything `torc-server run` can be told. Each field is one setting (see `setting`)."""

    database: str | None = setting(
        None,
        "SQLite file path or postgresql:// URL. Default: torc.db in the user's data directory.",
        flags=("-d", "--database"),
    )
    auth_file: str | None = setting(
        None,
        "htpasswd file (bcrypt). Reloaded automatically when it changes.",
        env="TORC_AUTH_FILE",
    )
    htpasswd_reload_secs: float = setting(
        1.0, "How often the htpasswd file is checked for changes.", low=0.1, high=3600, cli=False
    )
    require_auth: bool = setting(False, "Reject requests without valid credentials (401).")
    enforce_access_control: bool = setting(
        False, "Users see only their own workflows and those shared with their groups."
    )
    admin_users: tuple[str, ...] = setting(
        (),
        "System administrator (repeatable; the env var takes a comma-separated list).",
        flags=("--admin-user",),
        env="TORC_ADMIN_USERS",
    )
    host: str = setting(
        "localhost", "Address to bind to.", flags=("--host", "-u", "--url"), aliases=("url",)
    )
    port: int = setting(
        8080,
        "Port; 0 picks a free one (printed as TORC_SERVER_PORT=<n> on stdout).",
        low=0,
        high=65535,
        flags=("-p", "--port"),
    )
    credential_cache_ttl_secs: float = setting(
        60,
        "Remember successful password checks this long; 0 turns the cache off.",
        low=0,
        env="TORC_CREDENTIAL_CACHE_TTL_SECS",
    )
    completion_check_interval_secs: float = setting(
        30,
        "Accepted for Torc compatibility and unused: completing a job readies or cancels its "
        "dependents in the same transaction, so there is no background check to wait for.",
        low=0.1,
        high=_DAY,
        flags=("-c", "--completion-check-interval-secs"),
    )
    login_throttle: bool = setting(
        True,
        "Refuse sign-in attempts (429, Retry-After) after repeated failures for a user name "
        "or from a client address, before checking the password. Counted per process.",
    )
    login_throttle_user_failures: int = setting(
        10, "Failed passwords for one user name before its attempts are refused.", low=1, high=1000
    )
    login_throttle_address_failures: int = setting(
        50,
        "Failed passwords from one client address before its attempts are refused "
        "(known-good credentials and tokens still pass).",
        low=1,
        high=100_000,
    )
    login_throttle_window_secs: float = setting(
        900,
        "Failures are forgotten this long after the last one (a success forgets a user's).",
        low=1,
        high=_DAY,
    )
    login_throttle_delay_secs: float = setting(
        1, "First refusal period; doubled by each further failure.", low=0.1, high=_DAY
    )
    login_throttle_max_delay_secs: float = setting(
        300, "Longest refusal period (never shorter than the first).", low=0.1, high=_DAY
    )
    blob_store: str | None = setting(None, "State blob store: a directory or s3://bucket/prefix.")
    tls_cert: str | None = setting(None, "TLS certificate (PEM).", file=True)
    tls_key: str | None = setting(None, "TLS private key (PEM).", file=True)
    max_body_bytes: int = setting(10 * 1024 * 1024, "Largest request body accepted.", low=1024)
    max_state_bytes: int = setting(
        1024 * 1024 * 1024,
        "Largest Terraform state accepted (streamed to the blob store).",
        low=1024,
    )
    max_versions: int = setting(10, "Earlier states kept per unit.", low=1, high=1000)
    log_level: str = setting(
        "info",
        "Least severe messages written.",
        choices=LOG_LEVELS,
        flags=("-l", "--log-level"),
        fold_case=True,
    )
    log_format: str = setting(
        "text",
        "json: one object per line (time, level, logger, message; access lines add "
        "method, path, status, duration_ms, user, client).",
        choices=LOG_FORMATS,
    )
    workers: int = setting(
        1,
        "Server processes sharing the port (the database is migrated once, before they start).",
        low=1,
        high=256,
    )
    ui: bool = setting(
        True,
        "Serve the web console under /ui/ (same origin and same decisions as the API).",
    )
    ui_idle_minutes: float = setting(
        30,
        "A web console session ends after this many minutes without a request.",
        low=5,
        high=24 * 60,
    )
    ui_session_hours: float = setting(
        12,
        "A web console session ends this many hours after sign-in, however busy.",
        low=1,
        high=24 * 30,
    )
    metrics: bool = setting(
        True,
        "Serve Prometheus metrics at /metrics (with --require-auth, to any signed-in user "
        "unless --public-metrics).",
    )
    public_metrics: bool = setting(
        False,
        "Serve /metrics without credentials even with --require-auth (for a scraper that "
        "cannot sign in; it holds counts, never user names or unit paths).",
    )
    db_pool_size: int = setting(
        10, "Database connections kept open per process.", low=1, high=_POOL
    )
    db_max_overflow: int = setting(
        10,
        "Extra connections a process may open under load (SQLite keeps them open too).",
        low=0,
        high=_POOL,
    )
    audit_retention_days: int = setting(
        90,
        "Delete audit log events older than this (at startup, then hourly); 0 keeps them.",
        low=0,
        high=100 * 365,
    )
    header_timeout_secs: float = setting(
        20,
        "Close a connection whose request headers have not all arrived this long after "
        "its request began (slow or stalled clients cannot hold connections open).",
        low=0.1,
        high=3600,
    )
    heartbeat_timeout_secs: float = setting(
        120,
        "A runner silent this long (no heartbeat) is lost: its compute node is marked "
        "inactive and its jobs recovered by --lost-job-policy; 0 never declares one lost.",
        low=0,
        high=_DAY,
        flags=("--heartbeat-timeout",),
        env="TORC_HEARTBEAT_TIMEOUT",
    )
    lost_job_policy: str = setting(
        "requeue",
        "What happens to a job running on a lost runner: requeue (ready again, next "
        "attempt) or fail (failed; dependents as after any failure).",
        choices=("requeue", "fail"),
        env="TORC_LOST_JOB_POLICY",
    )
    lost_job_max_attempts: int = setting(
        3,
        "Attempts a job may have under --lost-job-policy requeue: a job lost on its last "
        "allowed attempt is failed instead of made ready again; 0 requeues without limit.",
        low=0,
        high=1000,
        env="TORC_LOST_JOB_MAX_ATTEMPTS",
    )
    forwarded_allow_ips: tuple[str, ...] = setting(
        (),
        "A proxy (IP address or network) whose X-Forwarded-For and X-Forwarded-Proto are "
        "believed (repeatable; the env var takes a comma-separated list). Default: none, so "
        "the client address used by the sign-in throttle and the audit log is always the peer's.",
        env="TORC_FORWARDED_ALLOW_IPS",
    )
    oidc_issuer: str | None = setting(
        None,
        "OpenID Connect issuer URL (https; http only on a loopback address): callers may sign "
        "in with its ID tokens (Bearer). Turns OIDC on; needs --oidc-client-id.",
        env="TORC_OIDC_ISSUER",
    )
    oidc_client_id: str | None = setting(
        None,
        "The client id registered at the issuer for the CLIs; an ID token's aud must hold it "
        "(or an --oidc-audience).",
        env="TORC_OIDC_CLIENT_ID",
    )
    oidc_audiences: tuple[str, ...] = setting(
        (),
        "Another accepted audience besides the client id (repeatable; the env var takes a "
        "comma-separated list).",
        flags=("--oidc-audience",),
        env="TORC_OIDC_AUDIENCES",
    )
    oidc_username_claim: str = setting(
        "email",
        "The claim naming the user (what RBAC and shares name); with email, email_verified "
        "must be true.",
        env="TORC_OIDC_USERNAME_CLAIM",
    )
    oidc_groups_claim: str = setting(
        "groups",
        "The claim listing the user's groups: each names an access group the caller is a "
        "member of for that request.",
        env="TORC_OIDC_GROUPS_CLAIM",
    )
    oidc_groups_prefix: str = setting(
        "",
        "Only groups starting with this count, as their names without it (others are ignored).",
        env="TORC_OIDC_GROUPS_PREFIX",
    )
    oidc_scopes: tuple[str, ...] = setting(
        ("openid", "email", "profile", "offline_access"),
        "Scopes the CLIs ask for (repeatable, or one value separated by spaces or commas).",
        env="TORC_OIDC_SCOPES",
    )
    oidc_ca_file: str | None = setting(
        None,
        "CA bundle (PEM) to trust for the issuer instead of the system's.",
        file=True,
        env="TORC_OIDC_CA_FILE",
    )
    oidc_signing_algs: tuple[str, ...] = setting(
        ("RS256", "ES256"),
        "Accepted ID token signature algorithms (repeatable; asymmetric only: RS*, PS*, ES*, "
        "EdDSA).",
        env="TORC_OIDC_SIGNING_ALGS",
    )
    oidc_admin_groups: tuple[str, ...] = setting(
        (),
        "An IdP group (named as access groups are: after --oidc-groups-prefix is removed) "
        "whose members are system administrators (repeatable).",
        flags=("--oidc-admin-group",),
        env="TORC_OIDC_ADMIN_GROUPS",
    )
    oidc_jwks_refresh_secs: float = setting(
        300,
        "How often the issuer's signing keys are fetched again (a retired key is refused "
        "from then on); a token with an unknown key id fetches them sooner.",
        low=1,
        high=_DAY,
        cli=False,
    )
    oidc_jwks_min_interval_secs: float = setting(
        10,
        "Least time between two fetches of the signing keys (unknown key ids cannot make the "
        "server hammer the issuer).",
        low=0.1,
        high=3600,
        cli=False,
    )

    @property
    def blob_location(self) -> Path:
        """Where the local blob store lives by default: beside a SQLite file, else data dir."""
        if self.database and "://" not in self.database:
            return Path(self.database).expanduser().parent / "blobs"
        return Path(user_data_dir("torc")) / "blobs"

    @property
    def database_location(self) -> str:
        return self.database or str(Path(user_data_dir("torc")) / "torc.db")

    def validate(self) -> Settings:
        """Check each value against its record, then combinations no single record expresses."""
        for record in SETTINGS:
            record.check(getattr(self, record.name))
        if self.require_auth and not self.auth_file and not self.oidc_issuer:
            raise ConfigError(
                "--require-auth specified but no --auth-file (nor --oidc-issuer) provided"
            )
        check_oidc(self)
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("--tls-cert and --tls-key must be given together")
        for entry in self.forwarded_allow_ips:
            if not is_proxy_address(entry):
                raise ConfigError(
                    f"forwarded_allow_ips: '{entry}' is not an IP address or network "
                    "(e.g. 10.0.0.5, 10.0.0.0/24, ::1) nor '*' (trust every client)"
                )
        return self


# Asymmetric JWS algorithms an ID token may be signed with; never `none` nor HMAC (HS*), whose
# "key" would be the issuer's public key, known to anyone.
SIGNING_ALGS = (
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
)  # fmt: skip
MAX_CLAIM_NAME = 255


def check_oidc(settings: Settings) -> None:
    """The OIDC settings make sense together (ConfigError saying which does not): an https
    issuer (http on a loopback address only), a client id, asymmetric algorithms."""
    from urllib.parse import urlsplit

    issuer = settings.oidc_issuer
    if issuer is None:
        given = [
            name
            for name in ("oidc_client_id", "oidc_ca_file")
            if getattr(settings, name) is not None
        ] + (["oidc_audiences"] if settings.oidc_audiences else [])
        given += ["oidc_admin_groups"] if settings.oidc_admin_groups else []
        if given:
            raise ConfigError(f"{given[0]} is set but oidc_issuer is not: set --oidc-issuer too")
        return
    parts = urlsplit(issuer)
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host or parts.query or parts.fragment:
        raise ConfigError(
            f"oidc_issuer must be an https:// URL without query or fragment, got {issuer!r}"
        )
    if parts.scheme == "http" and not _is_loopback(host):
        raise ConfigError(
            f"oidc_issuer must use https (http only on a loopback address), got {issuer!r}"
        )
    if not settings.oidc_client_id or not settings.oidc_client_id.strip():
        raise ConfigError("oidc_issuer is set but oidc_client_id is not: set --oidc-client-id")
    if not settings.oidc_signing_algs:
        raise ConfigError("oidc_signing_algs must name at least one algorithm")
    for alg in settings.oidc_signing_algs:
        if alg not in SIGNING_ALGS:
            raise ConfigError(
                f"oidc_signing_algs: {alg!r} is not allowed: use asymmetric algorithms "
                f"({', '.join(SIGNING_ALGS)}); never none or HMAC (HS256, …)"
            )
    for name in ("oidc_username_claim", "oidc_groups_claim"):
        value = getattr(settings, name)
        if not value.strip() or len(value) > MAX_CLAIM_NAME:
            raise ConfigError(f"{name} must be a claim name of 1 to {MAX_CLAIM_NAME} characters")
    if settings.oidc_ca_file is not None and not Path(settings.oidc_ca_file).is_file():
        raise ConfigError(f"oidc_ca_file {settings.oidc_ca_file} is not a readable file")


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# a field's annotation → the type of its value (tuple: a list of strings)
_KINDS: dict[str, type] = {
    "str | None": str,
    "str": str,
    "bool": bool,
    "int": int,
    "float": float,
    "tuple[str, ...]": tuple,
}
# kind → (accepted TOML value types, description for messages)
_TOML_TYPES: dict[type, tuple[tuple[type, ...], str]] = {
    str: ((str,), "a string"),
    bool: ((bool,), "true or false"),
    int: ((int,), "an integer"),
    float: ((int, float), "a number"),
    tuple: ((list,), "a list of strings"),
}


@dataclass(frozen=True)
class Setting:
    """One setting's record: what the config file, the flags and the checks know of it."""

    name: str
    kind: type
    default: Any
    help: str
    low: float | None
    high: float | None
    choices: tuple[str, ...]
    flags: tuple[str, ...]
    env: str | None
    aliases: tuple[str, ...]
    file: bool
    cli: bool
    fold_case: bool

    @property
    def repeatable(self) -> bool:
        return self.kind is tuple

    @property
    def keys(self) -> tuple[str, ...]:
        """Its names in the `[server]` table."""
        return (self.name, *self.aliases)

    def check(self, value: Any) -> None:
        """Raise ConfigError naming the setting when `value` is out of range or not a choice."""
        if self.choices and (value.lower() if self.fold_case else value) not in self.choices:
            raise ConfigError(
                f"{self.name} must be one of {', '.join(self.choices)}, got {value!r}"
            )
        # written as `not ...` so that NaN is refused too
        if self.low is not None and self.high is None and not value >= self.low:
            raise ConfigError(f"{self.name} must be at least {_num(self.low)}, got {_num(value)}")
        if self.low is not None and self.high is not None and not self.low <= value <= self.high:
            raise ConfigError(
                f"{self.name} must be between {_num(self.low)} and {_num(self.high)}, "
                f"got {_num(value)}"
            )

    def from_toml(self, value: Any, *, key: str, path: Path) -> Any:
        """`value` from the file as the field's type, or ConfigError naming `server.<key>`."""
        types, wanted = _TOML_TYPES[self.kind]
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            raise ConfigError(f"config file {path}: 'server.{key}' must be {wanted}, got {value!r}")
        if isinstance(value, list):  # the one list kind: strings
            if not all(isinstance(item, str) and item for item in value):
                raise ConfigError(
                    f"config file {path}: 'server.{key}' must be a list of non-empty strings"
                )
            return tuple(value)
        return value


def _num(value: float) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:g}"
    return str(value)


def _records() -> tuple[Setting, ...]:
    records = []
    for spec in fields(Settings):
        meta = dict(spec.metadata["setting"])
        meta["flags"] = meta["flags"] or ("--" + spec.name.replace("_", "-"),)
        kind = _KINDS[str(spec.type)]
        records.append(Setting(name=spec.name, kind=kind, default=spec.default, **meta))
    return tuple(records)


SETTINGS = _records()
_BY_KEY = {key: record for record in SETTINGS for key in record.keys}


def is_proxy_address(entry: str) -> bool:
    """True for an IP address, an IP network (`10.0.0.0/8`) or `*`: what uvicorn can trust.

    uvicorn quietly takes anything else as a literal name that no TCP client ever has, so a
    typo would leave the proxy untrusted without a word; a network with host bits set
    (`10.0.0.1/8`) is one such typo.
    """
    if entry == "*":
        return True
    try:
        if "/" in entry:
            ipaddress.ip_network(entry)
        else:
            ipaddress.ip_address(entry)
    except ValueError:
        return False
    return True


def default_config_paths() -> list[Path]:
    """Lowest priority first: /etc, the user's config dir, ./torc.toml."""
    return [
        Path("/etc/torc/config.toml"),
        Path(user_config_dir("torc")) / "config.toml",
        Path("torc.toml"),
    ]


def config_files(config: Path | None) -> list[Path]:
    """The config files to read, lowest priority first: `config` alone, else the defaults found."""
    if config is not None:
        if not config.exists():
            raise ConfigError(f"config file {config} does not exist")
        return [config]
    return [path for path in default_config_paths() if path.is_file()]


def read_config(path: Path) -> dict[str, Any]:
    """The validated `[server]` table of one config file."""
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    unknown_tables = [k for k in document if k not in ("server", "client")]
    if unknown_tables:
        raise ConfigError(f"config file {path}: unknown table or key '{unknown_tables[0]}'")
    server = document.get("server", {})
    if not isinstance(server, dict):
        raise ConfigError(f"config file {path}: 'server' must be a table")
    result: dict[str, Any] = {}
    for key, value in server.items():
        record = _BY_KEY.get(key)
        if record is None:
            known = ", ".join(sorted(_BY_KEY))
            raise ConfigError(f"config file {path}: unknown key 'server.{key}' (known: {known})")
        result[record.name] = record.from_toml(value, key=key, path=path)
    return result


def load_settings(config: Path | None, overrides: Mapping[str, Any]) -> Settings:
    """Defaults ← config file(s) ← command-line overrides (only flags the user gave)."""
    merged: dict[str, Any] = {}
    for path in config_files(config):
        merged.update(read_config(path))
    merged.update(overrides)
    unknown = sorted(set(merged) - {record.name for record in SETTINGS})
    if unknown:
        raise ConfigError(f"unknown setting '{unknown[0]}'")
    return Settings(**merged).validate()
