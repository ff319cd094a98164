"""torc-server's startup security warnings, decided from the settings and the htpasswd file."""

from __future__ import annotations

from pathlib import Path

import pytest

from teamgate.cli.torc_server import is_loopback, security_warnings
from teamgate.settings import Settings, load_settings


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        ("192.168.1.20", False),
        ("torc.example.com", False),
        ("localhost.example.com", False),
    ],
)
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def htpasswd(tmp_path: Path, mode: int) -> str:
    path = tmp_path / "htpasswd"
    path.write_text("alice:$2b$04$" + "a" * 53 + "\n")
    path.chmod(mode)
    return str(path)


def kinds(settings: Settings) -> list[str]:
    """A short name for each warning: open, cleartext, mode."""
    names = {"without --require-auth": "open", "TLS is off": "cleartext", "chmod 600": "mode"}
    found = security_warnings(settings)
    assert all(line.startswith("SECURITY: ") and "\n" not in line for line in found)
    return [name for line in found for text, name in names.items() if text in line]


def test_nothing_to_warn_of_for_a_local_server_with_a_private_file(tmp_path: Path) -> None:
    auth = htpasswd(tmp_path, 0o600)
    assert kinds(Settings()) == []
    assert kinds(Settings(auth_file=auth, require_auth=True)) == []
    assert kinds(Settings(host="::1", auth_file=auth)) == []


def test_each_risk_is_one_line(tmp_path: Path) -> None:
    assert kinds(Settings(host="0.0.0.0")) == ["open"]
    private, shared = htpasswd(tmp_path, 0o600), str(tmp_path / "shared")
    Path(shared).write_text(Path(private).read_text())
    Path(shared).chmod(0o640)
    on_network = Settings(host="0.0.0.0", auth_file=private, require_auth=True)
    assert kinds(on_network) == ["cleartext"]
    with_tls = Settings(
        host="0.0.0.0", auth_file=private, require_auth=True, tls_cert="c", tls_key="k"
    )
    assert kinds(with_tls) == []
    assert kinds(Settings(auth_file=shared, require_auth=True)) == ["mode"]
    assert kinds(Settings(host="10.1.2.3", auth_file=shared)) == ["open", "cleartext", "mode"]


def test_throttle_settings_come_from_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        "[server]\nlogin_throttle = false\nlogin_throttle_user_failures = 3\n"
        "login_throttle_window_secs = 60\n"
    )
    settings = load_settings(config, {"login_throttle_user_failures": 4})
    assert not settings.login_throttle
    assert (settings.login_throttle_user_failures, settings.login_throttle_window_secs) == (4, 60)


def test_trusting_every_client_as_a_proxy_is_warned_about() -> None:
    listed = security_warnings(Settings(forwarded_allow_ips=("10.0.0.5",)))
    assert not any("forwarded_allow_ips" in w for w in listed)
    everyone = security_warnings(Settings(forwarded_allow_ips=("*",)))
    assert any("forwarded_allow_ips '*'" in w for w in everyone)
