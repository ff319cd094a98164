"""Server settings: defaults, the `[server]` table of config.toml, and strict validation.

Command-line flags override the file; a file with an unknown key or a wrong type is an
error that names the key (never a silent fallback to defaults).
"""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from platformdirs import user_config_dir, user_data_dir

from teamgate.errors import ConfigError

LOG_LEVELS = ("error", "warning", "warn", "info", "debug", "trace")
LOG_FORMATS = ("text", "json")
MAX_WORKERS = 256
MAX_POOL = 1000
MAX_THROTTLE_SECS = 86_400
MAX_RETENTION_DAYS = 100 * 365
MAX_HEADER_TIMEOUT_SECS = 3600


@dataclass(frozen=True)
class Settings:
    database: str | None = None
    auth_file: str | None = None
    require_auth: bool = False
    enforce_access_control: bool = False
    admin_users: tuple[str, ...] = ()
    host: str = "localhost"
    port: int = 8080
    credential_cache_ttl_secs: float = 60
    login_throttle: bool = True
    login_throttle_user_failures: int = 10
    login_throttle_address_failures: int = 50
    login_throttle_window_secs: float = 900
    login_throttle_delay_secs: float = 1
    login_throttle_max_delay_secs: float = 300
    blob_store: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    log_level: str = "info"
    max_body_bytes: int = 10 * 1024 * 1024
    max_state_bytes: int = 1024 * 1024 * 1024
    max_versions: int = 10
    htpasswd_reload_secs: float = 1.0
    workers: int = 1
    log_format: str = "text"
    metrics: bool = True
    db_pool_size: int = 10
    db_max_overflow: int = 10
    audit_retention_days: int = 90  # 0: keep audit events forever
    header_timeout_secs: float = 20  # a connection's request headers must arrive in this time
    forwarded_allow_ips: tuple[str, ...] = ()  # proxies whose X-Forwarded-For is believed
    public_metrics: bool = False  # /metrics without credentials even under require_auth
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

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
        """Check combinations the types alone cannot express."""
        if self.require_auth and not self.auth_file:
            raise ConfigError("--require-auth specified but no --auth-file provided")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("--tls-cert and --tls-key must be given together")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be between 0 and 65535, got {self.port}")
        if self.credential_cache_ttl_secs < 0:
            raise ConfigError("credential_cache_ttl_secs must be 0 (off) or more")
        self._validate_throttle()
        if self.log_level.lower() not in LOG_LEVELS:
            raise ConfigError(f"log_level must be one of {', '.join(LOG_LEVELS)}")
        if not 0.1 <= self.htpasswd_reload_secs <= 3600:
            raise ConfigError("htpasswd_reload_secs must be between 0.1 and 3600")
        if not 1 <= self.max_versions <= 1000:
            raise ConfigError("max_versions must be between 1 and 1000")
        if self.max_body_bytes < 1024:
            raise ConfigError("max_body_bytes must be at least 1024")
        self._validate_operations()
        self._validate_serving()
        if not 0 <= self.audit_retention_days <= MAX_RETENTION_DAYS:
            raise ConfigError(
                f"audit_retention_days must be between 0 (keep forever) and "
                f"{MAX_RETENTION_DAYS}, got {self.audit_retention_days}"
            )
        return self

    def _validate_operations(self) -> None:
        if not 1 <= self.workers <= MAX_WORKERS:
            raise ConfigError(f"workers must be between 1 and {MAX_WORKERS}, got {self.workers}")
        if self.log_format not in LOG_FORMATS:
            raise ConfigError(
                f"log_format must be one of {', '.join(LOG_FORMATS)}, got {self.log_format!r}"
            )
        if not 1 <= self.db_pool_size <= MAX_POOL:
            raise ConfigError(
                f"db_pool_size must be between 1 and {MAX_POOL}, got {self.db_pool_size}"
            )
        if not 0 <= self.db_max_overflow <= MAX_POOL:
            raise ConfigError(
                f"db_max_overflow must be between 0 and {MAX_POOL}, got {self.db_max_overflow}"
            )

    def _validate_serving(self) -> None:
        if not 0.1 <= self.header_timeout_secs <= MAX_HEADER_TIMEOUT_SECS:
            raise ConfigError(
                f"header_timeout_secs must be between 0.1 and {MAX_HEADER_TIMEOUT_SECS}, "
                f"got {self.header_timeout_secs:g}"
            )
        for entry in self.forwarded_allow_ips:
            if not is_proxy_address(entry):
                raise ConfigError(
                    f"forwarded_allow_ips: '{entry}' is not an IP address or network "
                    "(e.g. 10.0.0.5, 10.0.0.0/24, ::1) nor '*' (trust every client)"
                )

    def _validate_throttle(self) -> None:
        top = MAX_THROTTLE_SECS
        limits: tuple[tuple[str, float, float], ...] = (
            ("login_throttle_user_failures", 1, 1000),
            ("login_throttle_address_failures", 1, 100_000),
            ("login_throttle_window_secs", 1, top),
            ("login_throttle_delay_secs", 0.1, top),
            ("login_throttle_max_delay_secs", 0.1, top),
        )
        for name, low, high in limits:
            value = getattr(self, name)
            if not low <= value <= high:
                raise ConfigError(f"{name} must be between {low:g} and {high:g}, got {value:g}")


# key → (accepted Python types, description for messages)
_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "database": ((str,), "a string"),
    "auth_file": ((str,), "a string"),
    "require_auth": ((bool,), "true or false"),
    "enforce_access_control": ((bool,), "true or false"),
    "admin_users": ((list,), "a list of strings"),
    "host": ((str,), "a string"),
    "port": ((int,), "an integer"),
    "credential_cache_ttl_secs": ((int, float), "a number"),
    "login_throttle": ((bool,), "true or false"),
    "login_throttle_user_failures": ((int,), "an integer"),
    "login_throttle_address_failures": ((int,), "an integer"),
    "login_throttle_window_secs": ((int, float), "a number"),
    "login_throttle_delay_secs": ((int, float), "a number"),
    "login_throttle_max_delay_secs": ((int, float), "a number"),
    "blob_store": ((str,), "a string"),
    "tls_cert": ((str,), "a string"),
    "tls_key": ((str,), "a string"),
    "log_level": ((str,), "a string"),
    "max_body_bytes": ((int,), "an integer"),
    "max_state_bytes": ((int,), "an integer"),
    "max_versions": ((int,), "an integer"),
    "htpasswd_reload_secs": ((int, float), "a number"),
    "workers": ((int,), "an integer"),
    "log_format": ((str,), "a string"),
    "metrics": ((bool,), "true or false"),
    "db_pool_size": ((int,), "an integer"),
    "db_max_overflow": ((int,), "an integer"),
    "audit_retention_days": ((int,), "an integer"),
    "header_timeout_secs": ((int, float), "a number"),
    "forwarded_allow_ips": ((list,), "a list of strings"),
    "public_metrics": ((bool,), "true or false"),
}
_STRING_LISTS = ("admin_users", "forwarded_allow_ips")
_ALIASES = {"url": "host"}  # Torc's name for the bind address


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
    return {**_validated(server, path)}


def _validated(table: Mapping[str, Any], path: Path) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for raw_key, value in table.items():
        key = _ALIASES.get(raw_key, raw_key)
        if key not in _TYPES:
            known = ", ".join(sorted(_TYPES))
            raise ConfigError(
                f"config file {path}: unknown key 'server.{raw_key}' (known: {known})"
            )
        types, wanted = _TYPES[key]
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            raise ConfigError(
                f"config file {path}: 'server.{raw_key}' must be {wanted}, got {value!r}"
            )
        if key in _STRING_LISTS:
            assert isinstance(value, list)
            if not all(isinstance(u, str) and u for u in value):
                raise ConfigError(
                    f"config file {path}: 'server.{key}' must be a list of non-empty strings"
                )
            value = tuple(value)
        result[key] = value
    return result


def load_settings(config: Path | None, overrides: Mapping[str, Any]) -> Settings:
    """Defaults ← config file(s) ← command-line overrides (only flags the user gave)."""
    merged: dict[str, Any] = {}
    if config is not None:
        if not config.exists():
            raise ConfigError(f"config file {config} does not exist")
        merged.update(read_config(config))
    else:
        for candidate in default_config_paths():
            if candidate.is_file():
                merged.update(read_config(candidate))
    merged.update(overrides)
    names = {f.name for f in fields(Settings)}
    unknown = set(merged) - names
    if unknown:
        raise ConfigError(f"unknown setting '{sorted(unknown)[0]}'")
    return replace(Settings(), **merged).validate()
