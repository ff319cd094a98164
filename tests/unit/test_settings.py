"""config.toml: strict validation and precedence of flags over the file."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import click
import pytest
from sqlalchemy.pool import QueuePool

from teamgate.cli.torc_server import _overrides, config_notes, run
from teamgate.errors import ConfigError
from teamgate.settings import SETTINGS, Setting, Settings, load_settings
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


# -- one record per setting: the file, the flags and the checks all come from it -------------------

FLAGGED = [record for record in SETTINGS if record.cli]
OPTIONS = {param.name: param for param in run.params}


def parse(*args: str) -> dict[str, Any]:
    """The settings `torc-server run ARGS` would override, parsed without starting a server."""
    ctx = run.make_context("run", list(args))
    return _overrides(ctx, ctx.params)


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(list(value) if isinstance(value, tuple) else value)


@pytest.mark.parametrize("record", FLAGGED, ids=lambda record: record.name)
def test_each_flag_is_made_from_its_setting(record: Setting) -> None:
    option = OPTIONS[record.name]
    assert isinstance(option, click.Option)
    assert set(record.flags) <= set(option.opts)
    assert (option.help, option.envvar) == (record.help, record.env)
    assert option.multiple is record.repeatable
    if not record.repeatable:
        assert option.default == record.default


def test_run_has_an_option_for_every_setting_but_the_config_only_ones() -> None:
    assert set(OPTIONS) == {record.name for record in FLAGGED} | {"config_file"}
    assert [record.name for record in SETTINGS if not record.cli] == [
        "htpasswd_reload_secs",
        "oidc_jwks_refresh_secs",
        "oidc_jwks_min_interval_secs",
    ]


def test_every_setting_is_a_config_key_that_keeps_its_default(tmp_path: Path) -> None:
    body = "".join(
        f"{record.name} = {toml_value(record.default)}\n"
        for record in SETTINGS
        if record.default is not None
    )
    assert load_settings(write(tmp_path, f"[server]\n{body}"), {}) == Settings()


WRONG_TYPE = {str: "1", bool: '"yes"', int: "1.5", float: '"1"', tuple: '"a"'}


@pytest.mark.parametrize("record", SETTINGS, ids=lambda record: record.name)
def test_a_wrong_type_in_the_file_names_the_key(tmp_path: Path, record: Setting) -> None:
    config = write(tmp_path, f"[server]\n{record.name} = {WRONG_TYPE[record.kind]}\n")
    with pytest.raises(ConfigError, match=rf"'server\.{record.name}' must be"):
        load_settings(config, {})


def out_of_range(record: Setting) -> list[float]:
    step = 1 if record.kind is int else 0.05
    assert record.low is not None
    values = [record.low - step]
    if record.high is not None:
        values.append(record.high + step)
    return [record.kind(value) for value in values]


@pytest.mark.parametrize(
    ("record", "value"),
    [
        (record, value)
        for record in SETTINGS
        if record.low is not None
        for value in out_of_range(record)
    ],
    ids=lambda item: item.name if isinstance(item, Setting) else str(item),
)
def test_out_of_range_is_refused_by_the_file_and_the_flag(record: Setting, value: float) -> None:
    override: dict[str, Any] = {record.name: value}
    with pytest.raises(ConfigError, match=rf"^{record.name} must be (between|at least)"):
        Settings(**override).validate()
    if record.cli:
        with pytest.raises(click.BadParameter, match="not in the range"):
            parse(record.flags[-1], str(value))


def test_max_state_bytes_in_the_file_is_checked_like_its_flag(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="max_state_bytes must be at least 1024, got 10"):
        load_settings(write(tmp_path, "[server]\nmax_state_bytes = 10\n"), {})


def test_choices_and_aliases(tmp_path: Path) -> None:
    config = write(tmp_path, '[server]\nlog_level = "DEBUG"\nurl = "0.0.0.0"\n')
    settings = load_settings(config, {})
    assert (settings.log_level, settings.host) == ("DEBUG", "0.0.0.0")
    with pytest.raises(ConfigError, match="log_format must be one of text, json, got 'JSON'"):
        load_settings(write(tmp_path, '[server]\nlog_format = "JSON"\n'), {})


def test_only_the_flags_given_override_the_file_both_ways(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        '[server]\nauth_file = "/x"\nenforce_access_control = true\nport = 9000\n'
        'admin_users = ["zed"]\nworkers = 3\n',
    )
    flags = parse(
        "--no-enforce-access-control", "-u", "::1", "--admin-user", "a", "--admin-user", "b,c"
    )
    assert flags == {"enforce_access_control": False, "host": "::1", "admin_users": ("a", "b", "c")}
    settings = load_settings(config, flags)
    assert (settings.port, settings.workers, settings.auth_file) == (9000, 3, "/x")


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("TORC_AUTH_FILE", "/etc/torc/htpasswd", {"auth_file": "/etc/torc/htpasswd"}),
        ("TORC_ADMIN_USERS", "alice, bob", {"admin_users": ("alice", "bob")}),
        ("TORC_CREDENTIAL_CACHE_TTL_SECS", "5", {"credential_cache_ttl_secs": 5.0}),
        ("TORC_FORWARDED_ALLOW_IPS", "10.0.0.5,::1", {"forwarded_allow_ips": ("10.0.0.5", "::1")}),
        ("TORC_HEARTBEAT_TIMEOUT", "30", {"heartbeat_timeout_secs": 30.0}),
        ("TORC_LOST_JOB_POLICY", "fail", {"lost_job_policy": "fail"}),
        ("TORC_LOST_JOB_MAX_ATTEMPTS", "5", {"lost_job_max_attempts": 5}),
        ("TORC_OIDC_ISSUER", "https://idp.example", {"oidc_issuer": "https://idp.example"}),
        ("TORC_OIDC_ADMIN_GROUPS", "ops,sre", {"oidc_admin_groups": ("ops", "sre")}),
    ],
)
def test_environment_variables(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: dict[str, Any]
) -> None:
    assert {record.env for record in SETTINGS if record.env} == {
        "TORC_AUTH_FILE",
        "TORC_ADMIN_USERS",
        "TORC_CREDENTIAL_CACHE_TTL_SECS",
        "TORC_FORWARDED_ALLOW_IPS",
        "TORC_HEARTBEAT_TIMEOUT",
        "TORC_LOST_JOB_POLICY",
        "TORC_LOST_JOB_MAX_ATTEMPTS",
        *(
            f"TORC_OIDC_{name}"
            for name in (
                "ISSUER",
                "CLIENT_ID",
                "AUDIENCES",
                "USERNAME_CLAIM",
                "GROUPS_CLAIM",
                "GROUPS_PREFIX",
                "SCOPES",
                "CA_FILE",
                "SIGNING_ALGS",
                "ADMIN_GROUPS",
            )
        ),
    }
    monkeypatch.setenv(variable, value)
    assert parse() == expected


# -- the startup log says which config files were read ---------------------------------------------


def test_startup_notes_name_the_files_read(tmp_path: Path) -> None:
    (tmp_path / "torc.toml").write_text("[server]\n")
    notes = config_notes([Path("torc.toml")], cwd=tmp_path)
    assert notes == [(logging.INFO, f"Read config file {tmp_path / 'torc.toml'}")]


def test_startup_notes_say_where_they_looked(tmp_path: Path) -> None:
    [(level, message)] = config_notes([], cwd=tmp_path)
    assert level == logging.INFO
    assert message.startswith(f"No config file found (looked in: {tmp_path / 'torc.toml'}, ")
    assert message.endswith(", /etc/torc/config.toml)")


def test_a_config_toml_that_is_not_read_is_a_warning(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[server]\n")
    (level, message) = config_notes([], cwd=tmp_path)[-1]
    assert level == logging.WARNING
    assert str(tmp_path / "config.toml") in message
    assert "--config ./config.toml" in message and "rename it to torc.toml" in message
    read_it = config_notes([Path("config.toml")], cwd=tmp_path)
    assert [level for level, _ in read_it] == [logging.INFO]
