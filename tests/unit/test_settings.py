"""config.toml: strict validation and precedence of flags over the file."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.pool import QueuePool

from teamgate.errors import ConfigError
from teamgate.settings import load_settings
from teamgate.storage.db.engine import Database


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(body)
    return path


def test_tutorial_config_is_read(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        '[server]\nauth_file = "/etc/torc/htpasswd"\nrequire_auth = true\n'
        'enforce_access_control = true\nadmin_users = ["alice", "bob"]\n',
    )
    settings = load_settings(config, {})
    assert settings.auth_file == "/etc/torc/htpasswd"
    assert settings.require_auth and settings.enforce_access_control
    assert settings.admin_users == ("alice", "bob")


def test_flags_override_the_file_both_ways(tmp_path: Path) -> None:
    config = write(
        tmp_path, '[server]\nauth_file = "/x"\nenforce_access_control = true\nport = 9000\n'
    )
    settings = load_settings(config, {"enforce_access_control": False, "port": 8080})
    assert settings.enforce_access_control is False
    assert settings.port == 8080


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ("[server]\nenforce_acces_control = true\n", "server.enforce_acces_control"),
        ("[server]\nrequire_auth = 'yes'\n", "server.require_auth"),
        ("[server]\nport = '8080'\n", "server.port"),
        ("[server]\nport = true\n", "server.port"),
        ("[server]\nadmin_users = 'alice'\n", "server.admin_users"),
        ("[server]\nadmin_users = [1]\n", "server.admin_users"),
        ("[serverr]\nport = 1\n", "serverr"),
        ("[server\nport = 1\n", "not valid TOML"),
    ],
)
def test_bad_config_is_an_error_naming_the_key(tmp_path: Path, body: str, named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, body), {})
    assert named in caught.value.message


def test_require_auth_needs_an_auth_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no --auth-file"):
        load_settings(write(tmp_path, "[server]\nrequire_auth = true\n"), {})


def test_missing_explicit_config_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", {})


def test_operations_settings_from_the_file(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        '[server]\nworkers = 4\nlog_format = "json"\nmetrics = false\n'
        "db_pool_size = 20\ndb_max_overflow = 0\n",
    )
    settings = load_settings(config, {"workers": 2})
    assert (settings.workers, settings.log_format, settings.metrics) == (2, "json", False)
    assert (settings.db_pool_size, settings.db_max_overflow) == (20, 0)


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"workers": 0}, "workers must be between 1 and"),
        ({"workers": 100_000}, "workers must be between 1 and"),
        ({"log_format": "xml"}, "log_format must be one of text, json, got 'xml'"),
        ({"db_pool_size": 0}, "db_pool_size must be between 1 and"),
        ({"db_max_overflow": -1}, "db_max_overflow must be between 0 and"),
    ],
)
def test_bad_operations_values_are_errors(override: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, override)
    assert named in caught.value.message


def test_pool_settings_reach_the_postgresql_engine() -> None:
    """The engine is built without connecting, so no PostgreSQL server is needed."""
    db = Database("postgresql+psycopg://u@127.0.0.1:1/x", pool_size=3, max_overflow=2)
    pool = db.engine.pool
    assert isinstance(pool, QueuePool)
    assert pool.size() == 3
    assert pool._max_overflow == 2  # SQLAlchemy has no public getter for it
    db.dispose()


def test_serving_settings_default_to_no_proxy_and_private_metrics(tmp_path: Path) -> None:
    defaults = load_settings(write(tmp_path, "[server]\n"), {})
    assert defaults.forwarded_allow_ips == ()
    assert defaults.public_metrics is False
    assert 10 <= defaults.header_timeout_secs <= 30
    config = write(
        tmp_path,
        '[server]\nforwarded_allow_ips = ["10.0.0.5", "10.1.0.0/16", "::1"]\n'
        "public_metrics = true\nheader_timeout_secs = 2.5\n",
    )
    settings = load_settings(config, {})
    assert settings.forwarded_allow_ips == ("10.0.0.5", "10.1.0.0/16", "::1")
    assert (settings.public_metrics, settings.header_timeout_secs) == (True, 2.5)


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"forwarded_allow_ips": ("proxy.local",)}, "'proxy.local' is not an IP address"),
        ({"forwarded_allow_ips": ("10.0.0.1/8",)}, "'10.0.0.1/8' is not an IP address"),
        ({"header_timeout_secs": 0}, "header_timeout_secs must be between"),
        ({"header_timeout_secs": 86_400}, "header_timeout_secs must be between"),
    ],
)
def test_bad_serving_values_are_errors(override: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, override)
    assert named in caught.value.message
